//! `limit`: the hardware lower bound, no kernel involved after setup.
//!
//! Latency: one 64-byte-aligned mailbox line per direction in a shared memfd.
//! The sender copies the payload (into the same line after the 8-byte
//! sequence number when it fits in 56 bytes, else into an area right after
//! the line) and then stores the sequence number (Release); the receiver
//! spins with the pause hint until it sees it (Acquire) and copies out. That
//! is one cache-line transfer each way for small messages: the cache-line
//! ping-pong of limits.md. Safe only for strict ping-pong (the latency
//! protocol): a sender never writes again before the reply arrived.
//!
//! Throughput: the simple spinning shared-memory byte ring of limits.md
//! (memcpy in and out), see `ring`.

use super::ring::{self, Spin};
use super::shm::Shm;
use super::{take_fds, CellParams, Endpoint, Handoff, Kind, Transport, XferError};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub struct Limit;

/// Payload bytes that fit in the mailbox line after the sequence number.
const INLINE: usize = 56;

fn mailbox_stride(buffer_len: usize) -> usize {
    64 + if buffer_len > INLINE {
        buffer_len.next_multiple_of(64)
    } else {
        0
    }
}

/// Strict ping-pong over two mailboxes.
struct Mailboxes {
    shm: Arc<Shm>,
    tx_off: usize,
    rx_off: usize,
    stride: usize,
    sent: u64,
    received: u64,
    buf: Vec<u8>,
}

impl Mailboxes {
    fn payload_ptr(&self, box_off: usize, len: usize) -> *mut u8 {
        assert!(
            len <= self.stride - if len > INLINE { 64 } else { 8 },
            "message larger than the mailbox"
        );
        let at = if len <= INLINE {
            box_off + 8
        } else {
            box_off + 64
        };
        // SAFETY: `at + len` stays inside this mailbox (checked above), and
        // both mailboxes lie inside the mapping (sized 2 * stride).
        unsafe { self.shm.base().add(at) }
    }
}

impl Endpoint for Mailboxes {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        let dst = self.payload_ptr(self.tx_off, msg.len());
        // SAFETY: dst..dst+len is inside our outgoing mailbox; the peer reads
        // it only after our Release store of the sequence number below and
        // has finished reading the previous message (strict ping-pong).
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), dst, msg.len()) };
        self.sent += 1;
        self.shm
            .atomic_u64(self.tx_off)
            .store(self.sent, Ordering::Release);
        Ok(())
    }

    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        let want = self.received + 1;
        let seq = self.shm.atomic_u64(self.rx_off);
        ring::spin_until(|| seq.load(Ordering::Acquire) == want)?;
        self.received = want;
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let src = self.payload_ptr(self.rx_off, len);
        // SAFETY: src..src+len is inside the incoming mailbox; the Acquire
        // load above ordered the peer's payload writes before this read, and
        // the peer will not write again until we reply.
        unsafe { std::ptr::copy_nonoverlapping(src, self.buf.as_mut_ptr(), len) };
        consume(&self.buf[..len]);
        Ok(())
    }
}

/// Bytes of the mapping: two mailboxes (latency) or the byte-ring duplex.
fn mapping_len(p: &CellParams) -> usize {
    match p.kind {
        Kind::Latency => 2 * mailbox_stride(p.buffer_len()),
        Kind::Throughput => ring::cell_len(p),
    }
}

fn endpoint(shm: Shm, p: &CellParams, is_parent: bool) -> Box<dyn Endpoint> {
    match p.kind {
        Kind::Latency => {
            let stride = mailbox_stride(p.buffer_len());
            let (tx_off, rx_off) = if is_parent { (0, stride) } else { (stride, 0) };
            Box::new(Mailboxes {
                shm: Arc::new(shm),
                tx_off,
                rx_off,
                stride,
                sent: 0,
                received: 0,
                buf: vec![0; p.buffer_len()],
            })
        }
        Kind::Throughput => ring::cell_duplex(shm, p, is_parent, [Spin, Spin, Spin, Spin]),
    }
}

impl Transport for Limit {
    fn name(&self) -> &'static str {
        "limit"
    }
    fn description(&self) -> &'static str {
        "hardware bound: spinning cache-line ping-pong (latency) / spinning shared byte ring (throughput)"
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
