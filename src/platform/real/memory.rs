//! The ring's memory: a shared mapping, or page-aligned heap memory laid out
//! the same way (tests, fuzzing, Miri), addressed through raw pointers. No
//! `&[u8]` over memory the peer can write is ever formed here, and commit words
//! are accessed only as atomics.

use crate::layout::{Geometry, CONTROL_OFFSET, DATA_OFFSET};
use crate::platform::RingStorage;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// The data area of a ring.
pub(crate) struct RingMemory {
    base: NonNull<u8>,
    mask: u64,
}

// SAFETY: the memory is shared by design; every access goes through atomics or
// raw copies whose bounds the ring protocol checks.
unsafe impl Send for RingMemory {}
// SAFETY: as above.
unsafe impl Sync for RingMemory {}

impl RingMemory {
    /// # Safety
    /// `base` must be 8-byte aligned and valid for reads and writes of
    /// `capacity` bytes for as long as this value lives.
    pub(crate) unsafe fn new(base: NonNull<u8>, capacity: u64) -> Self {
        RingMemory {
            base,
            mask: capacity - 1,
        }
    }

    /// The commit word at (8-aligned) position `pos`, wrapped into the ring.
    #[inline(always)]
    pub(crate) fn word(&self, pos: u64) -> &AtomicU64 {
        let off = (pos & self.mask & !7) as usize;
        // SAFETY: `off` is within the ring (masked) and 8-aligned, the base is
        // 8-aligned and valid for the ring's life (constructor contract), and
        // this memory is only ever accessed atomically at word granularity.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// Address of byte `off` of the ring (`off < capacity`).
    #[inline(always)]
    pub(crate) fn ptr(&self, off: u64) -> *mut u8 {
        // SAFETY: masking keeps the offset inside the mapping.
        unsafe { self.base.as_ptr().add((off & self.mask) as usize) }
    }

    /// Hints the CPU to fetch the cache line holding byte `off` of the ring
    /// (wrapped): a read-ahead that overlaps the misses of a reader behind
    /// the writer. Only a hint: no access is made, nothing can fault.
    #[inline(always)]
    pub(crate) fn prefetch(&self, off: u64) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: prefetching has no architectural effect; the address is
        // inside the mapping anyway (masked by `ptr`).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                self.ptr(off).cast::<i8>(),
            )
        };
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        let _ = off;
    }

    /// Hints the CPU to fetch the cache line holding byte `off` of the ring
    /// for writing (`prefetchw`): the producer claims lines ahead of its
    /// tail so that the ownership transfer (a round trip to the core that
    /// last read them) overlaps with other work instead of stalling the
    /// stores that fill a record. Only a hint; nothing can fault.
    #[inline(always)]
    pub(crate) fn prefetch_write(&self, off: u64) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: prefetchw has no architectural effect and cannot fault
        // (a no-op on CPUs without it); the address is inside the mapping.
        unsafe {
            std::arch::asm!(
                "prefetchw [{p}]",
                p = in(reg) self.ptr(off),
                options(nostack, preserves_flags, readonly)
            )
        };
        #[cfg(not(all(target_arch = "x86_64", not(miri))))]
        let _ = off;
    }

    /// Copies `src` into the ring at `off`.
    ///
    /// # Safety
    /// `off + src.len() <= capacity`, and the range is free space owned by the
    /// producer (not published, not being read).
    #[inline(always)]
    pub(crate) unsafe fn write(&self, off: u64, src: &[u8]) {
        // SAFETY: in bounds by the caller's contract; `src` is local memory and
        // cannot overlap the mapping's free space.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr(off), src.len()) }
    }

    /// Copies ring bytes at `off` into `dst`.
    ///
    /// # Safety
    /// `off + dst.len() <= capacity`.
    #[inline(always)]
    pub(crate) unsafe fn read(&self, off: u64, dst: &mut [u8]) {
        // SAFETY: in bounds by the caller's contract. A hostile peer may change
        // the bytes while they are copied; the copy is then torn, never out of
        // bounds, and the caller's buffer is stable once this returns.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(off), dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `len` ring bytes at `off` to `dst`, which need not be initialised.
    ///
    /// # Safety
    /// `off + len <= capacity`, and `dst` is valid for writes of `len` bytes
    /// outside the ring.
    #[inline(always)]
    pub(crate) unsafe fn read_raw(&self, off: u64, dst: *mut u8, len: usize) {
        // SAFETY: as `read`, with the destination vouched for by the caller.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(off), dst, len) }
    }
}

impl<C> RingStorage<C> {
    /// Views a laid-out mapping (see `layout`): the control block at
    /// `CONTROL_OFFSET`, the data at `DATA_OFFSET`.
    ///
    /// # Safety
    /// `base` must be page aligned and valid for reads and writes of
    /// `geometry.total_len()` bytes for as long as `owner` lives; the bytes at
    /// `CONTROL_OFFSET` must be a valid `C` (any bit pattern is one for a block
    /// of atomics), only ever accessed through shared references.
    pub(crate) unsafe fn in_mapping(
        base: NonNull<u8>,
        geometry: Geometry,
        owner: Box<dyn Send + Sync>,
    ) -> Self {
        // The control block fits, aligned, between the header and the data.
        const {
            assert!(CONTROL_OFFSET + std::mem::size_of::<C>() <= DATA_OFFSET);
            assert!(CONTROL_OFFSET % std::mem::align_of::<C>() == 0);
        }
        // SAFETY: both offsets lie inside the mapping (total_len > DATA_OFFSET);
        // the page-aligned base keeps the 8-byte alignment of the data and the
        // control block's (asserted above).
        let (control, data) =
            unsafe { (base.add(CONTROL_OFFSET).cast::<C>(), base.add(DATA_OFFSET)) };
        RingStorage {
            control,
            // SAFETY: the data area is `capacity` bytes, page aligned and alive
            // as long as `owner` (this function's contract).
            memory: unsafe { RingMemory::new(data, geometry.capacity) },
            geometry,
            owner,
        }
    }

    /// A ring in private heap memory, laid out exactly like a mapping, with a
    /// fresh control block: for tests, fuzzing and Miri, which cannot map
    /// shared memory.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn heap(geometry: Geometry) -> Self
    where
        C: Default,
    {
        let block = HeapBlock::new(geometry.total_len() as usize);
        let base = block.0;
        // SAFETY: the block is `total_len` bytes (past DATA_OFFSET) and page
        // aligned, so the control area is in bounds and aligned for `C` (the
        // asserts of `in_mapping`); nothing else refers to it yet.
        unsafe { base.add(CONTROL_OFFSET).cast::<C>().write(C::default()) };
        // SAFETY: the block is page aligned, `total_len` long, holds a `C` at
        // CONTROL_OFFSET, and is owned by the box handed over as owner.
        unsafe { Self::in_mapping(base, geometry, Box::new(block)) }
    }
}

/// Page-aligned zeroed heap memory.
#[cfg(any(test, feature = "fuzzing"))]
struct HeapBlock(NonNull<u8>, std::alloc::Layout);

#[cfg(any(test, feature = "fuzzing"))]
impl HeapBlock {
    fn new(len: usize) -> Self {
        let layout =
            std::alloc::Layout::from_size_align(len, 4096).expect("ring size fits a Layout");
        // SAFETY: the layout has a non-zero size (at least DATA_OFFSET + 64).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        HeapBlock(ptr, layout)
    }
}

#[cfg(any(test, feature = "fuzzing"))]
impl Drop for HeapBlock {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.0.as_ptr(), self.1) }
    }
}

// SAFETY: the block is plain memory owned uniquely by this value.
#[cfg(any(test, feature = "fuzzing"))]
unsafe impl Send for HeapBlock {}
// SAFETY: as above; all concurrent access goes through `Shared`.
#[cfg(any(test, feature = "fuzzing"))]
unsafe impl Sync for HeapBlock {}
