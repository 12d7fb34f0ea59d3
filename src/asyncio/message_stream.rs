//! Message streams: a futures `Stream` of received messages and a `Sink` of
//! outgoing ones (owned [`Bytes`]) on the async connection and its halves,
//! and [`Incoming`], a `Stream` of accepted connections.
//!
//! The inherent `send`/`recv` methods keep their names, so call the
//! extension traits' methods by path where they share one
//! (`SinkExt::send(&mut tx, msg)`).

use super::{AsyncConnection, AsyncListener, AsyncRecvHalf, AsyncSendHalf};
use crate::conn::AcceptError;
use crate::error::{RecvError, SendError};
use crate::Listener;
use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The messages the peer sends, each an owned [`Bytes`] (one copy out of
/// the ring into its own allocation). Ends (`None`) once the peer closed and
/// everything it sent was read. Cancel safe: a message is taken only by the
/// poll that returns it, so a dropped `next()` loses nothing.
///
/// # Errors
/// An item is `Err` for what [`AsyncRecvHalf::recv`] reports other than the
/// end: [`RecvError::PeerDied`], [`RecvError::Corrupted`], [`RecvError::Io`].
/// The stream does not end by itself after an error; stop polling it.
impl Stream for AsyncRecvHalf {
    type Item = Result<Bytes, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut buf = Vec::new();
        match ready!(self.get_mut().poll_recv(cx, &mut buf)) {
            Ok(_) => Poll::Ready(Some(Ok(Bytes::from(buf)))),
            Err(RecvError::Disconnected) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl AsyncSendHalf {
    /// Sends the message a `Sink` accepted, if one waits.
    pub(super) fn poll_send_pending(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError>> {
        if let Some(msg) = self.pending.take() {
            if self.poll_send(cx, &msg)?.is_pending() {
                self.pending = Some(msg);
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Sends the message a `Sink` accepted, then waits until everything
    /// taken is written (see [`poll_flush_sent`](Self::poll_flush_sent)).
    pub(super) fn poll_send_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        ready!(self.poll_send_pending(cx))?;
        self.poll_flush_sent(cx)
    }
}

/// Sends each item as one message. `start_send` only takes the item; it is
/// copied into the ring by the next `poll_ready`, `poll_flush` or
/// `poll_close` (dropping the half before then sends nothing of it).
/// `poll_close` sends what waits, then closes this direction: the peer reads
/// the end after it. Byte-stream writes send a waiting item first; the
/// message API's `send` does not, so flush the sink before calling it.
///
/// # Errors
/// As [`AsyncSendHalf::send`]; `start_send` refuses an item above the
/// maximum message with [`SendError::TooLarge`].
impl<B: Into<Bytes>> Sink<B> for AsyncSendHalf {
    type Error = SendError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_send_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: B) -> Result<(), SendError> {
        let this = self.get_mut();
        let msg = item.into();
        let max = this.max_message();
        if msg.len() > max {
            return Err(SendError::TooLarge {
                len: msg.len(),
                max,
                limit: crate::MessageLimit::Connection,
            });
        }
        this.pending = Some(msg);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        self.get_mut().poll_send_all(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        let this = self.get_mut();
        ready!(this.poll_send_all(cx))?;
        this.shut_down();
        Poll::Ready(Ok(()))
    }
}

/// Receives as [`AsyncRecvHalf`]'s `Stream` does.
///
/// # Errors
/// As the `Stream` of [`AsyncRecvHalf`].
impl Stream for AsyncConnection {
    type Item = Result<Bytes, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(self.get_mut().receiver()).poll_next(cx)
    }
}

/// Sends as [`AsyncSendHalf`]'s `Sink` does; closing closes the sending
/// direction only.
///
/// # Errors
/// As the `Sink` of [`AsyncSendHalf`].
impl<B: Into<Bytes>> Sink<B> for AsyncConnection {
    type Error = SendError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        Sink::<B>::poll_ready(Pin::new(self.get_mut().sender()), cx)
    }

    fn start_send(self: Pin<&mut Self>, item: B) -> Result<(), SendError> {
        Pin::new(self.get_mut().sender()).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        Sink::<B>::poll_flush(Pin::new(self.get_mut().sender()), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        Sink::<B>::poll_close(Pin::new(self.get_mut().sender()), cx)
    }
}

/// The connections an [`AsyncListener`] accepts, as a `Stream` (for
/// `serve_with_incoming` and the like); from [`AsyncListener::incoming`].
#[derive(Debug)]
pub struct Incoming {
    listener: AsyncListener,
}

impl AsyncListener {
    /// The accepted connections as a `Stream` that never ends. Each item is
    /// what [`accept`](Self::accept) returns; a client whose handshake failed
    /// is an `Err` item and the stream goes on. Cancel safe: a client is
    /// taken only by the poll that returns it.
    pub fn incoming(self) -> Incoming {
        Incoming { listener: self }
    }
}

impl Incoming {
    /// The listener.
    pub fn get_ref(&self) -> &Listener {
        self.listener.get_ref()
    }

    /// The async listener back.
    pub fn into_inner(self) -> AsyncListener {
        self.listener
    }
}

/// # Errors
/// An item is `Err` for what [`AsyncListener::accept`] reports.
impl Stream for Incoming {
    type Item = Result<AsyncConnection, AcceptError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().listener.poll_accept(cx).map(Some)
    }
}
