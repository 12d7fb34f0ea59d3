//! Is the peer process still alive? Checked while blocked, every liveness interval,
//! so that a peer killed without closing its end turns into an error, not a hang.

use crate::ring::control::{SideMeta, CLOSED};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;

/// Whether process `pid` runs (a zombie counts as dead: it will never close its end).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => !exited(&fd),
        Err(Errno::SRCH) => false,
        // No pidfd support: fall back on signal 0, which cannot see zombies.
        Err(_) => !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH)),
    }
}

/// A pidfd polls readable once its process has exited.
fn exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
}

/// Watches the process attached to the other end, holding a pidfd to it once it
/// is known so a recycled pid cannot fool a later check.
pub(crate) struct PeerWatch {
    own_pid: u32,
    pidfd: Option<(u32, OwnedFd)>,
}

impl PeerWatch {
    pub(crate) fn new() -> Self {
        PeerWatch {
            own_pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
            pidfd: None,
        }
    }

    /// `Some(pid)` if the peer attached and its process has died without closing.
    ///
    /// A side is claimed once, so the first process seen attached is the peer
    /// for good: its pidfd stays the one watched even if the pid word changes
    /// later (only a buggy or hostile peer rewrites it, for example to name a
    /// process that never dies, so that its own death would go unnoticed).
    pub(crate) fn peer_dead(&mut self, peer: &SideMeta) -> Option<u32> {
        if peer.state.load(Ordering::Acquire) == CLOSED {
            return None;
        }
        if let Some((pid, fd)) = &self.pidfd {
            return exited(fd).then_some(*pid);
        }
        let pid = peer.pid.load(Ordering::Acquire);
        if pid == 0 || pid == self.own_pid {
            return None;
        }
        let raw = Pid::from_raw(i32::try_from(pid).ok()?)?;
        match rustix::process::pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => {
                let dead = exited(&fd);
                self.pidfd = Some((pid, fd));
                dead.then_some(pid)
            }
            Err(Errno::SRCH) => Some(pid),
            Err(_) => (!process_alive(pid)).then_some(pid),
        }
    }
}
