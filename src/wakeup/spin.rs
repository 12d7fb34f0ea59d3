//! `spin`: busy-poll with the CPU's pause hint.
//!
//! The lowest latency there is (one cache-line transfer per hand-off) and no
//! system call on either side, at the price of a whole core while waiting. With
//! both ends on one CPU every hand-off waits for the scheduler tick (~4–8 ms):
//! use it only with the two ends pinned to different cores.

use super::{spin_until, Channel, Strategy, WaitEnd, WaitRequest};
use std::io;

pub(crate) struct Spin;

impl Strategy for Spin {
    #[inline(always)]
    fn notify(&self, _: &Channel<'_>) -> io::Result<()> {
        Ok(())
    }

    fn wait(&self, _: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        spin_until(req, None).unwrap_or(WaitEnd::TimedOut)
    }
}
