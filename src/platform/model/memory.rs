//! The ring's memory as loom model atomics, so that the model checker sees
//! every access the protocol makes: the control block is built of model
//! atomics, and the data is one model `AtomicU64` per 8 bytes, written and read
//! bytewise with relaxed ordering (as the real copies are unordered).

use super::AtomicU64;
use crate::layout::Geometry;
use crate::platform::{Ordering, RingStorage};
use std::ptr::NonNull;
use std::sync::Arc;

/// The data area of a ring.
pub(crate) struct RingMemory {
    words: Box<[AtomicU64]>,
    mask: u64,
}

impl RingMemory {
    fn new(capacity: u64) -> Self {
        RingMemory {
            words: (0..capacity / 8).map(|_| AtomicU64::new(0)).collect(),
            mask: capacity - 1,
        }
    }

    pub(crate) fn word(&self, pos: u64) -> &AtomicU64 {
        &self.words[((pos & self.mask) >> 3) as usize]
    }

    fn byte(&self, at: u64) -> u8 {
        (self.word(at).load(Ordering::Relaxed) >> ((at & 7) * 8)) as u8
    }

    /// Raw views of the data are outside the model: the loom models go through
    /// the copying calls, and the zero-copy accessors built on this are never
    /// reached under loom.
    pub(crate) fn ptr(&self, _off: u64) -> *mut u8 {
        unreachable!("raw pointers into ring memory are not modelled; use the copying calls")
    }

    /// A cache hint: nothing to model.
    pub(crate) fn prefetch(&self, _off: u64) {}

    /// A cache hint: nothing to model.
    pub(crate) fn prefetch_write(&self, _off: u64) {}

    /// # Safety
    /// None under loom (bounds are checked); `unsafe` to match the real signature.
    pub(crate) unsafe fn write(&self, off: u64, src: &[u8]) {
        for (i, b) in src.iter().enumerate() {
            let at = off + i as u64;
            let w = self.word(at);
            let shift = (at & 7) * 8;
            let old = w.load(Ordering::Relaxed);
            w.store(
                (old & !(0xff << shift)) | (u64::from(*b) << shift),
                Ordering::Relaxed,
            );
        }
    }

    /// # Safety
    /// None under loom (bounds are checked); `unsafe` to match the real signature.
    pub(crate) unsafe fn read(&self, off: u64, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            *b = self.byte(off + i as u64);
        }
    }

    /// # Safety
    /// `dst` must be valid for writes of `len` bytes.
    pub(crate) unsafe fn read_raw(&self, off: u64, dst: *mut u8, len: usize) {
        for i in 0..len {
            // SAFETY: `i < len`, inside the destination by the caller's contract.
            unsafe { dst.add(i).write(self.byte(off + i as u64)) };
        }
    }
}

impl<C: Default + Send + Sync + 'static> RingStorage<C> {
    /// A ring of model atomics, its control block on the heap.
    pub(crate) fn model(geometry: Geometry) -> Self {
        // An `Arc` (not a `Box`) keeps the pointer valid when the owner moves.
        let control = Arc::new(C::default());
        RingStorage {
            control: NonNull::from(&*control),
            memory: RingMemory::new(geometry.capacity),
            geometry,
            owner: Box::new(control),
        }
    }
}
