//! `futex`: sleep on a shared futex word inside the mapping.
//!
//! No descriptors, works between unrelated processes that open a region by name.
//! A send to a receiver that is not asleep costs a fence and two cache-hit loads;
//! waking a sleeper costs one FUTEX_WAKE.

use super::{sleep_until, Channel, Strategy, WaitEnd, WaitRequest};
use std::io;

pub(crate) struct Futex;

/// Wakes the sleeper on `ch` if the signal says one may be asleep.
#[inline(always)]
pub(crate) fn notify_futex(ch: &Channel<'_>) -> io::Result<()> {
    if ch.signal.should_wake() {
        return ch.signal.seq.wake();
    }
    Ok(())
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
