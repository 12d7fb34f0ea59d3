//! The loom backend: model atomics, and stand-ins for the kernel with the same
//! semantics (see each item). Built only under `--cfg loom`.

mod memory;
mod wake;

pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64};
pub(crate) use loom::sync::Mutex;
pub(crate) use memory::RingMemory;
pub(crate) use wake::{Doorbell, Doorbells, FutexWord};

use super::PeerEntry;
use std::time::{Duration, Instant};

/// One iteration of a busy-wait loop: a loom yield, so the model checker can
/// schedule the other thread.
#[inline(always)]
pub(crate) fn spin_hint() {
    loom::thread::yield_now();
}

/// Every poll of a busy wait reads the clock, so that a spin budget ends after
/// one round (see [`now`]) instead of multiplying the interleavings to explore.
pub(crate) const SPINS_PER_CLOCK_READ: u32 = 1;

/// A publication batch is the models' whole ring, so that they see releases
/// that do not wake a producer asleep for room, and a drained ring that must.
pub(crate) const BATCH_DIVISOR: u64 = 1;

/// No polls before arming: the models need no more interleavings.
pub(crate) const POLLS_BEFORE_ARM: u32 = 0;

/// A clock that moves only when read, a second per read: a spin budget (micro
/// seconds) is spent by the second look at the clock, and the flow of a call
/// depends only on how often it looked, never on how long loom took.
pub(crate) fn now() -> Instant {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    static READS: AtomicU64 = AtomicU64::new(0);
    let reads = READS.fetch_add(1, Ordering::Relaxed) + 1;
    *START.get_or_init(Instant::now) + Duration::from_secs(reads)
}

/// The model has no CPUs: the hybrid strategy's same-CPU check never fires.
pub(crate) fn current_cpu() -> Option<u32> {
    None
}

/// No process dies in a model: liveness never reports anything, and a sleep is
/// never cut short for a check.
pub(crate) struct Liveness(Duration);

impl Liveness {
    pub(crate) fn new(interval: Duration) -> Self {
        Liveness(interval)
    }

    pub(crate) fn interval(&self) -> Duration {
        self.0
    }

    pub(crate) fn check(&mut self, _: &impl PeerEntry) -> Result<Duration, u32> {
        Ok(Duration::MAX)
    }

    pub(crate) fn watch(&mut self, _: u32, _: std::sync::Arc<std::os::fd::OwnedFd>) {}

    pub(crate) fn check_idle(&mut self, _: &impl PeerEntry) -> Option<u32> {
        None
    }

    pub(crate) fn check_now(&mut self, _: &impl PeerEntry) {}

    /// No process, so no process descriptor to await.
    pub(crate) fn watch_fd(&mut self, _: &impl PeerEntry) -> Option<std::os::fd::OwnedFd> {
        None
    }
}
