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
