//! A single-producer single-consumer byte ring in shared memory, with a
//! pluggable way to wait: futex (`futex`) or eventfd (`eventfd`). It is a
//! byte stream like a pipe: a message larger than the ring moves through in
//! chunks. This is a plain SPSC byte ring, not
//! mempipe: no waiter flag on the data side, so the blocking
//! variants make one wake syscall per published chunk, like the plain
//! futex/eventfd baselines they stand for.
//!
//! Layout of one ring (all counters are wrapping u32 byte counts):
//! line 0: `head` (bytes written); line 1: `tail` (bytes read) and
//! `space_waiter`; then `cap` data bytes (a power of two).

use super::shm::Shm;
use super::{Endpoint, XferError};
use crate::stop::should_stop;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const HEAD: usize = 0;
const TAIL: usize = 64;
const SPACE_WAITER: usize = 68;
const DATA: usize = 128;

/// Bytes one ring of capacity `cap` occupies in the mapping.
pub(crate) fn region_len(cap: usize) -> usize {
    DATA + cap
}

/// How one side waits for a shared word to change and wakes the other.
pub(crate) trait Wait {
    /// True for busy-waiting: no waiter flags or wake calls needed.
    const SPINS: bool;
    /// Return once `word` probably differs from `seen` (spurious returns are
    /// fine: callers re-check).
    fn wait(&mut self, word: &AtomicU32, seen: u32) -> Result<(), XferError>;
    /// Wake a waiter on `word` after changing it.
    fn wake(&mut self, word: &AtomicU32) -> Result<(), XferError>;
}

/// Spin (pause hint) until `done()`; checks the stop flag every 1024 spins.
#[inline]
pub(crate) fn spin_until(mut done: impl FnMut() -> bool) -> Result<(), XferError> {
    let mut n = 0u32;
    while !done() {
        std::hint::spin_loop();
        n = n.wrapping_add(1);
        if n.is_multiple_of(1024) && should_stop() {
            return Err(XferError::Stopped);
        }
    }
    Ok(())
}

/// One ring in a shared mapping, seen from one side.
struct RingView {
    shm: Arc<Shm>,
    off: usize,
    cap: u32,
}

impl RingView {
    fn new(shm: Arc<Shm>, off: usize, cap: usize) -> Self {
        assert!(
            cap.is_power_of_two() && off + region_len(cap) <= shm.len(),
            "ring layout"
        );
        RingView {
            shm,
            off,
            cap: cap as u32,
        }
    }
    fn word(&self, at: usize) -> &AtomicU32 {
        self.shm.atomic_u32(self.off + at)
    }
    fn data(&self) -> *mut u8 {
        // SAFETY: `off + DATA + cap <= len` was checked in `new`.
        unsafe { self.shm.base().add(self.off + DATA) }
    }
}

/// The writing side of a ring.
pub(crate) struct Producer<W: Wait> {
    ring: RingView,
    head: u32,
    cached_tail: u32,
    data_wake: W,
    space_wait: W,
}

impl<W: Wait> Producer<W> {
    pub(crate) fn new(shm: Arc<Shm>, off: usize, cap: usize, data_wake: W, space_wait: W) -> Self {
        let ring = RingView::new(shm, off, cap);
        let head = ring.word(HEAD).load(Ordering::Acquire);
        Producer {
            ring,
            head,
            cached_tail: head,
            data_wake,
            space_wait,
        }
    }

    pub(crate) fn write(&mut self, mut msg: &[u8]) -> Result<(), XferError> {
        let cap = self.ring.cap;
        while !msg.is_empty() {
            let mut free = cap - self.head.wrapping_sub(self.cached_tail);
            if free == 0 {
                self.cached_tail = self.ring.word(TAIL).load(Ordering::Acquire);
                free = cap - self.head.wrapping_sub(self.cached_tail);
            }
            if free == 0 {
                self.wait_for_space()?;
                continue;
            }
            let pos = self.head & (cap - 1);
            let n = (free as usize).min(msg.len()).min((cap - pos) as usize);
            // SAFETY: [pos, pos+n) lies inside the data area (n <= cap - pos)
            // and inside the free part of the ring (n <= free), which the
            // consumer does not read until we publish `head` below (Release).
            unsafe {
                std::ptr::copy_nonoverlapping(msg.as_ptr(), self.ring.data().add(pos as usize), n)
            };
            self.head = self.head.wrapping_add(n as u32);
            self.ring.word(HEAD).store(self.head, Ordering::Release);
            self.data_wake.wake(self.ring.word(HEAD))?;
            msg = &msg[n..];
        }
        Ok(())
    }

    #[cold]
    fn wait_for_space(&mut self) -> Result<(), XferError> {
        let tail = self.ring.word(TAIL);
        if W::SPINS {
            let seen = self.cached_tail;
            return self.space_wait.wait(tail, seen);
        }
        // Dekker with the consumer's SeqCst tail store + flag swap: either we
        // see its progress here or it sees our flag and wakes us.
        self.ring.word(SPACE_WAITER).store(1, Ordering::SeqCst);
        let seen = tail.load(Ordering::SeqCst);
        if self.head.wrapping_sub(seen) == self.ring.cap {
            self.space_wait.wait(tail, seen)?;
        }
        Ok(())
    }
}

/// The reading side of a ring; copies messages out into its own buffer.
pub(crate) struct Consumer<W: Wait> {
    ring: RingView,
    tail: u32,
    cached_head: u32,
    data_wait: W,
    space_wake: W,
    buf: Vec<u8>,
}

impl<W: Wait> Consumer<W> {
    pub(crate) fn new(
        shm: Arc<Shm>,
        off: usize,
        cap: usize,
        data_wait: W,
        space_wake: W,
        buffer_len: usize,
    ) -> Self {
        let ring = RingView::new(shm, off, cap);
        let tail = ring.word(TAIL).load(Ordering::Acquire);
        Consumer {
            ring,
            tail,
            cached_head: tail,
            data_wait,
            space_wake,
            buf: vec![0; buffer_len],
        }
    }

    /// Copy the next `len` bytes out and hand them to `consume`.
    pub(crate) fn read_with(
        &mut self,
        len: usize,
        consume: &mut dyn FnMut(&[u8]),
    ) -> Result<(), XferError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let cap = self.ring.cap;
        let mut done = 0;
        while done < len {
            let mut avail = self.cached_head.wrapping_sub(self.tail);
            if avail == 0 {
                self.cached_head = self.ring.word(HEAD).load(Ordering::Acquire);
                avail = self.cached_head.wrapping_sub(self.tail);
            }
            if avail == 0 {
                let seen = self.cached_head;
                self.data_wait.wait(self.ring.word(HEAD), seen)?;
                continue;
            }
            let pos = self.tail & (cap - 1);
            let n = (avail as usize).min(len - done).min((cap - pos) as usize);
            // SAFETY: [pos, pos+n) is inside the data area and inside the
            // published part of the ring (the Acquire load of `head` ordered
            // the producer's writes before us); the producer will not
            // overwrite it until we advance `tail` below. `buf[done..done+n]`
            // is in bounds (done + n <= len <= buf.len()).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.ring.data().add(pos as usize),
                    self.buf.as_mut_ptr().add(done),
                    n,
                )
            };
            self.tail = self.tail.wrapping_add(n as u32);
            done += n;
            if W::SPINS {
                self.ring.word(TAIL).store(self.tail, Ordering::Release);
            } else {
                self.ring.word(TAIL).store(self.tail, Ordering::SeqCst);
                if self.ring.word(SPACE_WAITER).swap(0, Ordering::SeqCst) != 0 {
                    self.space_wake.wake(self.ring.word(TAIL))?;
                }
            }
        }
        consume(&self.buf[..len]);
        Ok(())
    }
}

/// A duplex endpoint over two rings.
pub(crate) struct RingEndpoint<W: Wait> {
    pub(crate) tx: Producer<W>,
    pub(crate) rx: Consumer<W>,
}

impl<W: Wait> Endpoint for RingEndpoint<W> {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        self.tx.write(msg)
    }
    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        self.rx.read_with(len, consume)
    }
}

/// Bytes for two rings of capacity `cap` (ring 0: parent -> child, ring 1:
/// child -> parent).
fn duplex_len(cap: usize) -> usize {
    2 * region_len(cap)
}

/// Bytes of the mapping a cell's duplex needs (rings sized by
/// [`super::ring_capacity`]; a larger message moves through in chunks).
pub(crate) fn cell_len(p: &super::CellParams) -> usize {
    duplex_len(super::ring_capacity(p.buffer_len()))
}

/// One side of a cell's duplex over `shm` (sized as [`cell_len`]).
pub(crate) fn cell_duplex<W: Wait + 'static>(
    shm: Shm,
    p: &super::CellParams,
    is_parent: bool,
    waits: [W; 4],
) -> Box<dyn Endpoint> {
    let cap = super::ring_capacity(p.buffer_len());
    Box::new(duplex(Arc::new(shm), cap, is_parent, waits, p.buffer_len()))
}

/// The waits of one side of a duplex: `[ring0 data, ring0 space, ring1 data,
/// ring1 space]`. Each entry is the same event seen by both sides (for
/// eventfd: the same eventfd).
fn duplex<W: Wait>(
    shm: Arc<Shm>,
    cap: usize,
    is_parent: bool,
    waits: [W; 4],
    buffer_len: usize,
) -> RingEndpoint<W> {
    let [d0, s0, d1, s1] = waits;
    let (r0, r1) = (0, region_len(cap));
    if is_parent {
        RingEndpoint {
            tx: Producer::new(shm.clone(), r0, cap, d0, s0),
            rx: Consumer::new(shm, r1, cap, d1, s1, buffer_len),
        }
    } else {
        RingEndpoint {
            tx: Producer::new(shm.clone(), r1, cap, d1, s1),
            rx: Consumer::new(shm, r0, cap, d0, s0, buffer_len),
        }
    }
}
