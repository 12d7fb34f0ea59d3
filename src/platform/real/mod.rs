//! The real backend: shared memory, `std` atomics and the kernel.

mod liveness;
mod memory;
mod wake;

pub(crate) use liveness::{process_alive, Liveness};
pub(crate) use memory::RingMemory;
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64};
pub(crate) use std::sync::Mutex;
pub(crate) use wake::{is_doorbell, Doorbell, Doorbells, FutexWord};

use std::time::Instant;

/// One iteration of a busy-wait loop: the CPU's pause hint.
#[inline(always)]
pub(crate) fn spin_hint() {
    std::hint::spin_loop();
}

/// Busy-wait polls between two reads of the clock (and liveness checks): a
/// clock read costs about as much as a pause, so a quick answer costs none.
pub(crate) const SPINS_PER_CLOCK_READ: u32 = 64;

/// The consumer publishes its position (and wakes a producer asleep for room)
/// once per this fraction of the capacity freed, at most 32 KiB.
pub(crate) const BATCH_DIVISOR: u64 = 8;

/// Polls of its condition a sleeping wait makes before it arms its signal,
/// while the peer runs on another CPU.
pub(crate) const POLLS_BEFORE_ARM: u32 = 16;

/// The time now, for deadlines and spin budgets.
#[inline(always)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// The CPU this thread runs on, if it can be known cheaply. glibc's
/// `sched_getcpu` reads it from rseq or the vDSO (a few ns); rustix's makes
/// the getcpu system call (a kernel entry), too slow for a path entered on
/// every wait. Miri cannot emulate it: `None` there.
#[inline]
pub(crate) fn current_cpu() -> Option<u32> {
    #[cfg(not(miri))]
    {
        // SAFETY: sched_getcpu takes no arguments and has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        Some(u32::try_from(cpu).unwrap_or(0))
    }
    #[cfg(miri)]
    None
}
