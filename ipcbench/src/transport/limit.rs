//! `limit`: the hardware lower bound, no kernel involved after setup: the
//! best simple program of each shape, checked against the same program in C
//! (`scripts/bound-check.sh`, figures in docs/measurements.md).
//!
//! Latency: each direction is a mailbox the sender fills and the receiver
//! spins on; strict ping-pong (the latency protocol) makes that safe, since a
//! sender never writes again before the reply arrived. Message `n` goes to a
//! slot: the sender copies the payload (into the slot's first 64-byte line
//! after the 8-byte sequence number when it fits in 56 bytes, else into the
//! lines right after it) and then stores `n` as the sequence number
//! (Release); the receiver spins with the pause hint until the slot shows `n`
//! (Acquire) and copies out.
//!
//! A payload that fits inline uses one fixed slot per direction: one cache
//! line moving each way, nothing else on the path. A larger payload goes to
//! the next of as many slots as fill the ring a shared-memory transport gets
//! for the size ([`super::ring_capacity`]): a sender that refilled one fixed
//! area would first have to take back every line the receiver still holds,
//! which costs more than writing lines the receiver has not touched for a
//! while (measured with `scripts/bound/bound.c --slots fixed|moving`).
//!
//! Throughput: a plain spinning byte ring per direction, see `stream`.

mod stream;

use super::ring;
use super::shm::Shm;
use super::{take_fds, CellParams, Endpoint, Handoff, Kind, Transport, XferError};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) struct Limit;

/// Payload bytes that fit in a slot's first line after the sequence number.
const INLINE: usize = 56;

/// Bytes of one slot: the sequence line, plus the payload lines when the
/// payload does not fit inline.
fn slot_stride(buffer_len: usize) -> usize {
    64 + if buffer_len > INLINE {
        buffer_len.next_multiple_of(64)
    } else {
        0
    }
}

/// Bytes of one direction's slots: one slot for an inline payload, else whole
/// slots filling the ring capacity a shared-memory transport gets for this
/// size.
fn slot_ring_len(buffer_len: usize) -> usize {
    let stride = slot_stride(buffer_len);
    if buffer_len <= INLINE {
        return stride;
    }
    (super::ring_capacity(buffer_len) / stride).max(1) * stride
}

/// Strict ping-pong over two slot rings.
struct Slots {
    shm: Arc<Shm>,
    /// The next message's slot (as an offset) in the outgoing and the
    /// incoming ring: each walks its ring and wraps, no division per message.
    tx: SlotCursor,
    rx: SlotCursor,
    sent: u64,
    received: u64,
    buf: Vec<u8>,
}

/// Where the next message of one direction goes.
struct SlotCursor {
    /// Offset of the first slot and of the one past the last.
    start: usize,
    end: usize,
    next: usize,
    stride: usize,
}

impl SlotCursor {
    fn new(start: usize, len: usize, stride: usize) -> SlotCursor {
        SlotCursor {
            start,
            end: start + len,
            next: start,
            stride,
        }
    }

    /// The current slot's offset, then move on to the next one.
    #[inline]
    fn advance(&mut self) -> usize {
        let slot = self.next;
        self.next += self.stride;
        if self.next == self.end {
            self.next = self.start;
        }
        slot
    }
}

impl Slots {
    fn payload_ptr(&self, slot: usize, len: usize) -> *mut u8 {
        assert!(
            len <= self.tx.stride - if len > INLINE { 64 } else { 8 },
            "message larger than a slot"
        );
        let at = if len <= INLINE { slot + 8 } else { slot + 64 };
        // SAFETY: `at + len` stays inside this slot (checked above), and every
        // slot of both rings lies inside the mapping (sized by `mapping_len`,
        // checked in `endpoint`).
        unsafe { self.shm.base().add(at) }
    }
}

impl Endpoint for Slots {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        let n = self.sent + 1;
        let slot = self.tx.advance();
        let dst = self.payload_ptr(slot, msg.len());
        // SAFETY: dst..dst+len is inside our outgoing slot; the peer reads it
        // only after our Release store of the sequence number below and has
        // finished reading what it held before (strict ping-pong: it replied).
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), dst, msg.len()) };
        self.sent = n;
        self.shm.atomic_u64(slot).store(n, Ordering::Release);
        Ok(())
    }

    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        let want = self.received + 1;
        let slot = self.rx.advance();
        let seq = self.shm.atomic_u64(slot);
        ring::spin_until(|| seq.load(Ordering::Acquire) == want)?;
        self.received = want;
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let src = self.payload_ptr(slot, len);
        // SAFETY: src..src+len is inside the incoming slot; the Acquire
        // load above ordered the peer's payload writes before this read, and
        // the peer will not write again until we reply.
        unsafe { std::ptr::copy_nonoverlapping(src, self.buf.as_mut_ptr(), len) };
        consume(&self.buf[..len]);
        Ok(())
    }
}

/// Bytes of the mapping: two slot rings (latency) or the byte-ring duplex.
fn mapping_len(p: &CellParams) -> usize {
    match p.kind {
        Kind::Latency => 2 * slot_ring_len(p.buffer_len()),
        Kind::Throughput => stream::mapping_len(p),
    }
}

fn endpoint(shm: Shm, p: &CellParams, is_parent: bool) -> Box<dyn Endpoint> {
    match p.kind {
        Kind::Latency => {
            let stride = slot_stride(p.buffer_len());
            let ring_len = slot_ring_len(p.buffer_len());
            assert!(
                2 * ring_len <= shm.len(),
                "limit: mapping of {} bytes is smaller than its two slot rings",
                shm.len()
            );
            let (tx_ring, rx_ring) = if is_parent {
                (0, ring_len)
            } else {
                (ring_len, 0)
            };
            Box::new(Slots {
                shm: Arc::new(shm),
                tx: SlotCursor::new(tx_ring, ring_len, stride),
                rx: SlotCursor::new(rx_ring, ring_len, stride),
                sent: 0,
                received: 0,
                buf: vec![0; p.buffer_len()],
            })
        }
        Kind::Throughput => Box::new(stream::StreamEnd::new(shm, p, is_parent)),
    }
}

impl Transport for Limit {
    fn name(&self) -> &'static str {
        "limit"
    }
    fn description(&self) -> &'static str {
        "hardware bound: spinning cache-line mailbox per direction (latency) / spinning byte ring, memcpy in 16 KiB pieces (throughput)"
    }
    fn spins(&self) -> bool {
        true
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (shm, fd) = Shm::create(&p.name_prefix, mapping_len(p))?;
        Ok((
            endpoint(shm, p, true),
            Handoff {
                fds: vec![fd],
                args: vec![],
            },
        ))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, "limit")?;
        Ok(endpoint(Shm::attach(fd)?, p, false))
    }
}
