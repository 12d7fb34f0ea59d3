//! The kernel primitives the blocking strategies sleep on: a futex word in the
//! shared mapping, and the doorbell sockets of eventfd wakeups.

use super::AtomicU32;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::thread::futex;
use rustix::time::Timespec;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// A 32-bit word a side can sleep on until another side changes it and wakes
/// it. A shared (not private) futex: the word lives in memory mapped by two
/// processes.
#[repr(transparent)]
#[derive(Default)]
pub(crate) struct FutexWord(AtomicU32);

impl std::ops::Deref for FutexWord {
    type Target = AtomicU32;

    #[inline(always)]
    fn deref(&self) -> &AtomicU32 {
        &self.0
    }
}

impl FutexWord {
    /// Sleeps while the word holds `expected`, at most `timeout`. Returns on a
    /// wake, a changed word, a signal or the timeout alike; the caller re-checks.
    pub(crate) fn wait(&self, expected: u32, timeout: Duration) -> io::Result<()> {
        match futex::wait(
            &self.0,
            futex::Flags::empty(),
            expected,
            Some(&timespec(timeout)),
        ) {
            Ok(()) | Err(Errno::AGAIN | Errno::INTR | Errno::TIMEDOUT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Wakes one sleeper on the word.
    pub(crate) fn wake(&self) -> io::Result<()> {
        futex::wake(&self.0, futex::Flags::empty(), 1)?;
        Ok(())
    }
}

/// The wake descriptors of eventfd wakeups: a connected pair of UNIX datagram
/// sockets, `[consumer's end, producer's end]`. Each side sleeps until its own
/// end is readable; the other side rings it by sending a datagram from its end.
///
/// Not an eventfd: both processes share each descriptor's open file
/// description, so the peer can clear `O_NONBLOCK` on it, and an eventfd write
/// then blocks for good once the peer has filled the counter (no per-call flag
/// exists for an eventfd write). A socket takes `MSG_DONTWAIT` on every call,
/// whatever the file's flags, and a full queue is refused, never waited on.
pub(crate) struct Doorbells([OwnedFd; 2]);

impl Doorbells {
    /// A fresh socket pair.
    pub(crate) fn new() -> io::Result<Self> {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        let (consumer, producer) = socketpair(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        Ok(Doorbells([consumer, producer]))
    }

    /// A pair received from the region's creator, in [`Doorbells::fds`] order
    /// (each checked with [`is_doorbell`]).
    pub(crate) fn from_fds(fds: [OwnedFd; 2]) -> Self {
        Doorbells(fds)
    }

    /// The two descriptors, to pass the region on.
    pub(crate) fn fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.0[0].as_fd(), self.0[1].as_fd()]
    }

    /// The doorbell whose sleeper is end `sleeper` (0 or 1), rung from the other.
    #[inline(always)]
    pub(crate) fn doorbell(&self, sleeper: usize) -> Doorbell<'_> {
        Doorbell {
            sleeper: self.0[sleeper].as_fd(),
            ringer: self.0[1 - sleeper].as_fd(),
        }
    }
}

/// Whether `fd` can be a wake descriptor: a UNIX datagram socket. (Which one
/// it is connected to is the peer's to decide: a wrong pairing loses wakeups,
/// which costs at most a liveness interval per wait.)
pub(crate) fn is_doorbell(fd: BorrowedFd<'_>) -> bool {
    use rustix::net::{sockopt, AddressFamily, SocketType};
    sockopt::socket_domain(fd).is_ok_and(|d| d == AddressFamily::UNIX)
        && sockopt::socket_type(fd).is_ok_and(|t| t == SocketType::DGRAM)
}

/// The two ends of a socket pair as one direction uses them.
#[derive(Clone, Copy)]
pub(crate) struct Doorbell<'a> {
    /// The end the waiting side sleeps on.
    sleeper: BorrowedFd<'a>,
    /// The end the other side rings it from.
    ringer: BorrowedFd<'a>,
}

/// At most this many datagrams are read per drain: a peer that keeps sending
/// costs this side spurious wakeups, never an endless loop.
const DRAIN_MAX: usize = 64;

impl<'a> Doorbell<'a> {
    /// The descriptor the sleeper waits on, for an external event loop.
    pub(crate) fn fd(self) -> Option<BorrowedFd<'a>> {
        Some(self.sleeper)
    }

    /// Waits until the sleeper's end is readable, at most `timeout`, then drains it.
    pub(crate) fn wait(self, timeout: Duration) -> io::Result<()> {
        let mut fds = [PollFd::new(&self.sleeper, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timespec(timeout))) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        self.drain()
    }

    /// Reads what is queued on the sleeper's end, never waiting for more.
    pub(crate) fn drain(self) -> io::Result<()> {
        use rustix::net::RecvFlags;
        let mut buf = [0u8; 1];
        for _ in 0..DRAIN_MAX {
            match rustix::net::recv(self.sleeper, &mut buf, RecvFlags::DONTWAIT) {
                // A datagram (longer ones are cut to the buffer), or an empty
                // one; after a peer's shutdown, 0 for ever: the bound ends it.
                Ok(_) | Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Rings the sleeper by sending a datagram from the ringer's end.
    pub(crate) fn ring(self) -> io::Result<()> {
        use rustix::net::SendFlags;
        match rustix::net::send(self.ringer, &[1], SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            // A full queue is already readable: the peer has been rung.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
