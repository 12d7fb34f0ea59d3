//! The consumer's half of the ring protocol. Everything it reads from shared
//! memory is checked before use: a bad word is a `Corruption`, never a panic, an
//! out-of-bounds access or an endless loop.

use super::record::{self, Word};
use super::Shared;
use crate::error::Corruption;
use crate::layout::{Geometry, RECORD_HEADER};
use crate::platform::{self, Ordering};
use std::sync::Arc;

/// A published record, validated: its payload lies inside the ring.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordRef {
    /// Free-running position of the commit word.
    pub pos: u64,
    /// Ring offset of the payload.
    pub offset: u64,
    /// Payload length.
    pub len: u64,
    /// A connection's control record, not a user message.
    pub control: bool,
}

pub(crate) struct RingConsumer {
    shared: Arc<Shared>,
    geometry: Geometry,
    /// Position of the next record to read.
    head: u64,
    /// The position last published to the producer (`<= head`).
    published: u64,
    /// The position last announced: published with the caller told to wake a
    /// producer asleep for room (`<= published`).
    announced: u64,
    /// Announce once this many bytes were released since the last announcement.
    batch: u64,
}

// The one-compare fast path of `peek` relies on a padding word's length being
// above every message limit.
const _: () = assert!(crate::layout::MAX_CAPACITY / 2 < record::PADDING as u64);

/// Largest publication batch: the producer learns of freed space at least
/// every 32 KiB (and whenever the ring runs empty or it waits).
const MAX_BATCH: u64 = 32 << 10;

impl RingConsumer {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Self, Corruption> {
        let geometry = shared.geometry;
        let head = shared.control().head.head.load(Ordering::Acquire);
        if head != 0 {
            return Err(Corruption::new(format!(
                "consumer position {head} on a ring whose consumer has not started"
            )));
        }
        Ok(RingConsumer {
            shared,
            geometry,
            head,
            published: head,
            announced: head,
            batch: (geometry.capacity / platform::BATCH_DIVISOR).min(MAX_BATCH),
        })
    }

    /// The next record, if one is published. Skips (at most one) padding record.
    #[inline]
    pub(crate) fn peek(&mut self) -> Result<Option<RecordRef>, Corruption> {
        let g = self.geometry;
        let pos = self.head;
        let word = self.shared.memory.word(pos).load(Ordering::Acquire);
        let offset = pos & g.mask;
        // The common case in one compare: subtracting this lap's tag leaves the
        // length only for a record of this lap (a zero word, another lap's tag
        // or a padding record leaves a value far above any limit), and the
        // length must be within the maximum and leave the record inside the
        // ring. Everything else takes the full classification below.
        let len = word.wrapping_sub(u64::from(record::tag(pos, g.cap_log2)) << 32);
        if len <= g.max_message.min(g.capacity - offset - RECORD_HEADER) {
            return Ok(Some(RecordRef {
                pos,
                offset: offset + RECORD_HEADER,
                len,
                control: false,
            }));
        }
        if word == 0 {
            return Ok(None);
        }
        self.peek_slow()
    }

    /// [`peek`](Self::peek) for everything but a plain record or an empty
    /// word: padding, the previous lap's header, and corruption.
    #[inline(never)]
    fn peek_slow(&mut self) -> Result<Option<RecordRef>, Corruption> {
        let g = self.geometry;
        for _ in 0..2 {
            let pos = self.head;
            let word = self.shared.memory.word(pos).load(Ordering::Acquire);
            match record::decode(word, pos, g.cap_log2) {
                Word::Empty => return Ok(None),
                Word::Record(len) => {
                    let len = u64::from(len);
                    let offset = pos & g.mask;
                    if len > g.max_message {
                        return Err(Corruption::new(format!(
                            "record at position {pos} claims {len} bytes, more than the maximum {}",
                            g.max_message
                        )));
                    }
                    if offset + Geometry::record_size(len) > g.capacity {
                        return Err(Corruption::new(format!(
                            "record at position {pos} of {len} bytes runs past the end of the ring"
                        )));
                    }
                    return Ok(Some(RecordRef {
                        pos,
                        offset: offset + RECORD_HEADER,
                        len,
                        control: false,
                    }));
                }
                Word::Control(len) => {
                    let offset = pos & g.mask;
                    if len > record::MAX_CONTROL
                        || offset + Geometry::record_size(u64::from(len)) > g.capacity
                    {
                        return Err(Corruption::new(format!(
                            "control record at position {pos} of {len} bytes is too long or runs past the end of the ring"
                        )));
                    }
                    return Ok(Some(RecordRef {
                        pos,
                        offset: offset + RECORD_HEADER,
                        len: u64::from(len),
                        control: true,
                    }));
                }
                Word::Padding => {
                    let offset = pos & g.mask;
                    if offset == 0 {
                        return Err(Corruption::new(format!(
                            "padding record at position {pos}, the start of the ring"
                        )));
                    }
                    // Skip to the next lap; published together with the record after it.
                    self.head = pos + (g.capacity - offset);
                }
                Word::Foreign { found, expected } => {
                    return Err(Corruption::new(format!(
                        "commit word {word:#018x} at position {pos}: lap tag {found:#x}, expected {expected:#x}"
                    )))
                }
            }
        }
        Err(Corruption::new(format!(
            "two padding records in a row before position {}",
            self.head
        )))
    }

    /// Starts fetching the lines `distance` bytes past the end of `rec`: called
    /// while this side is behind the producer, where those records are
    /// finished and each would otherwise be a miss that the next header's
    /// address depends on.
    #[inline(always)]
    pub(crate) fn read_ahead(&self, rec: &RecordRef, distance: u64) {
        self.shared.memory.prefetch(rec.offset + rec.len + distance);
    }

    /// Copies the record's payload into `dst` (`dst.len() == rec.len`).
    #[inline(always)]
    pub(crate) fn copy_out(&self, rec: &RecordRef, dst: &mut [u8]) {
        debug_assert_eq!(dst.len() as u64, rec.len);
        // SAFETY: `peek` checked offset + len lies inside the ring.
        unsafe { self.shared.memory.read(rec.offset, dst) }
    }

    /// Copies the record's payload to `dst`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `rec.len` bytes.
    #[inline(always)]
    pub(crate) unsafe fn copy_out_raw(&self, rec: &RecordRef, dst: *mut u8) {
        // SAFETY: `peek` checked the source lies inside the ring; the caller
        // guarantees the destination.
        unsafe {
            self.shared
                .memory
                .read_raw(rec.offset, dst, rec.len as usize)
        }
    }

    /// Pointer to the record's payload.
    #[inline(always)]
    pub(crate) fn payload_ptr(&self, rec: &RecordRef) -> *const u8 {
        self.shared.memory.ptr(rec.offset)
    }

    /// Frees a record's space. The new position is announced in batches, so
    /// that a producer running ahead of a full ring does not pull the
    /// position's cache line across on every message, and a producer asleep
    /// for room is woken once per batch instead of once per message: once
    /// `batch` bytes (capacity/8, at most 32 KiB) are freed here, and by the
    /// endpoint whenever the ring runs empty. Returns whether this release
    /// announced, so the caller must wake a producer that sleeps.
    #[inline]
    pub(crate) fn release(&mut self, rec: RecordRef) -> bool {
        self.head = rec.pos + Geometry::record_size(rec.len);
        if self.head - self.announced >= self.batch {
            self.publish();
            return true;
        }
        false
    }

    /// Makes the position visible without announcing it: a producer asleep
    /// for room finds it when its wait next re-checks (at the latest after its
    /// liveness interval), and is woken at the next announcement.
    #[inline]
    pub(crate) fn publish_quietly(&mut self) {
        if self.published != self.head {
            self.published = self.head;
            self.store_head();
        }
    }

    /// Announces how far this side has read: publishes it, and tells the
    /// caller to wake a producer asleep for room. Returns whether there was
    /// anything new to announce.
    #[inline]
    pub(crate) fn publish(&mut self) -> bool {
        if self.announced == self.head {
            return false;
        }
        self.announced = self.head;
        self.publish_quietly();
        true
    }

    #[inline(always)]
    fn store_head(&self) {
        self.shared
            .control()
            .head
            .head
            .store(self.head, Ordering::Release);
    }
}
