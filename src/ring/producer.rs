//! The producer's half of the ring protocol.

use super::record::{self, PADDING};
use super::Shared;
use crate::error::Corruption;
use crate::layout::Geometry;
use crate::platform::Ordering;
use std::sync::Arc;

/// Space reserved for one record, not yet published.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation {
    /// Free-running position of the record's commit word.
    pub start: u64,
    /// Position of a padding record to publish in front of it, when the record
    /// did not fit before the end of the ring.
    pub padding_at: Option<u64>,
    /// Payload bytes reserved.
    pub len: u64,
}

impl Reservation {
    /// Ring offset of the payload.
    #[inline(always)]
    pub(crate) fn payload_offset(&self, g: &Geometry) -> u64 {
        (self.start & g.mask) + crate::layout::RECORD_HEADER
    }
}

/// Why a reservation failed.
#[derive(Debug)]
pub(crate) enum ReserveError {
    TooLarge,
    /// Not enough free space; `needed` bytes from the tail.
    Full {
        needed: u64,
    },
    Corrupted(Corruption),
}

pub(crate) struct RingProducer {
    shared: Arc<Shared>,
    geometry: Geometry,
    /// Next write position (everything before it is committed).
    tail: u64,
    /// Last consumer position read from shared memory.
    cached_head: u64,
    /// Every commit word in `[tail, zeroed_end)` is known to be zero (a fresh
    /// ring is all zeros). Lets a commit skip zeroing the word after its record.
    zeroed_end: u64,
    /// A write grant was handed out and not yet committed.
    grant_open: bool,
}

/// How far past the tail the producer keeps commit words zeroed, after each
/// publication: the stores (and the cache-line ownership they need) then happen
/// while the producer waits, not between filling a record and publishing it.
const ZERO_AHEAD: u64 = 512;

/// How far past the tail the producer asks for cache lines in writable state,
/// after each publication (further than the zeroing, so that those stores
/// find their lines already owned).
const CLAIM_AHEAD: u64 = 2048;

impl RingProducer {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Self, Corruption> {
        let geometry = shared.geometry;
        let head = shared.control().head.head.load(Ordering::Acquire);
        if head != 0 {
            return Err(Corruption::new(format!(
                "consumer position {head} on a ring whose producer has not started"
            )));
        }
        Ok(RingProducer {
            shared,
            geometry,
            tail: 0,
            cached_head: 0,
            zeroed_end: geometry.capacity,
            grant_open: false,
        })
    }

    /// Bytes in the ring as this side last saw it (its own position against
    /// the consumer's last read one): no shared line is touched.
    pub(crate) fn used(&self) -> u64 {
        self.tail.wrapping_sub(self.cached_head)
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Re-reads the consumer's position and checks it against what is possible.
    fn refresh_head(&mut self) -> Result<(), Corruption> {
        let head = self.shared.control().head.head.load(Ordering::Acquire);
        if head % 8 != 0 || head < self.cached_head || head > self.tail {
            return Err(Corruption::new(format!(
                "consumer position {head} is impossible: previous {}, producer at {}",
                self.cached_head, self.tail
            )));
        }
        self.cached_head = head;
        Ok(())
    }

    /// Whether a record of `len` bytes fits now (re-reading the consumer's position).
    pub(crate) fn has_room(&mut self, len: u64) -> Result<bool, Corruption> {
        let end = self.end_of(len).1;
        self.fits(end)
    }

    /// Whether the ring has room up to position `end`: first by the cached
    /// consumer position, and only when that says no, by re-reading it.
    #[inline(always)]
    fn fits(&mut self, end: u64) -> Result<bool, Corruption> {
        if end <= self.cached_head + self.geometry.capacity {
            return Ok(true);
        }
        self.refresh_head()?;
        Ok(end <= self.cached_head + self.geometry.capacity)
    }

    /// Where a record of `len` bytes would start and end, padding included.
    #[inline(always)]
    fn end_of(&self, len: u64) -> (u64, u64) {
        let rec = Geometry::record_size(len);
        let to_end = self.geometry.capacity - (self.tail & self.geometry.mask);
        let start = if rec <= to_end {
            self.tail
        } else {
            self.tail + to_end
        };
        (start, start + rec)
    }

    /// Reserves room for a record of `len` payload bytes.
    #[inline]
    pub(crate) fn try_reserve(&mut self, len: u64) -> Result<Reservation, ReserveError> {
        if self.grant_open {
            // The previous grant was dropped uncommitted: what it wrote is stale.
            self.grant_open = false;
            self.zeroed_end = self.zeroed_end.min(self.tail);
        }
        if len > self.geometry.max_message {
            return Err(ReserveError::TooLarge);
        }
        let (start, end) = self.end_of(len);
        if !self.fits(end).map_err(ReserveError::Corrupted)? {
            return Err(ReserveError::Full {
                needed: end - self.tail,
            });
        }
        Ok(Reservation {
            start,
            padding_at: (start != self.tail).then_some(self.tail),
            len,
        })
    }

    /// Copies `bytes` into the reservation at `offset` (bounds already checked).
    #[inline(always)]
    pub(crate) fn write(&self, r: &Reservation, offset: u64, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() as u64 <= r.len);
        // SAFETY: the reservation lies in free space (checked in `try_reserve`), is
        // contiguous, and the caller keeps offset + len within the reserved length.
        unsafe {
            self.shared
                .memory
                .write(r.payload_offset(&self.geometry) + offset, bytes)
        }
    }

    /// Pointer to the reservation's payload.
    #[inline(always)]
    pub(crate) fn payload_ptr(&self, r: &Reservation) -> *mut u8 {
        self.shared.memory.ptr(r.payload_offset(&self.geometry))
    }

    /// Publishes the reservation with `len <= r.len` payload bytes.
    #[inline]
    pub(crate) fn commit(&mut self, r: Reservation, len: u64) {
        self.commit_as(r, len, 0);
    }

    /// Publishes the reservation as a control record (`len <= MAX_CONTROL`).
    pub(crate) fn commit_control(&mut self, r: Reservation, len: u64) {
        debug_assert!(len <= u64::from(record::MAX_CONTROL));
        self.commit_as(r, len, record::CONTROL_BIT);
    }

    #[inline(always)]
    fn commit_as(&mut self, r: Reservation, len: u64, kind: u32) {
        debug_assert!(len <= r.len);
        self.grant_open = false;
        let g = self.geometry;
        let memory = &self.shared.memory;
        let new_tail = r.start + Geometry::record_size(len);
        let free_end = self.cached_head + g.capacity;
        if len < r.len {
            // Bytes written past the shortened record are stale payload.
            self.zeroed_end = self.zeroed_end.min(new_tail);
        }
        // The word past the record must read as "not yet" when the consumer
        // arrives there, so stale payload bytes are never taken for a header.
        // Usually zeroed ahead already. Never needed when the ring is exactly
        // full: that word is then the header of the record at the consumer's
        // position, one lap old, which its tag already rejects.
        if new_tail >= self.zeroed_end && new_tail < free_end {
            memory.word(new_tail).store(0, Ordering::Relaxed);
            self.zeroed_end = new_tail + 8;
        }
        memory.word(r.start).store(
            record::encode(r.start, g.cap_log2, kind | len as u32),
            Ordering::Release,
        );
        // Padding goes last: a consumer that sees it also sees the record after it.
        if let Some(at) = r.padding_at {
            memory
                .word(at)
                .store(record::encode(at, g.cap_log2, PADDING), Ordering::Release);
        }
        self.tail = new_tail;
        // Zero ahead for the next records, off the critical path. Only free
        // space, never the word at `free_end` (see above).
        let target = (new_tail + ZERO_AHEAD).min(free_end);
        let mut at = self.zeroed_end.max(new_tail);
        while at < target {
            memory.word(at).store(0, Ordering::Relaxed);
            at += 8;
        }
        self.zeroed_end = self.zeroed_end.max(target);
        if new_tail + CLAIM_AHEAD < free_end {
            memory.prefetch_write(new_tail + CLAIM_AHEAD);
        }
    }

    /// A write grant over the last reservation is now in the user's hands.
    #[inline]
    pub(crate) fn grant_opened(&mut self) {
        self.grant_open = true;
    }
}
