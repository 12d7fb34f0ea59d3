//! Creating a region where its memory does not fit: a small tmpfs mounted by the
//! test (as root; skipped with a message otherwise). Creation must fail with a
//! typed error naming the sizes and leave nothing behind; it must never succeed
//! and die later with SIGBUS when the ring touches memory the filesystem could
//! not provide. The creating side runs in a child process, so a SIGBUS fails
//! the test instead of killing it.

mod common;

use common::{spawn_child, HANG_GUARD};
use mempipe::{Config, CreateError, Region, WakeupKind};
use std::path::{Path, PathBuf};
use std::process::Command;

const REGION: usize = 16 << 20;

fn config() -> Config {
    Config::new()
        .capacity(REGION)
        .max_message(4096)
        .wakeup(WakeupKind::Futex)
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    match ctx.role.as_str() {
        "create_and_fill" => {
            let created = match ctx.field(0) {
                "named" => Region::create_named(ctx.field(1), &config()),
                _ => Region::create_at_path(Path::new(ctx.field(1)), &config()),
            };
            match created {
                Err(e) => {
                    println!("{} {e}", kind(&e));
                    if ctx.field(0) == "named" {
                        // This process's own /dev/shm: what did it leave there?
                        let left = std::fs::read_dir("/dev/shm").unwrap().count();
                        println!("LEFT {left}");
                    }
                }
                Ok(region) => {
                    println!("CREATED");
                    // Write the whole ring: past the tmpfs's size, this raised
                    // SIGBUS when the memory was not reserved at creation.
                    let mut producer = region.producer().expect("claim producer");
                    let msg = vec![0x5a; 4096];
                    while producer.try_send(&msg).is_ok() {}
                    println!("FILLED");
                }
            }
        }
        role => panic!("unknown role {role}"),
    }
}

fn kind(e: &CreateError) -> &'static str {
    match e {
        CreateError::NoSpace { .. } => "NOSPACE",
        CreateError::Os(_) => "OS",
        _ => "OTHER",
    }
}

const MARKERS: [&str; 4] = ["NOSPACE", "OS", "OTHER", "CREATED"];

/// A 1 MiB tmpfs on a fresh directory, unmounted and removed when dropped.
struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    /// `None` (with a message) where this process may not mount.
    fn mount() -> Option<Self> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: mounting a small tmpfs needs root");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("mempipe-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "mempipe-test"])
            .arg(&dir)
            .status();
        match mounted {
            Ok(status) if status.success() => Some(SmallTmpfs(dir)),
            other => {
                let _ = std::fs::remove_dir(&dir);
                eprintln!("skipped: could not mount a tmpfs ({other:?})");
                None
            }
        }
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_region_larger_than_the_filesystem_is_refused_and_removed() {
    let Some(fs) = SmallTmpfs::mount() else {
        return;
    };
    let path = fs.0.join("region");
    let arg = format!("path:{}", path.to_str().expect("a UTF-8 path"));
    let mut child = spawn_child("child_entry", "create_and_fill", None, &arg);
    let line = child.line_starting_with(&MARKERS, HANG_GUARD);
    let status = child.wait_timeout(HANG_GUARD);
    let left: Vec<_> = std::fs::read_dir(&fs.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        line.starts_with("NOSPACE"),
        "creating a 16 MiB region on a 1 MiB tmpfs: {line:?}, child {status:?}"
    );
    assert!(status.success(), "{status:?}");
    assert!(
        line.contains(&format!(
            "no space for a 16 MiB region in {}",
            fs.0.display()
        )),
        "{line}"
    );
    assert!(line.contains("free"), "{line}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `create_named` on a 1 MiB /dev/shm (a container's small /dev/shm): the child
/// runs in a private mount namespace with a small tmpfs mounted there, so the
/// system's /dev/shm is untouched.
#[test]
fn a_named_region_larger_than_dev_shm_is_refused_and_removed() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a small /dev/shm needs root");
        return;
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !probe.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("skipped: no private mount namespace here ({probe:?})");
        return;
    }
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o size=1m mempipe-test /dev/shm && echo SHM-MOUNTED && exec \"$@\"",
        "sh",
    ];
    let arg = "named:/mempipe-full-test";
    let mut child =
        common::spawn_child_under(&wrapper, "child_entry", "create_and_fill", None, arg);
    child.wait_for_line("SHM-MOUNTED", HANG_GUARD);
    let line = child.line_starting_with(&MARKERS, HANG_GUARD);
    assert!(
        line.starts_with("NOSPACE"),
        "creating a 16 MiB region on a 1 MiB /dev/shm: {line:?}"
    );
    assert!(
        line.contains("no space for a 16 MiB region in /dev/shm: 1 MiB free"),
        "{line}"
    );
    assert_eq!(child.line_starting_with(&["LEFT"], HANG_GUARD), "LEFT 0");
    let status = child.wait_timeout(HANG_GUARD);
    assert!(status.success(), "{status:?}");
}
