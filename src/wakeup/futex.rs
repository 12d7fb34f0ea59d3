//! `futex`: sleep on a shared futex word inside the mapping.
//!
//! No descriptors, works between unrelated processes that open a region by name.
//! A send to a receiver that is not asleep costs a fence and two cache-hit loads;
//! waking a sleeper costs one FUTEX_WAKE.

use super::{sleep_until, Channel, Strategy, WaitEnd, WaitRequest};
use crate::ring::control::WakeVia;
use std::io;

pub(crate) struct Futex;

/// Wakes the sleeper on `ch` if the signal says one may be asleep: on the
/// futex word, or on its wake descriptor when it waits in an event loop.
#[inline(always)]
pub(crate) fn notify_futex(ch: &Channel<'_>) -> io::Result<()> {
    match ch.signal.wake_via() {
        WakeVia::Nobody => Ok(()),
        WakeVia::Futex => ch.signal.seq.wake(),
        WakeVia::Descriptor => super::ring_descriptor(ch),
    }
}

/// Sleeps on `ch`'s futex word following the arming protocol.
pub(crate) fn wait_futex(ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
    sleep_until(ch, req, |seq, slice| ch.signal.seq.wait(seq, slice))
}

impl Strategy for Futex {
    #[inline(always)]
    fn notify(&self, ch: &Channel<'_>) -> io::Result<()> {
        notify_futex(ch)
    }

    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        wait_futex(ch, req)
    }
}
