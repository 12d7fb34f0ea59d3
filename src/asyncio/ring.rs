//! Async forms of the raw ring's endpoints.

use super::waiter::{NotPollable, Waiter};
use crate::endpoint::{Consumer, Producer, ReadGrant, WriteGrant};
use crate::error::{RecvError, SendError};
use std::future::poll_fn;
use std::task::{ready, Context, Poll};

/// A [`Consumer`] whose receives are awaited instead of blocking a thread.
///
/// Cancellation: every method is cancel safe. A message is taken out of the
/// ring only in the same poll that completes the future, so dropping a
/// pending `recv` (in `select!`, or on a timeout) neither loses nor
/// duplicates a message: it stays in the ring for the next call.
#[derive(Debug)]
pub struct AsyncConsumer {
    inner: Consumer,
    waiter: Waiter,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waiter")
    }
}

impl AsyncConsumer {
    /// Wraps `consumer` for awaiting. Registration with the runtime happens at
    /// the first wait, so this may be called outside one.
    ///
    /// # Errors
    /// [`NotPollable`] for a futex or hybrid ring in a named region (it has no
    /// wake descriptors); every ring in an anonymous region, and every spin
    /// ring (which yields to the runtime instead of sleeping), can be awaited.
    pub fn new(mut consumer: Consumer) -> Result<Self, NotPollable> {
        let waiter = Waiter::new(consumer.link_mut())?;
        Ok(AsyncConsumer {
            inner: consumer,
            waiter,
        })
    }

    /// The blocking endpoint back.
    pub fn into_inner(self) -> Consumer {
        self.inner
    }

    /// The blocking endpoint, for its non-waiting calls.
    pub fn get_mut(&mut self) -> &mut Consumer {
        &mut self.inner
    }

    /// Receives the next message into `buf` (replacing its contents). Cancel safe.
    ///
    /// # Errors
    /// As [`Consumer::recv`]: [`RecvError::Disconnected`] once the producer
    /// closed and everything was read, [`RecvError::PeerDied`] within about a
    /// liveness interval of its death (noticed through its process
    /// descriptor, with no thread blocked), [`RecvError::Corrupted`],
    /// [`RecvError::Io`].
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Receives the next message into the front of `buf`. Cancel safe.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`recv`](Self::recv).
    pub async fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        poll_fn(|cx| self.poll_recv_into(cx, buf)).await
    }

    /// Waits until a message (or the end) is there, then lends it in place
    /// ([`ReadGrant`]). Cancel safe: nothing is taken before completion.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub async fn recv_grant(&mut self) -> Result<ReadGrant<'_>, RecvError> {
        poll_fn(|cx| self.poll_message(cx)).await?;
        self.inner.try_recv_grant()
    }

    /// Polls for the next message into `buf`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<Result<usize, RecvError>> {
        self.poll_until(cx, |c| c.try_recv(buf))
    }

    fn poll_recv_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, RecvError>> {
        self.poll_until(cx, |c| c.try_recv_into(buf))
    }

    /// Retries a non-blocking receive until it finds something other than an
    /// empty ring, waiting in between.
    pub(crate) fn poll_until<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut Consumer) -> Result<T, RecvError>,
    ) -> Poll<Result<T, RecvError>> {
        loop {
            match attempt(&mut self.inner) {
                Err(RecvError::Empty) => {}
                done => {
                    self.waiter.finish(self.inner.link_mut());
                    return Poll::Ready(done);
                }
            }
            ready!(self.poll_wait(cx))?;
        }
    }

    /// Ready once a non-blocking receive would not find the ring empty.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        loop {
            // The liveness check (a clock read) only when nothing else ends it.
            if self.inner.recv_would_finish(false) || self.inner.recv_would_finish(true) {
                self.waiter.finish(self.inner.link_mut());
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_wait(cx))?;
        }
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        self.waiter
            .poll_wait(cx, &mut self.inner, Consumer::link_mut, |c, full| {
                c.recv_would_finish(full)
            })
            .map_err(RecvError::Io)
    }
}

/// A [`Producer`] whose sends wait for room without blocking a thread.
///
/// Cancellation: every method is cancel safe. A message is copied in and
/// committed in the poll that completes the future, so a dropped `send` sent
/// the whole message or nothing; a dropped `reserve` reserved nothing, and a
/// [`WriteGrant`] dropped uncommitted sends nothing.
#[derive(Debug)]
pub struct AsyncProducer {
    inner: Producer,
    waiter: Waiter,
}

impl AsyncProducer {
    /// Wraps `producer` for awaiting.
    ///
    /// # Errors
    /// As [`AsyncConsumer::new`].
    pub fn new(mut producer: Producer) -> Result<Self, NotPollable> {
        let waiter = Waiter::new(producer.link_mut())?;
        Ok(AsyncProducer {
            inner: producer,
            waiter,
        })
    }

    /// Largest message this ring carries.
    pub fn max_message(&self) -> usize {
        self.inner.max_message()
    }

    /// The blocking endpoint back.
    pub fn into_inner(self) -> Producer {
        self.inner
    }

    /// The blocking endpoint, for its non-waiting calls.
    pub fn get_mut(&mut self) -> &mut Producer {
        &mut self.inner
    }

    /// Copies `msg` into the ring and commits it, waiting for room. Cancel
    /// safe: all of `msg` or nothing was sent.
    ///
    /// # Errors
    /// As [`Producer::send`]: [`SendError::TooLarge`], [`SendError::Disconnected`],
    /// [`SendError::PeerDied`] (noticed while waiting, with no thread blocked),
    /// [`SendError::Corrupted`], [`SendError::Io`].
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_send(cx, msg)).await
    }

    /// Reserves room for `len` bytes, waiting for it: fill the grant in place
    /// and commit it. Cancel safe.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, SendError> {
        poll_fn(|cx| self.poll_room(cx, len)).await?;
        self.inner.try_reserve(len)
    }

    /// Polls to send `msg`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn poll_send(&mut self, cx: &mut Context<'_>, msg: &[u8]) -> Poll<Result<(), SendError>> {
        self.poll_send_with(cx, msg.len(), |p| p.try_send(msg))
    }

    /// Retries a non-blocking send of a `len`-byte record until it finds
    /// something other than a full ring, waiting for room in between.
    pub(crate) fn poll_send_with(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&mut Producer) -> Result<(), SendError>,
    ) -> Poll<Result<(), SendError>> {
        loop {
            match op(&mut self.inner) {
                Err(SendError::Full { .. }) => {}
                done => {
                    self.waiter.finish(self.inner.link_mut());
                    return Poll::Ready(done);
                }
            }
            ready!(self.poll_wait(cx, len))?;
        }
    }

    /// Ready once a non-blocking reserve of `len` bytes would not find the ring full.
    pub(crate) fn poll_room(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
    ) -> Poll<Result<(), SendError>> {
        loop {
            // The liveness check (a clock read) only when nothing else ends it.
            if self.inner.reserve_would_finish(len, false)
                || self.inner.reserve_would_finish(len, true)
            {
                self.waiter.finish(self.inner.link_mut());
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_wait(cx, len))?;
        }
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<Result<(), SendError>> {
        self.waiter
            .poll_wait(cx, &mut self.inner, Producer::link_mut, |p, full| {
                p.reserve_would_finish(len, full)
            })
            .map_err(SendError::Io)
    }
}
