//! A shared mapping both processes see: a memfd, mapped `MAP_SHARED`, whose
//! fd is inherited by the child. No name to clean up: the memory goes away
//! with the last fd and mapping.

use anyhow::Context;
use memmap2::MmapMut;
use rustix::fs::{memfd_create, MemfdFlags};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// A shared mapping; all offsets handed out are checked against its length.
pub(crate) struct Shm {
    map: MmapMut,
}

impl Shm {
    /// Create a zero-filled memfd of `len` bytes and map it. Returns the fd
    /// for the child.
    pub(crate) fn create(name: &str, len: usize) -> anyhow::Result<(Shm, OwnedFd)> {
        let fd = memfd_create(name, MemfdFlags::CLOEXEC).context("memfd_create")?;
        let file = File::from(fd);
        file.set_len(len as u64).context("memfd: set size")?;
        let shm = Self::map(&file)?;
        Ok((shm, OwnedFd::from(file)))
    }

    /// Map a memfd received from the parent.
    pub(crate) fn attach(fd: OwnedFd) -> anyhow::Result<Shm> {
        Self::map(&File::from(fd))
    }

    fn map(file: &File) -> anyhow::Result<Shm> {
        // SAFETY: MAP_SHARED of a memfd only this benchmark's two processes
        // hold. memmap2 requires that nobody truncates or modifies the file
        // behind our back in ways that break Rust aliasing: the other process
        // does write to it, so we never create references to the mapped bytes
        // except atomics (sound under concurrent access) and short-lived raw
        // copies ordered by those atomics (see `ring` and `limit`).
        let map = unsafe { MmapMut::map_mut(file) }.context("mmap shared memfd")?;
        Ok(Shm { map })
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Base address of the mapping (stable for the mapping's lifetime).
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.as_ptr() as *mut u8
    }

    /// The 4-byte atomic at `off`.
    ///
    /// # Panics
    /// If `off` is misaligned or out of bounds (a layout bug, not input).
    pub(crate) fn atomic_u32(&self, off: usize) -> &AtomicU32 {
        assert!(
            off.is_multiple_of(4) && off + 4 <= self.len(),
            "bad atomic offset {off}"
        );
        // SAFETY: in bounds and aligned (checked above; the mapping is page
        // aligned); the memory lives as long as `self`; every access to these
        // bytes from either process goes through atomics.
        unsafe { &*(self.base().add(off) as *const AtomicU32) }
    }

    /// The 8-byte atomic at `off`; same rules as [`Shm::atomic_u32`].
    pub(crate) fn atomic_u64(&self, off: usize) -> &AtomicU64 {
        assert!(
            off.is_multiple_of(8) && off + 8 <= self.len(),
            "bad atomic offset {off}"
        );
        // SAFETY: as in `atomic_u32`: aligned, in bounds, outlived by the map,
        // only ever accessed atomically.
        unsafe { &*(self.base().add(off) as *const AtomicU64) }
    }
}
