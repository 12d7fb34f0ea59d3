//! Stand-ins for the kernel's futex and doorbell sockets: a mutex and condvar
//! each, with the same semantics. A futex sleeps only while its word holds the
//! expected value; a doorbell is a queue of datagrams that a ring adds to and a
//! wait sleeps on until it is not empty, then drains (a full queue refuses a
//! ring but stays readable, so a count is all the model needs). Timeouts are
//! not modelled: a sleep ends only by a wake, so a lost wakeup is a deadlock,
//! which loom reports.

use super::AtomicU32;
use crate::platform::Ordering;
use loom::sync::{Condvar, Mutex};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// A word to sleep on, with its own wait queue (the kernel keys its queues by
/// the word's address).
#[derive(Default)]
pub(crate) struct FutexWord {
    word: AtomicU32,
    sleepers: Mutex<()>,
    wake: Condvar,
}

impl std::ops::Deref for FutexWord {
    type Target = AtomicU32;

    fn deref(&self) -> &AtomicU32 {
        &self.word
    }
}

impl FutexWord {
    pub(crate) fn wait(&self, expected: u32, _timeout: Duration) -> io::Result<()> {
        let guard = self.sleepers.lock().unwrap();
        if self.word.load(Ordering::SeqCst) == expected {
            drop(self.wake.wait(guard).unwrap());
        }
        Ok(())
    }

    pub(crate) fn wake(&self) -> io::Result<()> {
        let _guard = self.sleepers.lock().unwrap();
        self.wake.notify_all();
        Ok(())
    }
}

/// One datagram queue per sleeping side, `[consumer's, producer's]`.
pub(crate) struct Doorbells([Queue; 2]);

#[derive(Default)]
struct Queue {
    queued: Mutex<u64>,
    readable: Condvar,
}

impl Doorbells {
    pub(crate) fn new() -> Self {
        Doorbells([Queue::default(), Queue::default()])
    }

    pub(crate) fn doorbell(&self, sleeper: usize) -> Doorbell<'_> {
        Doorbell(&self.0[sleeper])
    }
}

/// The queue of one sleeping side.
#[derive(Clone, Copy)]
pub(crate) struct Doorbell<'a>(&'a Queue);

impl<'a> Doorbell<'a> {
    /// A model doorbell is no descriptor.
    pub(crate) fn fd(self) -> Option<BorrowedFd<'a>> {
        None
    }

    pub(crate) fn wait(self, _timeout: Duration) -> io::Result<()> {
        let mut queued = self.0.queued.lock().unwrap();
        while *queued == 0 {
            queued = self.0.readable.wait(queued).unwrap();
        }
        *queued = 0;
        Ok(())
    }

    pub(crate) fn drain(self) -> io::Result<()> {
        *self.0.queued.lock().unwrap() = 0;
        Ok(())
    }

    pub(crate) fn ring(self) -> io::Result<()> {
        *self.0.queued.lock().unwrap() += 1;
        self.0.readable.notify_all();
        Ok(())
    }
}
