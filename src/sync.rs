//! Atomics and hints, switched to loom's model types under `--cfg loom`.
//!
//! Everything that two sides of the ring share goes through these types, so the
//! same protocol code is exercised by loom's model checker and by real processes.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64};

pub(crate) use std::sync::atomic::Ordering;

/// One iteration of a busy-wait loop: the CPU's pause hint, or a loom yield so
/// the model checker can schedule the other thread.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
