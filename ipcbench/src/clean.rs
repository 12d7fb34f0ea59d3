//! `ipcbench clean`: remove what killed runs may leave behind.
//!
//! The built-in transports leave nothing (memfds, socketpairs and loopback
//! sockets vanish with their processes), but named resources are allowed for
//! transports that need them, provided they start with the cell's
//! `name_prefix` (`ipcbench-<pid>-...`): this removes such names in /dev/shm
//! and the temp dir whose pid is no longer alive, and SIGKILLs orphaned
//! `ipcbench __child` processes (normally PR_SET_PDEATHSIG already did).

use std::path::{Path, PathBuf};

/// The pid embedded in `ipcbench-<pid>-...`, if any.
pub(crate) fn owner_pid(name: &str) -> Option<i32> {
    name.strip_prefix("ipcbench-")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn stale_entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            owner_pid(&name).is_some_and(|pid| !alive(pid))
        })
        .map(|e| e.path())
        .collect()
}

/// Orphaned children: `<...ipcbench> __child ...` whose parent is gone
/// (re-parented away from an ipcbench parent).
fn orphaned_children() -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let mut args = cmd.split(|&b| b == 0);
        let is_ours = args.next().is_some_and(|a0| a0.ends_with(b"ipcbench"))
            && args.next() == Some(b"__child");
        if !is_ours {
            continue;
        }
        let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<i32>()
                    .ok()
            });
        let parent_is_ipcbench = ppid.is_some_and(|pp| {
            std::fs::read(format!("/proc/{pp}/cmdline")).is_ok_and(|c| {
                c.split(|&b| b == 0)
                    .next()
                    .is_some_and(|a| a.ends_with(b"ipcbench"))
            })
        });
        if !parent_is_ipcbench {
            out.push(pid);
        }
    }
    out
}

/// Mempipe regions in /dev/shm whose creator is dead (a killed process never
/// unlinks its name), whatever they are called: each is removed through
/// `mempipe::Region::remove_if_stale`, which re-checks the header and the
/// creator. Returns how many were removed.
fn remove_stale_mempipe_regions() -> usize {
    let Ok(rd) = std::fs::read_dir("/dev/shm") else {
        return 0;
    };
    let mut removed = 0;
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut magic = [0u8; 8];
        // Regular files only: opening a FIFO for reading would block.
        let is_mempipe = e.file_type().is_ok_and(|t| t.is_file())
            && std::fs::File::open(e.path())
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
            && &magic == b"mempipe\0";
        if !is_mempipe {
            continue;
        }
        match mempipe::Region::remove_if_stale(&format!("/{name}")) {
            Ok(true) => {
                println!("removed stale mempipe region /dev/shm/{name}");
                removed += 1;
            }
            Ok(false) => {}
            Err(e) => eprintln!("could not remove /dev/shm/{name}: {e}"),
        }
    }
    removed
}

pub(crate) fn run() -> anyhow::Result<()> {
    let mut removed = 0;
    for dir in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        for path in stale_entries(&dir) {
            let r = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match r {
                Ok(()) => {
                    println!("removed {}", path.display());
                    removed += 1;
                }
                Err(e) => eprintln!("could not remove {}: {e}", path.display()),
            }
        }
    }
    for pid in orphaned_children() {
        if let Some(p) = rustix::process::Pid::from_raw(pid) {
            if rustix::process::kill_process(p, rustix::process::Signal::KILL).is_ok() {
                println!("killed orphaned child {pid}");
                removed += 1;
            }
        }
    }
    removed += remove_stale_mempipe_regions();
    if removed == 0 {
        println!("nothing to clean");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn owner_pid_parses_prefix() {
        assert_eq!(super::owner_pid("ipcbench-123-ab12-c4"), Some(123));
        assert_eq!(super::owner_pid("other-123"), None);
    }
}
