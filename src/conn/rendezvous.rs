//! Where local peers meet: a UNIX socket `NAME.sock` in a rendezvous
//! directory, guarded by `NAME.lock`, which the listener holds locked (flock)
//! for its whole life.
//!
//! The directory is `$XDG_RUNTIME_DIR/mempipe` when that variable is set, else
//! `/tmp/mempipe-UID`; it is created with mode 0700 and refused when it is a
//! symlink, belongs to another user, or is open to others. Another user can
//! take `/tmp/mempipe-UID` first (its name is predictable): then both sides
//! meet in `$HOME/.mempipe` instead, which only this user controls. A lock that can be
//! taken means no live listener has the name: a socket file found then is a
//! leftover of a killed listener and is replaced. A lock held means a live
//! listener: its name is never taken over.

use super::error::BindError;
use crate::error::{NameError, OsError};
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// The per-user directory when `$XDG_RUNTIME_DIR` is not set.
fn tmp_dir() -> PathBuf {
    PathBuf::from(format!(
        "/tmp/mempipe-{}",
        rustix::process::getuid().as_raw()
    ))
}

/// Where this user meets when another user took [`tmp_dir`]'s name first:
/// `$HOME/.mempipe`, a place only this user controls.
fn home_dir() -> Option<PathBuf> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Some(PathBuf::from(home).join(".mempipe")),
        _ => None,
    }
}

/// What is at a per-user directory's path.
enum Found {
    Missing,
    /// A directory of this user (its mode still to check).
    Ours(std::fs::Metadata),
    /// Something another user put there (or not a directory): why it is not ours.
    Taken(String),
}

fn look(dir: &Path) -> Result<Found, String> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(e.to_string()),
    };
    let me = rustix::process::getuid().as_raw();
    if !meta.file_type().is_dir() {
        return Ok(Found::Taken(
            "not a directory (a symlink or file is in its place)".into(),
        ));
    }
    if meta.uid() != me {
        return Ok(Found::Taken(format!(
            "owned by uid {}, not by this user ({me})",
            meta.uid()
        )));
    }
    Ok(Found::Ours(meta))
}

/// The per-user rendezvous directory (not created): `$XDG_RUNTIME_DIR/mempipe`,
/// else `/tmp/mempipe-UID`, else (when another user holds that name)
/// `$HOME/.mempipe`. Listener and client pick the same one.
pub(crate) fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("mempipe"),
        _ => {
            let tmp = tmp_dir();
            match look(&tmp) {
                Ok(Found::Taken(_)) => home_dir().unwrap_or(tmp),
                _ => tmp,
            }
        }
    }
}

/// Creates `dir` (0700) if missing, and checks that it is this user's and
/// closed to others.
fn make_private(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create it: {e}")),
    }
    match look(dir)? {
        Found::Missing => Err("it vanished while being checked".into()),
        Found::Taken(why) => Err(why),
        Found::Ours(meta) if meta.mode() & 0o077 != 0 => Err(format!(
            "mode {:o} lets other users in; it must be 0700",
            meta.mode() & 0o777
        )),
        Found::Ours(_) => Ok(()),
    }
}

/// Creates (0700) or checks the per-user directory. An explicitly configured
/// directory is only checked to exist: its owner decides who may search it.
pub(crate) fn prepare_dir(explicit: Option<&Path>) -> Result<PathBuf, (PathBuf, String)> {
    if let Some(dir) = explicit {
        return match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(dir.to_owned()),
            Ok(_) => Err((dir.to_owned(), "not a directory".into())),
            Err(e) => Err((dir.to_owned(), e.to_string())),
        };
    }
    let dir = default_dir();
    let why = match make_private(&dir) {
        Ok(()) => return Ok(dir),
        Err(why) => why,
    };
    // The name in /tmp is predictable: another user may have taken it first.
    let tmp = tmp_dir();
    let taken = match look(&tmp) {
        Ok(Found::Taken(taken)) if dir == tmp || Some(&dir) == home_dir().as_ref() => taken,
        _ => return Err((dir, why)),
    };
    let fallback = match home_dir() {
        None => "HOME is not set, so there is no fallback".to_owned(),
        Some(home) => match make_private(&home) {
            Ok(()) => return Ok(home),
            Err(why) => format!("the fallback {} is unusable too: {why}", home.display()),
        },
    };
    Err((
        tmp,
        format!(
            "{taken}: another user created it first. {fallback}. Ask that user or root to \
             remove it, or set XDG_RUNTIME_DIR to a private directory of yours (mode 0700), \
             or name one with ConnConfig::rendezvous_dir"
        ),
    ))
}

/// The socket path of `name` in `dir`.
pub(crate) fn socket_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.sock", file_stem(name)))
}

/// A name's files in the flat directory: each `/` of a hierarchical name
/// (`app/db/primary`) becomes `~`, a character no name holds, so two names
/// never share a file.
fn file_stem(name: &str) -> String {
    name.replace('/', "~")
}

/// A bound rendezvous: the listening socket and the lock that keeps the name ours.
pub(crate) struct Bound {
    pub socket: UnixListener,
    pub path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl Drop for Bound {
    fn drop(&mut self) {
        // While we still hold the lock, the name is ours: remove both files.
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Takes the name's lock, replaces a stale socket and listens.
pub(crate) fn bind(dir: &Path, name: &str, world_connectable: bool) -> Result<Bound, BindError> {
    let os = |op: &'static str| move |e: std::io::Error| BindError::Os(OsError::new(op, e));
    let path = socket_path(dir, name);
    if path.as_os_str().len() > super::wire::MAX_PATH {
        return Err(BindError::InvalidName(NameError {
            name: name.to_owned(),
            why: format!(
                "the socket path {} is longer than a UNIX socket allows",
                path.display()
            ),
        }));
    }
    let lock_path = dir.join(format!("{}.lock", file_stem(name)));
    let mut lock = loop {
        let fd = rustix::fs::open(
            &lock_path,
            OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| BindError::Os(OsError::new("open the lock file", e)))?;
        let mut file = File::from(fd);
        match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(BindError::InUse {
                    name: name.to_owned(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(e) => return Err(os("flock")(e.into())),
        }
        // A listener that was just dropping may have unlinked this file after
        // we opened it: a lock on an unlinked file guards nothing, so retry.
        let ours = file.metadata().map_err(os("fstat the lock file"))?;
        match std::fs::symlink_metadata(&lock_path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => break file,
            _ => continue,
        }
    };
    lock.set_len(0).map_err(os("truncate the lock file"))?;
    let _ = lock.rewind();
    let _ = write!(lock, "{}", std::process::id());
    // We hold the lock: whatever socket file is there belongs to a dead listener.
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(os("remove the stale socket")(e)),
    }
    let socket = UnixListener::bind(&path).map_err(os("bind the rendezvous socket"))?;
    if world_connectable {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .map_err(os("chmod the rendezvous socket"))?;
    }
    socket
        .set_nonblocking(true)
        .map_err(os("set the socket non-blocking"))?;
    Ok(Bound {
        socket,
        path,
        lock_path,
        _lock: lock,
    })
}
