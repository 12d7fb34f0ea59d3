//! The listener's descriptors: the process limit raised at bind, a spare
//! descriptor kept to turn clients away when the limit is reached, and the
//! client process's pidfd taken from the socket.

use rustix::process::{getrlimit, setrlimit, Resource};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

/// The highest soft limit raised to when the hard limit is unlimited (the
/// kernel's default `nr_open`).
const NOFILE_CEILING: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (best effort: a limit
/// that cannot be raised stays as it was).
pub(super) fn raise_fd_limit() {
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(NOFILE_CEILING);
    if limit.current.is_some_and(|soft| soft < hard) {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(hard),
                maximum: limit.maximum,
            },
        );
    }
}

/// The soft descriptor limit, for messages.
pub(super) fn fd_limit() -> String {
    getrlimit(Resource::Nofile)
        .current
        .map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// A descriptor held in reserve: closed to make room for one accept when the
/// process is out of descriptors, so that the client hears why it is turned
/// away instead of waiting in the backlog.
pub(super) fn spare() -> Option<OwnedFd> {
    rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).ok()
}

/// `SO_PEERPIDFD` (Linux 6.5): a pidfd for the process that connected, taken
/// by the kernel at connect time, so no recycled pid can stand in for it.
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_PEERPIDFD: libc::c_int = 77;

/// The connecting process's pidfd: from the socket where the kernel has it,
/// else opened by pid now (a client that exits at once and whose pid is
/// reused within microseconds would then be mistaken for the new process).
pub(super) fn peer_pidfd(socket: &impl AsRawFd, pid: u32) -> Option<Arc<OwnedFd>> {
    #[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
    {
        let mut fd: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes (one c_int) to `fd`,
        // which lives for the call; the socket is open for the call (borrowed).
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERPIDFD,
                (&mut fd as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc == 0 && fd >= 0 {
            // SAFETY: the kernel just created this descriptor for us (a new
            // pidfd); nothing else owns it.
            return Some(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .ok()
        .map(Arc::new)
}
