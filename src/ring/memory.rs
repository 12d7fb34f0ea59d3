//! The ring's data bytes, and the commit words inside them.
//!
//! Real builds address the shared mapping through raw pointers: no `&[u8]` over
//! memory the peer can write is ever formed here, and commit words are accessed
//! only as atomics. Under loom the data is an array of model atomics, so the model
//! checker sees every access the protocol makes.

#[cfg(loom)]
pub(crate) use model::RingMemory;
#[cfg(not(loom))]
pub(crate) use real::RingMemory;

#[cfg(not(loom))]
mod real {
    use crate::sync::AtomicU64;
    use std::ptr::NonNull;

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
    }
}

#[cfg(loom)]
mod model {
    use crate::sync::{AtomicU64, Ordering};

    pub(crate) struct RingMemory {
        words: Box<[AtomicU64]>,
        mask: u64,
    }

    impl RingMemory {
        pub(crate) fn new_model(capacity: u64) -> Self {
            RingMemory {
                words: (0..capacity / 8).map(|_| AtomicU64::new(0)).collect(),
                mask: capacity - 1,
            }
        }

        pub(crate) fn word(&self, pos: u64) -> &AtomicU64 {
            &self.words[((pos & self.mask) >> 3) as usize]
        }

        /// # Safety
        /// None under loom; kept `unsafe` to match the real signature.
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
        /// None under loom; kept `unsafe` to match the real signature.
        pub(crate) unsafe fn read(&self, off: u64, dst: &mut [u8]) {
            for (i, b) in dst.iter_mut().enumerate() {
                let at = off + i as u64;
                *b = (self.word(at).load(Ordering::Relaxed) >> ((at & 7) * 8)) as u8;
            }
        }
    }
}
