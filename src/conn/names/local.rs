//! The local name service: one file per name under `names/` in the
//! rendezvous directory (`app/db/primary` is `names/app/db/primary.reg`),
//! holding the registration's text, locked (flock) by the listener for as
//! long as it holds the name. A lock that can be taken means the holder is
//! gone (a killed process releases its locks): the file is a leftover, the
//! name free. Files are 0600 and directories 0700 in the per-user directory,
//! so only this user's processes see the names.

use super::record::{decode, encode, Registration, MAX_RECORD};
use super::{check_name, under, NameHold, NameService, NameServiceError};
use crate::conn::rendezvous;
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Names in this host's rendezvous directory.
#[derive(Debug, Clone)]
pub struct LocalNames {
    root: PathBuf,
}

/// A held local name: the locked file, removed on drop.
struct LocalHold {
    path: PathBuf,
    _lock: File,
}

impl Drop for LocalHold {
    fn drop(&mut self) {
        // Still locked by us: the file is ours to remove.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How often a waiting resolve looks again.
const POLL: Duration = Duration::from_millis(10);

/// How long `register` retries a lock a reader holds for a moment.
const READER_GRACE: Duration = Duration::from_millis(50);

fn os(op: &'static str) -> impl FnOnce(std::io::Error) -> NameServiceError {
    move |source| NameServiceError::Os { op, source }
}

impl LocalNames {
    /// The service in `dir`, or in the per-user rendezvous directory.
    ///
    /// # Errors
    /// [`NameServiceError::Os`] when the directory is unusable (see
    /// [`ConnConfig::rendezvous_dir`](crate::ConnConfig::rendezvous_dir)).
    pub fn open(dir: Option<&Path>) -> Result<LocalNames, NameServiceError> {
        let dir = rendezvous::prepare_dir(dir).map_err(|(path, why)| NameServiceError::Os {
            op: "prepare the rendezvous directory",
            source: std::io::Error::other(format!("{}: {why}", path.display())),
        })?;
        Ok(LocalNames {
            root: dir.join("names"),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.reg"))
    }

    /// The registration in `path` if a live holder has it locked.
    fn read_live(&self, name: &str, path: &Path) -> Result<Option<Registration>, NameServiceError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(os("open a name file")(e)),
        };
        match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockShared) {
            // Nobody holds it: a leftover of a killed listener.
            Ok(()) => return Ok(None),
            Err(rustix::io::Errno::WOULDBLOCK) => {}
            Err(e) => return Err(os("flock a name file")(e.into())),
        }
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_RECORD as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(os("read a name file"))?;
        if bytes.is_empty() {
            return Ok(None); // being written right now
        }
        decode(name, &bytes).map(Some)
    }
}

impl NameService for LocalNames {
    fn register(
        &self,
        name: &str,
        registration: &Registration,
    ) -> Result<NameHold, NameServiceError> {
        check_name(name, false)?;
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(os("create the names directory"))?;
        }
        let grace_end = Instant::now() + READER_GRACE;
        let mut file = loop {
            let fd = rustix::fs::open(
                &path,
                OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::RUSR | Mode::WUSR,
            )
            .map_err(|e| os("open a name file")(e.into()))?;
            let file = File::from(fd);
            match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) if Instant::now() < grace_end => {
                    // A reader may hold it for a moment; a holder holds it for good.
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    let holder = self.read_live(name, &path)?;
                    return Err(NameServiceError::Taken {
                        name: name.to_owned(),
                        pid: holder.as_ref().map_or(0, |r| r.pid),
                        host: holder.map_or_else(super::HostId::current, |r| r.host),
                    });
                }
                Err(e) => return Err(os("flock a name file")(e.into())),
            }
            // A holder that was just dropping may have unlinked this file after
            // we opened it: a lock on an unlinked file guards nothing.
            let ours = file.metadata().map_err(os("fstat a name file"))?;
            match std::fs::symlink_metadata(&path) {
                Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => break file,
                _ => continue,
            }
        };
        file.set_len(0).map_err(os("truncate a name file"))?;
        let _ = file.rewind();
        file.write_all(encode(registration).as_bytes())
            .map_err(os("write a name file"))?;
        Ok(NameHold::new(LocalHold { path, _lock: file }))
    }

    fn resolve(&self, name: &str, timeout: Duration) -> Result<Registration, NameServiceError> {
        check_name(name, false)?;
        let path = self.path(name);
        let start = Instant::now();
        loop {
            if let Some(r) = self.read_live(name, &path)? {
                return Ok(r);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(NameServiceError::NotFound {
                    name: name.to_owned(),
                    waited,
                    service: self.describe(),
                });
            }
            std::thread::sleep(POLL.min(timeout - waited));
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Registration)>, NameServiceError> {
        check_name(prefix, true)?;
        let mut found = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(os("read the names directory")(e)),
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                    continue;
                }
                let Some(name) = path
                    .strip_prefix(&self.root)
                    .ok()
                    .and_then(|p| p.to_str())
                    .and_then(|p| p.strip_suffix(".reg"))
                    .map(str::to_owned)
                else {
                    continue;
                };
                if check_name(&name, false).is_err() || !under(&name, prefix) {
                    continue;
                }
                if let Some(r) = self.read_live(&name, &path)? {
                    found.push((name, r));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn describe(&self) -> String {
        format!("local {}", self.root.display())
    }
}
