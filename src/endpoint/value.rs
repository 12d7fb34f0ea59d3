//! Plain-data messages (feature `bytemuck`): a `#[repr(C)]` value in and out of
//! the ring with no `unsafe` in the caller.
//!
//! Sending needs [`NoUninit`]: every byte of the value is initialised, so no
//! padding of this process's memory leaks to the peer. Receiving needs
//! [`Pod`]: whatever bytes a (possibly hostile) peer wrote make a valid value
//! (and, having no padding, the value can be filled through its bytes). Payloads start 8-byte aligned in the ring, so a type that needs more
//! (a 16-aligned SIMD type, say) is refused at compile time: a zero-copy reader
//! of the same ring could not view it in place.

use super::{Consumer, Deadline, Producer};
use crate::error::{RecvError, SendError};
use crate::ring::RecordRef;
use bytemuck::{NoUninit, Pod};
use std::time::Duration;

/// The alignment every payload has in the ring.
const PAYLOAD_ALIGN: usize = 8;

/// Fails the build for a type the ring cannot place aligned.
const fn assert_fits_alignment<T>() {
    assert!(
        std::mem::align_of::<T>() <= PAYLOAD_ALIGN,
        "mempipe payloads are 8-byte aligned: a value type may need at most 8"
    );
}

impl Producer {
    /// Sends a copy of `value`'s bytes as one message, without waiting.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C)]
    /// struct Order { id: u64, qty: u32, price_cents: u32 }
    ///
    /// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// tx.try_send_value(&Order { id: 7, qty: 3, price_cents: 1250 })?;
    /// let order: Order = rx.try_recv_value()?;
    /// assert_eq!((order.id, order.qty), (7, 3));
    /// # Ok(()) }
    /// ```
    ///
    /// A type that needs more than 8-byte alignment does not compile:
    ///
    /// ```compile_fail
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C, align(16))]
    /// struct Wide { lanes: [u32; 4] }
    ///
    /// let (mut tx, _rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// tx.try_send_value(&Wide { lanes: [0; 4] })?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send): [`SendError::Full`],
    /// [`SendError::TooLarge`] (the type is larger than the ring's maximum
    /// message), [`SendError::Disconnected`], [`SendError::PeerDied`],
    /// [`SendError::Corrupted`].
    pub fn try_send_value<T: NoUninit>(&mut self, value: &T) -> Result<(), SendError> {
        const { assert_fits_alignment::<T>() };
        self.try_send(bytemuck::bytes_of(value))
    }

    /// Sends a copy of `value`'s bytes as one message, waiting for room.
    ///
    /// # Errors
    /// As [`send`](Self::send): [`SendError::TooLarge`],
    /// [`SendError::Disconnected`], [`SendError::PeerDied`],
    /// [`SendError::Corrupted`], [`SendError::Io`].
    pub fn send_value<T: NoUninit>(&mut self, value: &T) -> Result<(), SendError> {
        const { assert_fits_alignment::<T>() };
        self.send(bytemuck::bytes_of(value))
    }

    /// Sends a copy of `value`'s bytes, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout): [`SendError::TooLarge`],
    /// [`SendError::Disconnected`], [`SendError::PeerDied`],
    /// [`SendError::Corrupted`], [`SendError::Io`]; [`SendError::Timeout`] when
    /// no room was made in time.
    pub fn send_value_timeout<T: NoUninit>(
        &mut self,
        value: &T,
        timeout: Duration,
    ) -> Result<(), SendError> {
        const { assert_fits_alignment::<T>() };
        self.send_timeout(bytemuck::bytes_of(value), timeout)
    }
}

impl Consumer {
    /// Receives the next message as a value of type `T`, without waiting. The
    /// bytes are copied out, so the peer cannot change the value afterwards.
    ///
    /// # Errors
    /// [`RecvError::WrongSize`] when the next message is not exactly
    /// `size_of::<T>()` bytes (it stays in the ring); otherwise as
    /// [`try_recv`](Self::try_recv): [`RecvError::Empty`],
    /// [`RecvError::Disconnected`], [`RecvError::PeerDied`],
    /// [`RecvError::Corrupted`].
    pub fn try_recv_value<T: Pod>(&mut self) -> Result<T, RecvError> {
        const { assert_fits_alignment::<T>() };
        let rec = self.next(Deadline::NonBlocking)?;
        self.take_value(rec)
    }

    /// Receives the next message as a value of type `T`, waiting for one.
    ///
    /// # Errors
    /// [`RecvError::WrongSize`] (the message stays in the ring),
    /// [`RecvError::Disconnected`], [`RecvError::PeerDied`],
    /// [`RecvError::Corrupted`], [`RecvError::Io`].
    pub fn recv_value<T: Pod>(&mut self) -> Result<T, RecvError> {
        const { assert_fits_alignment::<T>() };
        let rec = self.next(Deadline::Forever)?;
        self.take_value(rec)
    }

    /// Receives the next message as a value of type `T`, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`recv_value`](Self::recv_value): [`RecvError::WrongSize`] (the
    /// message stays in the ring), [`RecvError::Disconnected`],
    /// [`RecvError::PeerDied`], [`RecvError::Corrupted`], [`RecvError::Io`];
    /// [`RecvError::Timeout`] when no message arrived in time.
    pub fn recv_value_timeout<T: Pod>(&mut self, timeout: Duration) -> Result<T, RecvError> {
        const { assert_fits_alignment::<T>() };
        let rec = self.next(Deadline::after(timeout))?;
        self.take_value(rec)
    }

    fn take_value<T: Pod>(&mut self, rec: RecordRef) -> Result<T, RecvError> {
        let expected = std::mem::size_of::<T>();
        if rec.len as usize != expected {
            return Err(RecvError::WrongSize {
                len: rec.len as usize,
                expected,
            });
        }
        let mut value = T::zeroed();
        self.take_into_slice(rec, bytemuck::bytes_of_mut(&mut value))?;
        Ok(value)
    }
}
