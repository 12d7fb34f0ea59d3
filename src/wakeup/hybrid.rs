//! `hybrid`: spin for a bounded budget, then sleep on the futex.
//!
//! Cross-core it answers like `spin` while the peer is quick, and costs a futex
//! sleep once the peer is slow. It never spins when the peer last ran on this
//! CPU: there, spinning only delays the peer until the scheduler tick (~4–8 ms on
//! this kind of machine, against ~3–5 µs for a futex hand-off).

use super::futex::{notify_futex, wait_futex};
use super::{spin_until, Channel, Strategy, WaitEnd, WaitRequest};
use std::io;
use std::time::Duration;

pub(crate) struct Hybrid {
    budget: Duration,
}

impl Hybrid {
    pub(crate) fn new(budget: Duration) -> Self {
        Hybrid { budget }
    }

    /// How long a wait spins before it sleeps.
    #[cfg(feature = "tokio")]
    pub(crate) fn budget(&self) -> Duration {
        self.budget
    }
}

impl Strategy for Hybrid {
    #[inline(always)]
    fn notify(&self, ch: &Channel<'_>) -> io::Result<()> {
        notify_futex(ch)
    }

    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        if !self.budget.is_zero() && !(req.same_cpu)() {
            if let Some(end) = spin_until(req, Some(self.budget)) {
                return end;
            }
        }
        wait_futex(ch, req)
    }
}
