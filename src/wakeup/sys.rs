//! The kernel primitives the blocking strategies sleep on, and their loom stand-ins.

#[cfg(loom)]
pub(crate) use model::*;
#[cfg(not(loom))]
pub(crate) use real::*;

#[cfg(not(loom))]
mod real {
    use rustix::event::{PollFd, PollFlags};
    use rustix::io::Errno;
    use rustix::thread::futex;
    use rustix::time::Timespec;
    use std::io;
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    fn timespec(d: Duration) -> Timespec {
        Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        }
    }

    /// Sleeps while `*word == expected`, at most `timeout`. Shared (not private)
    /// futex: the word lives in memory mapped by two processes. Returns on a wake,
    /// a changed word, a signal or the timeout alike; the caller re-checks.
    pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> io::Result<()> {
        match futex::wait(
            word,
            futex::Flags::empty(),
            expected,
            Some(&timespec(timeout)),
        ) {
            Ok(()) | Err(Errno::AGAIN | Errno::INTR | Errno::TIMEDOUT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Wakes one sleeper on `word`.
    pub(crate) fn futex_wake(word: &AtomicU32) -> io::Result<()> {
        futex::wake(word, futex::Flags::empty(), 1)?;
        Ok(())
    }

    /// The wake descriptors of eventfd wakeups: a connected pair of UNIX
    /// datagram sockets, `[consumer's end, producer's end]`. Each side sleeps
    /// until its own end is readable; the other side rings it by sending a
    /// datagram from its end.
    ///
    /// Not an eventfd: both processes share each descriptor's open file
    /// description, so the peer can clear `O_NONBLOCK` on it, and an eventfd
    /// write then blocks for good once the peer has filled the counter (no
    /// per-call flag exists for an eventfd write). A socket takes
    /// `MSG_DONTWAIT` on every call, whatever the file's flags, and a full
    /// queue is refused, never waited on.
    pub(crate) fn doorbell_pair() -> io::Result<[OwnedFd; 2]> {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        let (consumer, producer) = socketpair(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        Ok([consumer, producer])
    }

    /// Whether `fd` can be a wake descriptor: a UNIX datagram socket. (Which
    /// one it is connected to is the peer's to decide: a wrong pairing loses
    /// wakeups, which costs at most a liveness interval per wait.)
    pub(crate) fn is_doorbell(fd: BorrowedFd<'_>) -> bool {
        use rustix::net::{sockopt, AddressFamily, SocketType};
        sockopt::socket_domain(fd).is_ok_and(|d| d == AddressFamily::UNIX)
            && sockopt::socket_type(fd).is_ok_and(|t| t == SocketType::DGRAM)
    }

    /// At most this many datagrams are read per drain: a peer that keeps
    /// sending costs this side spurious wakeups, never an endless loop.
    const DRAIN_MAX: usize = 64;

    /// Waits until `own_end` is readable, at most `timeout`, then drains it.
    pub(crate) fn doorbell_wait(own_end: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
        let mut fds = [PollFd::new(&own_end, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timespec(timeout))) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        doorbell_drain(own_end)
    }

    /// Reads what is queued on `own_end`, never waiting for more.
    pub(crate) fn doorbell_drain(own_end: BorrowedFd<'_>) -> io::Result<()> {
        use rustix::net::RecvFlags;
        let mut buf = [0u8; 1];
        for _ in 0..DRAIN_MAX {
            match rustix::net::recv(own_end, &mut buf, RecvFlags::DONTWAIT) {
                // A datagram (longer ones are cut to the buffer), or an empty
                // one; after a peer's shutdown, 0 for ever: the bound ends it.
                Ok(_) | Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Rings the peer's end by sending a datagram from `own_end`.
    pub(crate) fn doorbell_ring(own_end: BorrowedFd<'_>) -> io::Result<()> {
        use rustix::net::SendFlags;
        match rustix::net::send(own_end, &[1], SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            // A full queue is already readable: the peer has been rung.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(loom)]
mod model {
    use loom::sync::{Condvar, Mutex};
    use std::sync::atomic::Ordering;

    /// A mutex and condvar standing in for the kernel: futex semantics (sleep only
    /// while the word holds the expected value) and doorbell semantics (a queue
    /// of datagrams that a ring adds to, and a wait sleeps on until it is not
    /// empty, then drains; a full queue refuses a ring but stays readable, so
    /// a count is all the model needs) over the same pair.
    pub(crate) struct Park {
        count: Mutex<u64>,
        cond: Condvar,
    }

    impl Park {
        pub(crate) fn new() -> Self {
            Park {
                count: Mutex::new(0),
                cond: Condvar::new(),
            }
        }

        pub(crate) fn futex_wait(&self, word: &crate::sync::AtomicU32, expected: u32) {
            let guard = self.count.lock().unwrap();
            if word.load(Ordering::SeqCst) == expected {
                drop(self.cond.wait(guard).unwrap());
            }
        }

        pub(crate) fn futex_wake(&self) {
            let _guard = self.count.lock().unwrap();
            self.cond.notify_all();
        }

        pub(crate) fn doorbell_wait(&self) {
            let mut count = self.count.lock().unwrap();
            while *count == 0 {
                count = self.cond.wait(count).unwrap();
            }
            *count = 0;
        }

        pub(crate) fn doorbell_ring(&self) {
            *self.count.lock().unwrap() += 1;
            self.cond.notify_all();
        }
    }
}
