//! The one boundary between the protocol and what runs it: the backing memory
//! of a ring, atomics and CPU hints, the clock, the kernel's sleep and wake
//! primitives (futex words and doorbell sockets), peer liveness and the CPU a
//! thread runs on.
//!
//! Two backends provide the same items under the same names:
//!
//! * `real`: the shared mapping (or page-aligned heap memory for tests, fuzzing
//!   and Miri) addressed through raw pointers, `std` atomics, `futex(2)`, UNIX
//!   datagram sockets, pidfds and the monotonic clock.
//! * `model` (under `--cfg loom`): loom's model atomics for the ring's control
//!   block and data, a mutex and condvar per futex word and doorbell standing
//!   in for the kernel, a clock that moves only when read, and peers that
//!   never die. The ring, wakeup and endpoint code is compiled unchanged
//!   against it, so loom checks the protocol the real build runs.
//!
//! Nothing outside this module names `loom`, except the crate root (which
//! leaves the region module, mapped and process-bound, out of the model) and
//! the loom models themselves.

#[cfg(loom)]
mod model;
#[cfg(not(loom))]
mod real;

#[cfg(loom)]
pub(crate) use model::*;
#[cfg(not(loom))]
pub(crate) use real::*;

pub(crate) use std::sync::atomic::Ordering;

use crate::layout::Geometry;
use std::ptr::NonNull;

/// A ring's storage as the backend provides it: a control block of type `C`
/// (the ring lays it out; the platform only places it), the data, and what
/// keeps both alive. Built by `in_mapping` and `heap` in real builds, `model`
/// under loom; the ring takes it apart into its `Shared`.
pub(crate) struct RingStorage<C> {
    /// Valid, aligned and only ever shared for as long as `owner` lives.
    control: NonNull<C>,
    memory: RingMemory,
    geometry: Geometry,
    owner: Box<dyn Send + Sync>,
}

impl<C> RingStorage<C> {
    /// The control block (valid, aligned and only ever shared for as long as
    /// the owner lives), the data, the geometry and the owner.
    pub(crate) fn into_parts(self) -> (NonNull<C>, RingMemory, Geometry, Box<dyn Send + Sync>) {
        (self.control, self.memory, self.geometry, self.owner)
    }
}

/// The peer's entry in a ring's control block, as liveness reads it: whether
/// the peer closed its end (then its death is no failure) and the pid it wrote
/// when it attached. The ring lays the entry out and implements this, so the
/// platform never names the ring's types.
pub(crate) trait PeerEntry {
    /// Whether the peer has closed its end (an acquire read).
    fn closed(&self) -> bool;
    /// The pid of the process attached as the peer, 0 while the end is free
    /// (an acquire read).
    fn pid(&self) -> u32;
}
