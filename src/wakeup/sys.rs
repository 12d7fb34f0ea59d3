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
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
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

    /// A non-blocking, close-on-exec eventfd.
    pub(crate) fn eventfd_new() -> io::Result<OwnedFd> {
        use rustix::event::EventfdFlags;
        Ok(rustix::event::eventfd(
            0,
            EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
        )?)
    }

    /// Waits until the eventfd is readable, at most `timeout`, then resets it.
    pub(crate) fn eventfd_wait(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<()> {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timespec(timeout))) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        eventfd_drain(fd)
    }

    /// Resets the eventfd's counter (it is non-blocking: nothing to read is fine).
    pub(crate) fn eventfd_drain(fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut buf = [0u8; 8];
        match rustix::io::read(fd, &mut buf) {
            Ok(_) | Err(Errno::AGAIN | Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes the eventfd readable.
    pub(crate) fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
        match rustix::io::write(fd.as_fd(), &1u64.to_ne_bytes()) {
            // A saturated counter is already readable.
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
    /// while the word holds the expected value) and eventfd semantics (a counter
    /// that a signal sets and a wait consumes) over the same pair.
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

        pub(crate) fn eventfd_wait(&self) {
            let mut count = self.count.lock().unwrap();
            while *count == 0 {
                count = self.cond.wait(count).unwrap();
            }
            *count = 0;
        }

        pub(crate) fn eventfd_signal(&self) {
            *self.count.lock().unwrap() += 1;
            self.cond.notify_all();
        }
    }
}
