//! Leftovers of killed processes in the rendezvous directory: stats files,
//! rendezvous sockets and locks, local name files whose holder is gone. A
//! file is only judged (and removed) while this process holds its lock, so
//! nothing of a live process is touched, and a process starting meanwhile
//! (which checks its lock file is still linked after locking) is not fooled.

use super::reader::stats_pid;
use super::FlowsError;
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// What kind of leftover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftoverKind {
    /// A dead process's stats file (`PID.flows`).
    StatsFile,
    /// A killed listener's rendezvous socket (`NAME.sock`).
    Socket,
    /// A killed listener's lock file (`NAME.lock`).
    Lock,
    /// A killed process's local name registration (`names/NAME.reg`).
    NameFile,
}

impl LeftoverKind {
    /// `stats`, `socket`, `lock` or `name`.
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoverKind::StatsFile => "stats",
            LeftoverKind::Socket => "socket",
            LeftoverKind::Lock => "lock",
            LeftoverKind::NameFile => "name",
        }
    }
}

/// One leftover found (and removed, unless a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub kind: LeftoverKind,
    /// The dead process's pid, when the file says it.
    pub pid: Option<u32>,
    /// Whether it was removed (false in a dry run, or when removal failed).
    pub removed: bool,
}

/// Opens `path` and takes its lock if nobody holds it: `Some(file)` (still
/// locked) means no live process has it.
fn lock_if_free(path: &Path) -> Option<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    let file = File::from(fd);
    rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

/// Finds (and unless `dry_run`, removes) leftovers of dead processes in
/// `dir` and its subdirectories (names with `/`, `names/`).
///
/// # Errors
/// [`FlowsError::Io`] when `dir` cannot be read.
pub fn clean(dir: &Path, dry_run: bool) -> Result<Vec<Leftover>, FlowsError> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    let mut first = true;
    while let Some(d) = dirs.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if first => return Err(FlowsError::io(&d, "read the directory", e)),
            Err(_) => continue,
        };
        first = false;
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(pid) = stats_pid(&path).filter(|_| d == dir) {
                judge(
                    &path,
                    LeftoverKind::StatsFile,
                    Some(pid),
                    dry_run,
                    &mut found,
                );
            } else if let Some(stem) = name.strip_suffix(".lock") {
                let socket = d.join(format!("{stem}.sock"));
                let pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
                let Some(_held) = lock_if_free(&path) else {
                    continue;
                };
                if socket.exists() {
                    found.push(remove(&socket, LeftoverKind::Socket, pid, dry_run));
                }
                found.push(remove(&path, LeftoverKind::Lock, pid, dry_run));
            } else if let Some(stem) = name.strip_suffix(".sock") {
                // A listener takes its lock before it makes its socket and
                // removes the socket first: a socket with no lock file is a leftover.
                if !d.join(format!("{stem}.lock")).exists() {
                    found.push(remove(&path, LeftoverKind::Socket, None, dry_run));
                }
            } else if name.ends_with(".reg") && d.starts_with(dir.join("names")) {
                judge(&path, LeftoverKind::NameFile, None, dry_run, &mut found);
            }
        }
    }
    Ok(found)
}

/// Removes `path` (holding its lock meanwhile) when no live process holds it.
fn judge(
    path: &Path,
    kind: LeftoverKind,
    pid: Option<u32>,
    dry_run: bool,
    found: &mut Vec<Leftover>,
) {
    if let Some(_held) = lock_if_free(path) {
        found.push(remove(path, kind, pid, dry_run));
    }
}

fn remove(path: &Path, kind: LeftoverKind, pid: Option<u32>, dry_run: bool) -> Leftover {
    let removed = !dry_run && std::fs::remove_file(path).is_ok();
    Leftover {
        path: path.to_owned(),
        kind,
        pid,
        removed,
    }
}
