//! Is the peer process still alive? Checked at most once per liveness interval,
//! on one clock per endpoint that every call shape shares (blocking calls, timed
//! calls in short slices, `try_*` loops), so that a peer killed without closing
//! its end turns into an error, not a hang or an endless run of timeouts.

use crate::platform::PeerEntry;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};
use rustix::time::ClockId;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

/// One endpoint's view of its peer's liveness: when to look next, and what was
/// found. A death, once seen, is remembered: a dead process never comes back.
pub(crate) struct Liveness {
    watch: PeerWatch,
    interval_ns: u64,
    /// On the monotonic clock.
    next_check_ns: u64,
    dead: Option<u32>,
}

/// Nanoseconds on a monotonic clock. The coarse one (the last tick's time, read
/// from the vDSO without touching the time source, a few ns) lags the precise
/// one by at most a tick, which only delays a check by as much.
fn monotonic_ns(coarse: bool) -> u64 {
    let clock = if coarse {
        ClockId::MonotonicCoarse
    } else {
        ClockId::Monotonic
    };
    let t = rustix::time::clock_gettime(clock);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

impl Liveness {
    pub(crate) fn new(interval: Duration) -> Self {
        let interval_ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        Liveness {
            watch: PeerWatch::new(),
            interval_ns,
            next_check_ns: monotonic_ns(false).saturating_add(interval_ns),
            dead: None,
        }
    }

    /// Watches process `pid` (through `pidfd`) as the peer from now on,
    /// before it attaches and whatever pid word it writes later: the process
    /// a listener learned from the socket's peer credentials.
    pub(crate) fn watch(&mut self, pid: u32, pidfd: Arc<OwnedFd>) {
        self.watch.pidfd = Some((pid, pidfd));
    }

    /// How often the peer is checked.
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }

    /// For a blocking call about to sleep: checks the peer if a check is due.
    /// `Err(pid)` once the peer is known dead, else how long until the next
    /// check is due (the longest the caller may sleep).
    pub(crate) fn check(&mut self, peer: &impl PeerEntry) -> Result<Duration, u32> {
        self.check_at(peer, monotonic_ns(false))
    }

    /// For a non-blocking call that found nothing to do (an empty or full
    /// ring): `Some(pid)` once the peer is known dead. Reads the coarse clock;
    /// makes a system call only when a check is due (once per interval).
    #[inline]
    pub(crate) fn check_idle(&mut self, peer: &impl PeerEntry) -> Option<u32> {
        if self.dead.is_some() {
            return self.dead;
        }
        let now = monotonic_ns(true);
        if now < self.next_check_ns {
            return None;
        }
        self.check_at(peer, now).err()
    }

    /// Checks the peer now, whatever the clock says (its process descriptor
    /// turned readable in an event loop).
    #[cfg(feature = "tokio")]
    pub(crate) fn check_now(&mut self, peer: &impl PeerEntry) {
        if self.dead.is_none() {
            if let Some(pid) = self.watch.peer_dead(peer) {
                self.dead = Some(pid);
            }
        }
    }

    /// A duplicate of the watched process's pidfd (opened now if the peer has
    /// attached), for an event loop to wait on; `None` while the peer is
    /// unknown or pidfds are unavailable.
    #[cfg(feature = "tokio")]
    pub(crate) fn watch_fd(&mut self, peer: &impl PeerEntry) -> Option<OwnedFd> {
        if self.watch.pidfd.is_none() {
            self.check_now(peer);
        }
        let (_, fd) = self.watch.pidfd.as_ref()?;
        fd.try_clone().ok()
    }

    #[cold]
    fn check_at(&mut self, peer: &impl PeerEntry, now: u64) -> Result<Duration, u32> {
        if let Some(pid) = self.dead {
            return Err(pid);
        }
        if now >= self.next_check_ns {
            if let Some(pid) = self.watch.peer_dead(peer) {
                self.dead = Some(pid);
                return Err(pid);
            }
            self.next_check_ns = now.saturating_add(self.interval_ns);
        }
        Ok(Duration::from_nanos(self.next_check_ns - now))
    }
}

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
struct PeerWatch {
    own_pid: u32,
    /// Shared with the other endpoint of the same connection when it was
    /// given (one descriptor per connection, not one per ring).
    pidfd: Option<(u32, Arc<OwnedFd>)>,
}

impl PeerWatch {
    fn new() -> Self {
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
    fn peer_dead(&mut self, peer: &impl PeerEntry) -> Option<u32> {
        if peer.closed() {
            return None;
        }
        if let Some((pid, fd)) = &self.pidfd {
            return exited(fd).then_some(*pid);
        }
        let pid = peer.pid();
        if pid == 0 || pid == self.own_pid {
            return None;
        }
        let raw = Pid::from_raw(i32::try_from(pid).ok()?)?;
        match rustix::process::pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => {
                let dead = exited(&fd);
                self.pidfd = Some((pid, Arc::new(fd)));
                dead.then_some(pid)
            }
            Err(Errno::SRCH) => Some(pid),
            Err(_) => (!process_alive(pid)).then_some(pid),
        }
    }
}
