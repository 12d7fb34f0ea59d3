//! Passing an anonymous region to another process: inherited across exec, or sent
//! over a UNIX socket with SCM_RIGHTS.

use super::Region;
use crate::error::{OpenError, OsError};
use rustix::io::FdFlags;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

const PREFIX: &str = "mempipe-fds:";

/// Duplicates of a region's descriptors that a child process inherits across
/// `exec`. Pass [`Handoff::token`] to the child (argument or environment) and call
/// [`Region::from_handoff`] there; drop the handoff in the parent after spawning.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mempipe::{Config, Region};
/// let region = Region::create_anonymous(&Config::new())?;
/// let handoff = region.handoff()?;
/// let child = std::process::Command::new("my-consumer")
///     .env("MEMPIPE_REGION", handoff.token())
///     .spawn()?;
/// drop(handoff); // the parent's copies of the inherited descriptors
/// # let _ = child; Ok(()) }
/// ```
#[derive(Debug)]
pub struct Handoff {
    fds: Vec<OwnedFd>,
}

impl Handoff {
    /// The string the child hands to [`Region::from_handoff`].
    pub fn token(&self) -> String {
        let nums: Vec<String> = self.fds.iter().map(|f| f.as_raw_fd().to_string()).collect();
        format!("{PREFIX}{}", nums.join(","))
    }

    /// The duplicated descriptors (memory first, then, for an anonymous region
    /// that can sleep, the consumer's and the producer's wake descriptor), for a harness that
    /// passes descriptors its own way; the receiver rebuilds the region with
    /// [`Region::from_fds`].
    pub fn into_fds(self) -> Vec<OwnedFd> {
        self.fds
    }
}

/// The descriptors that make up a region: memory, then the wake descriptors if any.
fn region_fds(region: &Region) -> Vec<BorrowedFd<'_>> {
    let mut fds = vec![region.inner.file.as_fd()];
    if let Some(bells) = &region.inner.shared.doorbells {
        fds.extend(bells.fds());
    }
    fds
}

fn assemble(mut fds: Vec<OwnedFd>) -> Result<Region, OpenError> {
    let bad = |why: &str| OpenError::NotMempipe(format!("received descriptors: {why}"));
    match fds.len() {
        1 => Region::from_fds(fds.remove(0), None),
        3 => {
            let space = fds.pop().ok_or_else(|| bad("missing"))?;
            let data = fds.pop().ok_or_else(|| bad("missing"))?;
            Region::from_fds(fds.remove(0), Some([data, space]))
        }
        n => Err(bad(&format!("{n} descriptors, expected 1 or 3"))),
    }
}

/// Refuses a wake descriptor that is not what a region's creator makes (a
/// UNIX datagram socket): a wrong kind could block, or never wake anyone.
pub(crate) fn check_doorbell(fd: BorrowedFd<'_>) -> Result<(), OpenError> {
    if crate::platform::is_doorbell(fd) {
        Ok(())
    } else {
        Err(OpenError::NotMempipe(format!(
            "wake descriptor {} is not a UNIX datagram socket",
            fd.as_raw_fd()
        )))
    }
}

impl Region {
    /// Duplicates the region's descriptors without close-on-exec, so that a child
    /// started next inherits them. See [`Handoff`].
    ///
    /// # Errors
    /// [`OsError`] if duplicating a descriptor fails (for example, the process
    /// is out of descriptors).
    pub fn handoff(&self) -> Result<Handoff, OsError> {
        let fds = region_fds(self)
            .into_iter()
            .map(|fd| {
                // A duplicate without CLOEXEC survives exec.
                let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3)
                    .map_err(super::os::os("fcntl(F_DUPFD_CLOEXEC)"))?;
                rustix::io::fcntl_setfd(&dup, FdFlags::empty())
                    .map_err(super::os::os("fcntl(F_SETFD)"))?;
                Ok(dup)
            })
            .collect::<Result<Vec<_>, OsError>>()?;
        Ok(Handoff { fds })
    }

    /// Opens a region from a [`Handoff::token`] inherited from the parent.
    ///
    /// # Errors
    /// [`OpenError::NotMempipe`] for a malformed token or descriptors that are
    /// not a region's; [`OpenError::Os`] if a descriptor in the token is not
    /// open; the checks of [`Region::from_fds`] ([`OpenError::Unsealed`] for
    /// memory the parent could still truncate), made before anything is mapped.
    ///
    /// # Safety
    /// The descriptors named in `token` must have been inherited by this process
    /// for this purpose and be owned by nothing else in it: this call takes
    /// ownership of them (and closes them when the region is dropped). Calling it
    /// twice with the same token, or with numbers of descriptors the process uses
    /// otherwise, violates I/O safety.
    pub unsafe fn from_handoff(token: &str) -> Result<Region, OpenError> {
        let bad = |why: String| OpenError::NotMempipe(format!("handoff token {token:?}: {why}"));
        let list = token
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad(format!("does not start with {PREFIX:?}")))?;
        let nums = list
            .split(',')
            .map(|n| n.parse::<RawFd>().ok().filter(|n| *n >= 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("not a list of descriptor numbers".into()))?;
        if nums.is_empty() || nums.len() > 3 {
            return Err(bad("expected 1 or 3 descriptors".into()));
        }
        let fds: Vec<OwnedFd> = nums
            .into_iter()
            // SAFETY: the caller guarantees these descriptors are inherited and
            // owned by nothing else in this process.
            .map(|n| unsafe { OwnedFd::from_raw_fd(n) })
            .collect();
        for fd in &fds {
            rustix::io::fcntl_getfd(fd)
                .map_err(super::os::os("fcntl(F_GETFD) on an inherited descriptor"))?;
            // Do not pass them on to our own children.
            let _ = rustix::io::fcntl_setfd(fd, FdFlags::CLOEXEC);
        }
        assemble(fds)
    }

    /// Sends the region's descriptors over a connected UNIX socket (SCM_RIGHTS).
    ///
    /// # Errors
    /// [`OsError`] if `sendmsg` fails (for example, the socket is not connected).
    pub fn send_over(&self, socket: &UnixStream) -> Result<(), OsError> {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let fds = region_fds(self);
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(OsError::new(
                "sendmsg",
                io::Error::other("control buffer too small for the descriptors"),
            ));
        }
        let tag = [fds.len() as u8];
        sendmsg(
            socket,
            &[io::IoSlice::new(&tag)],
            &mut control,
            // A receiver that is gone is an error here, never a SIGPIPE.
            SendFlags::NOSIGNAL,
        )
        .map_err(super::os::os("sendmsg"))?;
        Ok(())
    }

    /// Receives a region sent with [`Region::send_over`]. Blocks until the
    /// descriptors arrive if `socket` is blocking (give it a read timeout, or
    /// make it non-blocking, to bound the wait).
    ///
    /// # Errors
    /// [`OpenError::Os`] if `recvmsg` fails; [`OpenError::NotMempipe`] if the
    /// socket closes first or the descriptors are not what `send_over` sends;
    /// the checks of [`Region::from_fds`] ([`OpenError::Unsealed`] for memory
    /// the sender could still truncate), made before anything is mapped.
    pub fn recv_from(socket: &UnixStream) -> Result<Region, OpenError> {
        use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        let os = super::os::os("recvmsg");
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut tag = [0u8; 1];
        let msg = recvmsg(
            socket,
            &mut [io::IoSliceMut::new(&mut tag)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(os)?;
        if msg.bytes == 0 {
            return Err(OpenError::NotMempipe(
                "the socket closed before a region arrived".into(),
            ));
        }
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if fds.len() != usize::from(tag[0]) {
            return Err(OpenError::NotMempipe(format!(
                "announced {} descriptors, received {}",
                tag[0],
                fds.len()
            )));
        }
        assemble(fds)
    }
}
