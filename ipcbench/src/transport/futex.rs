//! `futex`: the plain futex baseline. Payload through a shared byte ring per
//! direction (memfd); the receiver of an empty ring sleeps in FUTEX_WAIT on
//! the ring's head word, the sender calls FUTEX_WAKE after every publish. The
//! futex is shared (no FUTEX_PRIVATE_FLAG): the word lives in a mapping of
//! two processes. No spinning before sleeping, no waiter flag on the data
//! path (a sender that runs into a full ring sets a flag, so the reader only
//! wakes it then).

use super::ring::{self, Wait};
use super::shm::Shm;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport, XferError};
use crate::stop::should_stop;
use rustix::io::Errno;
use rustix::thread::futex;
use std::sync::atomic::AtomicU32;

pub(crate) struct Futex;

/// Wait/wake with shared (not private) futex calls.
pub(crate) struct SharedFutex;

impl Wait for SharedFutex {
    const SPINS: bool = false;
    fn wait(&mut self, word: &AtomicU32, seen: u32) -> Result<(), XferError> {
        match futex::wait(word, futex::Flags::empty(), seen, None) {
            Ok(()) | Err(Errno::AGAIN) => Ok(()),
            Err(Errno::INTR) if should_stop() => Err(XferError::Stopped),
            Err(Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
    fn wake(&mut self, word: &AtomicU32) -> Result<(), XferError> {
        futex::wake(word, futex::Flags::empty(), 1)?;
        Ok(())
    }
}

fn endpoint(shm: Shm, p: &CellParams, is_parent: bool) -> Box<dyn Endpoint> {
    ring::cell_duplex(
        shm,
        p,
        is_parent,
        [SharedFutex, SharedFutex, SharedFutex, SharedFutex],
    )
}

impl Transport for Futex {
    fn name(&self) -> &'static str {
        "futex"
    }
    fn description(&self) -> &'static str {
        "shared byte ring per direction; FUTEX_WAIT on empty, FUTEX_WAKE (shared, not private) after every send"
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (shm, fd) = Shm::create(&p.name_prefix, ring::cell_len(p))?;
        Ok((
            endpoint(shm, p, true),
            Handoff {
                fds: vec![fd],
                args: vec![],
            },
        ))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, "futex")?;
        Ok(endpoint(Shm::attach(fd)?, p, false))
    }
}
