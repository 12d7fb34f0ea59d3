//! Zero-copy access: a [`WriteGrant`] over reserved space, a [`ReadGrant`] over a
//! published message.
//!
//! Both point into memory the peer process has mapped too. The protocol says the
//! peer does not touch it meanwhile, but a buggy or hostile peer can, so the safe
//! API copies (`write_at`, `io::Write`, `copy_to_slice`, `to_vec`) and exposes raw
//! pointers; a plain slice is available only through `unsafe` methods whose
//! contract is exactly that trust.

use super::{Consumer, Producer};
use crate::error::GrantBoundsError;
use crate::ring::{RecordRef, Reservation};
use std::io;

/// Space reserved in the ring for one message, filled in place and then published
/// with [`commit`](Self::commit). Dropping it uncommitted publishes nothing.
///
/// The payload starts 8-byte aligned, so a `#[repr(C)]` value with alignment up to
/// 8 can be written at offset 0 through [`as_mut_ptr`](Self::as_mut_ptr).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Write;
/// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
/// let mut grant = tx.try_reserve(64)?;
/// write!(grant, "hello {}", 42)?;
/// grant.commit_written();
/// let mut buf = Vec::new();
/// rx.try_recv(&mut buf)?;
/// assert_eq!(buf, b"hello 42");
/// # Ok(()) }
/// ```
pub struct WriteGrant<'a> {
    producer: &'a mut Producer,
    reservation: Reservation,
    cursor: usize,
}

impl<'a> WriteGrant<'a> {
    pub(super) fn new(producer: &'a mut Producer, reservation: Reservation) -> Self {
        // Without a Drop impl (which would make `match tx.try_reserve(n) {..}`
        // keep its borrow in the `Err` arm) the ring learns of an abandoned
        // grant lazily: at the next reservation, if this one was never committed.
        producer.ring.grant_opened();
        WriteGrant {
            producer,
            reservation,
            cursor: 0,
        }
    }

    /// Bytes reserved.
    pub fn len(&self) -> usize {
        self.reservation.len as usize
    }

    /// Whether zero bytes were reserved.
    pub fn is_empty(&self) -> bool {
        self.reservation.len == 0
    }

    /// Copies `bytes` into the grant at `offset`.
    ///
    /// # Errors
    /// [`GrantBoundsError`] if `offset + bytes.len()` exceeds [`len`](Self::len);
    /// nothing is written.
    #[inline]
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), GrantBoundsError> {
        GrantBoundsError::check(offset, bytes.len(), self.len())?;
        self.producer
            .ring
            .write(&self.reservation, offset as u64, bytes);
        Ok(())
    }

    /// Pointer to the first payload byte (8-byte aligned), valid for `len()` bytes
    /// until the grant is committed or dropped.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.producer.ring.payload_ptr(&self.reservation)
    }

    /// The reserved bytes as a slice, for serialising in place.
    ///
    /// # Safety
    /// The consumer process must be trusted not to write this space while the
    /// grant lives (an honest consumer never touches unpublished space). A peer
    /// that does would race with writes through this slice. The initial contents
    /// are whatever the ring held before (old messages' bytes), never undefined.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: the reservation is `len` contiguous bytes of free ring space,
        // exclusively ours by the protocol; the caller vouches for the peer.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }

    /// Publishes all reserved bytes.
    #[inline]
    pub fn commit(self) {
        let len = self.reservation.len;
        self.publish(len);
    }

    #[inline]
    fn publish(self, len: u64) {
        self.producer.publish(self.reservation, len);
    }

    /// Publishes only the first `len` bytes (`len <= self.len()`); the rest of the
    /// reservation is returned to the ring.
    ///
    /// # Errors
    /// [`GrantBoundsError`] if `len` exceeds [`len`](Self::len); nothing is
    /// published (the grant is dropped, as if uncommitted).
    #[inline]
    pub fn commit_len(self, len: usize) -> Result<(), GrantBoundsError> {
        GrantBoundsError::check(0, len, self.len())?;
        self.publish(len as u64);
        Ok(())
    }

    /// Publishes the bytes written so far through [`io::Write`].
    pub fn commit_written(self) {
        let len = self.cursor as u64;
        self.publish(len);
    }
}

impl io::Write for WriteGrant<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.len() - self.cursor);
        self.producer
            .ring
            .write(&self.reservation, self.cursor as u64, &buf[..n]);
        self.cursor += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for WriteGrant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteGrant")
            .field("len", &self.len())
            .field("written", &self.cursor)
            .finish()
    }
}

/// A published message lent in place (zero-copy read). Its space returns to the
/// producer when the grant is dropped or [`release`](Self::release)d.
///
/// The payload starts 8-byte aligned.
pub struct ReadGrant<'a> {
    consumer: &'a mut Consumer,
    record: RecordRef,
}

impl<'a> ReadGrant<'a> {
    pub(super) fn new(consumer: &'a mut Consumer, record: RecordRef) -> Self {
        ReadGrant { consumer, record }
    }

    /// Message length.
    pub fn len(&self) -> usize {
        self.record.len as usize
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.record.len == 0
    }

    /// Pointer to the first byte (8-byte aligned), valid for `len()` bytes while
    /// the grant lives.
    pub fn as_ptr(&self) -> *const u8 {
        self.consumer.ring.payload_ptr(&self.record)
    }

    /// Copies the message into the front of `dst`; returns the bytes copied
    /// (`min(len, dst.len())`).
    pub fn copy_to_slice(&self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len());
        let record = RecordRef {
            len: n as u64,
            ..self.record
        };
        self.consumer.ring.copy_out(&record, &mut dst[..n]);
        n
    }

    /// Copies the message into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        self.copy_to_slice(&mut v);
        v
    }

    /// The message bytes in place.
    ///
    /// # Safety
    /// The producer process must be trusted not to write a published record
    /// (an honest producer never does). If it does, the bytes can change while
    /// the slice is in use. Bounds are always safe: the length was validated.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: `peek` validated that the record lies inside the ring; it stays
        // reserved for us until the grant is dropped; the caller vouches for the peer.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// Frees the message's space now (same as dropping the grant).
    pub fn release(self) {}

    /// Copies the message's bytes from `from` on into the front of `dst`;
    /// returns the bytes copied (`min(len - from, dst.len())`, 0 past the end).
    pub(crate) fn copy_from_offset(&self, from: usize, dst: &mut [u8]) -> usize {
        let rest = self.len().saturating_sub(from);
        let n = dst.len().min(rest);
        let record = RecordRef {
            offset: self.record.offset + from as u64,
            len: n as u64,
            ..self.record
        };
        self.consumer.ring.copy_out(&record, &mut dst[..n]);
        n
    }

    /// Leaves the message in the ring: the next receive lends it again (a
    /// byte stream reads one message in several parts this way).
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for ReadGrant<'_> {
    fn drop(&mut self) {
        self.consumer.release(self.record);
    }
}

impl std::fmt::Debug for ReadGrant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadGrant")
            .field("len", &self.len())
            .finish()
    }
}
