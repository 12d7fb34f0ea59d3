//! `limit`'s streaming bound: a plain spinning byte ring per direction.
//!
//! Layout of one ring: line 0 `head` (bytes written, u64), line 1 `tail`
//! (bytes read, u64), then `cap` data bytes (a power of two). The producer
//! copies with the C library's `memcpy` (what `ptr::copy_nonoverlapping`
//! compiles to for a length known only at run time) and stores `head`
//! (Release); the consumer loads `head` (Acquire), copies out into its own
//! buffer and stores `tail`. Each side rereads the other's counter only when
//! the span it knows of is used up.
//!
//! Both sides move at most [`PIECE`] bytes between two counter stores, so
//! that for big messages the consumer copies one piece while the producer
//! writes the next instead of waiting for the whole message. A producer that
//! finds the ring full waits for an eighth of it ([`LAG_DIVISOR`]) before it
//! writes again, so the consumer stays that far behind instead of both
//! trading the same line per message. `scripts/bound/bound.c --chunk --lag`
//! is the same ring in C; docs/measurements.md has the figures that chose the
//! copy routine, the piece and the lag.

use super::super::ring::spin_until;
use super::super::shm::Shm;
use super::super::{CellParams, Endpoint, XferError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const HEAD: usize = 0;
const TAIL: usize = 64;
const DATA: usize = 128;

/// Most bytes copied between two stores of a counter.
pub const PIECE: usize = 16 << 10;

/// How far ahead of its position the consumer prefetches (64 B stream: 1.5x
/// with it, 4 KiB and 64 KiB unchanged).
const READ_AHEAD: u64 = 512;

/// A producer out of room waits until this fraction of the ring is free, so
/// that it then writes a run of lines the consumer left long ago instead of
/// taking back, one message at a time, the line the consumer just read.
const LAG_DIVISOR: u64 = 8;

/// Bytes one ring of capacity `cap` occupies in the mapping.
fn region_len(cap: usize) -> usize {
    DATA + cap
}

/// Bytes of the mapping a cell needs: one ring per direction, each of the
/// capacity every shared-memory transport gets for this size.
pub fn mapping_len(p: &CellParams) -> usize {
    2 * region_len(super::super::ring_capacity(p.buffer_len()))
}

/// One ring in the shared mapping, seen from one side.
struct Ring {
    /// Keeps the mapping (and so the pointers below) alive.
    _shm: Arc<Shm>,
    head: *const AtomicU64,
    tail: *const AtomicU64,
    data: *mut u8,
    cap: u64,
}

impl Ring {
    fn new(shm: Arc<Shm>, off: usize, cap: usize) -> Ring {
        assert!(
            cap.is_power_of_two() && off + region_len(cap) <= shm.len(),
            "limit: ring layout outside the mapping"
        );
        let head: *const AtomicU64 = shm.atomic_u64(off + HEAD);
        let tail: *const AtomicU64 = shm.atomic_u64(off + TAIL);
        // SAFETY: `off + DATA + cap <= shm.len()` (checked above).
        let data = unsafe { shm.base().add(off + DATA) };
        Ring {
            _shm: shm,
            head,
            tail,
            data,
            cap: cap as u64,
        }
    }

    /// Ask for the line at counter `at` ahead of its use: a consumer behind
    /// the producer then has the next messages' lines on the way while it
    /// handles this one.
    #[inline]
    fn prefetch(&self, at: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let ahead = self.data.wrapping_add((at & (self.cap - 1)) as usize);
            // SAFETY: prefetching has no architectural effect and cannot
            // fault; the address is inside the data area anyway (masked).
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    ahead.cast::<i8>(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = at;
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: points into the mapping `_shm` keeps alive; checked aligned
        // and in bounds by `Shm::atomic_u64`; only accessed atomically.
        unsafe { &*self.head }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as in `head`.
        unsafe { &*self.tail }
    }

    /// Bytes that can move at once from counter `at`: at most `avail`,
    /// `left` and [`PIECE`], and not past the end of the data area.
    fn piece(&self, at: u64, avail: u64, left: usize) -> (usize, usize) {
        let pos = (at & (self.cap - 1)) as usize;
        let n = (avail as usize)
            .min(left)
            .min(PIECE)
            .min(self.cap as usize - pos);
        (pos, n)
    }
}

/// One side of a duplex: it writes one ring and reads the other.
pub struct StreamEnd {
    tx: Ring,
    head: u64,
    cached_tail: u64,
    rx: Ring,
    tail: u64,
    cached_head: u64,
    buf: Vec<u8>,
}

impl StreamEnd {
    /// The parent writes ring 0 and reads ring 1; the child the other way.
    pub fn new(shm: Shm, p: &CellParams, is_parent: bool) -> StreamEnd {
        let cap = super::super::ring_capacity(p.buffer_len());
        let shm = Arc::new(shm);
        let (out, inc) = if is_parent {
            (0, region_len(cap))
        } else {
            (region_len(cap), 0)
        };
        let tx = Ring::new(shm.clone(), out, cap);
        let rx = Ring::new(shm, inc, cap);
        let head = tx.head().load(Ordering::Acquire);
        let tail = rx.tail().load(Ordering::Acquire);
        StreamEnd {
            tx,
            head,
            cached_tail: head,
            rx,
            tail,
            cached_head: tail,
            buf: vec![0; p.buffer_len()],
        }
    }
}

impl Endpoint for StreamEnd {
    #[inline]
    fn send(&mut self, mut msg: &[u8]) -> Result<(), XferError> {
        let cap = self.tx.cap;
        while !msg.is_empty() {
            let mut free = cap - self.head.wrapping_sub(self.cached_tail);
            if free == 0 {
                let ring = &self.tx;
                let head = self.head;
                let mut tail = 0;
                let lag = cap / LAG_DIVISOR;
                spin_until(|| {
                    tail = ring.tail().load(Ordering::Acquire);
                    cap - head.wrapping_sub(tail) >= lag
                })?;
                self.cached_tail = tail;
                free = cap - self.head.wrapping_sub(tail);
            }
            let (pos, n) = self.tx.piece(self.head, free, msg.len());
            // SAFETY: [pos, pos+n) lies inside the data area (n <= cap - pos)
            // and inside the free part of the ring (n <= free), which the
            // consumer does not read until the Release store of `head` below.
            unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), self.tx.data.add(pos), n) };
            self.head = self.head.wrapping_add(n as u64);
            self.tx.head().store(self.head, Ordering::Release);
            msg = &msg[n..];
        }
        Ok(())
    }

    #[inline]
    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let mut done = 0;
        while done < len {
            let mut avail = self.cached_head.wrapping_sub(self.tail);
            if avail == 0 {
                let ring = &self.rx;
                let tail = self.tail;
                let mut head = tail;
                spin_until(|| {
                    head = ring.head().load(Ordering::Acquire);
                    head != tail
                })?;
                self.cached_head = head;
                avail = head.wrapping_sub(tail);
            }
            let (pos, n) = self.rx.piece(self.tail, avail, len - done);
            self.rx.prefetch(self.tail + READ_AHEAD);
            // SAFETY: [pos, pos+n) is inside the data area and inside the
            // published part of the ring (the Acquire load of `head` ordered
            // the producer's writes before this read); the producer does not
            // overwrite it until `tail` moves past it below. `buf[done..done+n]`
            // is in bounds (done + n <= len <= buf.len()).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.rx.data.add(pos),
                    self.buf.as_mut_ptr().add(done),
                    n,
                )
            };
            self.tail = self.tail.wrapping_add(n as u64);
            self.rx.tail().store(self.tail, Ordering::Release);
            done += n;
        }
        consume(&self.buf[..len]);
        Ok(())
    }
}
