//! The ring protocol, independent of processes and wakeups.
//!
//! [`Shared`] is the memory two sides share; [`RingProducer`] and [`RingConsumer`]
//! hold each side's private state (its own position and a cached copy of the
//! peer's) and implement the non-blocking operations. Blocking, wakeups, liveness
//! and lifecycle live in `endpoint`.

pub(crate) mod consumer;
pub(crate) mod control;
pub(crate) mod memory;
pub(crate) mod producer;
pub(crate) mod record;

pub(crate) use consumer::{RecordRef, RingConsumer};
pub(crate) use control::Control;
pub(crate) use producer::{Reservation, RingProducer};

use crate::layout::Geometry;
use memory::RingMemory;

/// The shared part of a ring: control block, data, and whatever keeps them alive.
pub(crate) struct Shared {
    #[cfg(not(loom))]
    control: std::ptr::NonNull<Control>,
    #[cfg(loom)]
    control: Box<Control>,
    pub(crate) memory: RingMemory,
    pub(crate) geometry: Geometry,
    _owner: Box<dyn Send + Sync>,
}

// SAFETY: `Control` is all atomics and `RingMemory` is Sync; the raw pointer only
// refers to memory kept alive by `_owner`.
#[cfg(not(loom))]
unsafe impl Send for Shared {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl Sync for Shared {}

impl Shared {
    /// The control block.
    #[inline(always)]
    pub(crate) fn control(&self) -> &Control {
        #[cfg(not(loom))]
        // SAFETY: points into memory owned by `_owner` for as long as `self` lives,
        // aligned and sized for `Control` (see `from_mapping`), and a `Control` is
        // all atomics, valid for any bit pattern.
        unsafe {
            self.control.as_ref()
        }
        #[cfg(loom)]
        &self.control
    }

    /// Views a laid-out mapping (see `layout`) as a ring.
    ///
    /// # Safety
    /// `base` must be page aligned and valid for reads and writes of
    /// `geometry.total_len()` bytes for as long as `owner` lives.
    #[cfg(not(loom))]
    pub(crate) unsafe fn from_mapping(
        base: std::ptr::NonNull<u8>,
        geometry: Geometry,
        owner: Box<dyn Send + Sync>,
    ) -> Self {
        use crate::layout::{CONTROL_OFFSET, DATA_OFFSET};
        // SAFETY: both offsets lie inside the mapping (total_len > DATA_OFFSET) and
        // keep the 128-byte and 8-byte alignment the types need.
        let (control, data) = unsafe {
            (
                base.add(CONTROL_OFFSET).cast::<Control>(),
                base.add(DATA_OFFSET),
            )
        };
        Shared {
            control,
            // SAFETY: the data area is `capacity` bytes, page aligned, alive as long as `owner`.
            memory: unsafe { RingMemory::new(data, geometry.capacity) },
            geometry,
            _owner: owner,
        }
    }

    /// A ring in zeroed private heap memory, laid out exactly like a mapping: for
    /// tests, fuzzing and Miri, which cannot map shared memory.
    #[cfg(all(not(loom), any(test, feature = "fuzzing")))]
    pub(crate) fn heap(geometry: Geometry) -> Self {
        let block = HeapBlock::new(geometry.total_len() as usize);
        let base = block.0;
        // SAFETY: the block is page aligned, zeroed, `total_len` long, and owned by
        // the box handed over as owner.
        unsafe { Shared::from_mapping(base, geometry, Box::new(block)) }
    }

    /// A ring of loom model atomics.
    #[cfg(loom)]
    pub(crate) fn model(geometry: Geometry) -> Self {
        Shared {
            control: Box::new(Control::new_model()),
            memory: RingMemory::new_model(geometry.capacity),
            geometry,
            _owner: Box::new(()),
        }
    }
}

/// Page-aligned zeroed heap memory.
#[cfg(all(not(loom), any(test, feature = "fuzzing")))]
struct HeapBlock(std::ptr::NonNull<u8>, std::alloc::Layout);

#[cfg(all(not(loom), any(test, feature = "fuzzing")))]
impl HeapBlock {
    fn new(len: usize) -> Self {
        let layout =
            std::alloc::Layout::from_size_align(len, 4096).expect("ring size fits a Layout");
        // SAFETY: the layout has a non-zero size (at least DATA_OFFSET + 64).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        HeapBlock(ptr, layout)
    }
}

#[cfg(all(not(loom), any(test, feature = "fuzzing")))]
impl Drop for HeapBlock {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.0.as_ptr(), self.1) }
    }
}

// SAFETY: the block is plain memory owned uniquely by this value.
#[cfg(all(not(loom), any(test, feature = "fuzzing")))]
unsafe impl Send for HeapBlock {}
// SAFETY: as above; all concurrent access goes through `Shared`.
#[cfg(all(not(loom), any(test, feature = "fuzzing")))]
unsafe impl Sync for HeapBlock {}
