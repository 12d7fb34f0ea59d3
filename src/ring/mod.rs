//! The ring protocol, independent of processes and wakeups.
//!
//! [`Shared`] is the memory two sides share; [`RingProducer`] and [`RingConsumer`]
//! hold each side's private state (its own position and a cached copy of the
//! peer's) and implement the non-blocking operations. Blocking, wakeups, liveness
//! and lifecycle live in `endpoint`.

pub(crate) mod consumer;
pub(crate) mod control;
pub(crate) mod producer;
pub(crate) mod record;

pub(crate) use consumer::{RecordRef, RingConsumer};
pub(crate) use control::Control;
pub(crate) use producer::{Reservation, RingProducer};

use crate::layout::Geometry;
use crate::platform::{Doorbells, RingMemory, RingStorage};
use std::ptr::NonNull;

/// The shared part of a ring: control block, data, the doorbells of eventfd
/// wakeups, and whatever keeps them alive. Built over the storage the platform
/// backend provides (`RingStorage::in_mapping` and `RingStorage::heap` in real
/// builds, `RingStorage::model` under loom).
pub(crate) struct Shared {
    control: NonNull<Control>,
    pub(crate) memory: RingMemory,
    pub(crate) geometry: Geometry,
    /// The wake sockets both sides share, for eventfd wakeups.
    pub(crate) doorbells: Option<Doorbells>,
    _owner: Box<dyn Send + Sync>,
}

// SAFETY: `Control` is all atomics (and futex words) and `RingMemory` is Sync;
// the raw pointer only refers to memory kept alive by `_owner`.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// A ring over `storage`; `doorbells` are the wake sockets of eventfd
    /// wakeups, if the ring uses them.
    pub(crate) fn new(storage: RingStorage<Control>, doorbells: Option<Doorbells>) -> Self {
        let (control, memory, geometry, owner) = storage.into_parts();
        Shared {
            control,
            memory,
            geometry,
            doorbells,
            _owner: owner,
        }
    }

    /// The control block.
    #[inline(always)]
    pub(crate) fn control(&self) -> &Control {
        // SAFETY: points to a `Control` kept alive by `_owner` for as long as
        // `self` lives and only ever shared (the storage's guarantee).
        unsafe { self.control.as_ref() }
    }
}
