//! The byte-stream view of an async connection: tokio `AsyncRead` and
//! `AsyncWrite`, for code written against sockets (hyper, tonic,
//! tokio-util's codecs).
//!
//! The same rules as the blocking view ([`Read`](std::io::Read) for
//! [`RecvHalf`](crate::conn::RecvHalf)): a write sends one message, copied
//! straight into the ring (or TCP frame); a read copies straight out of the
//! ring and leaves the rest of a longer message there for the next read; a
//! zero-length read is the end.

use super::connection::{poll_step, AsyncSend};
use super::{AsyncConnection, AsyncRecvHalf, AsyncSendHalf};
use crate::conn::byte_view::{gather, read_result, send_error_to_io, vectored_len, ReadRemainder};
use crate::conn::tcp::TcpReceiver;
use crate::deadline::Deadline;
use crate::endpoint::Got;
use crate::error::{RecvError, SendError};
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

impl AsyncRecvHalf {
    /// Reads into `out` as the byte-stream view does; control records
    /// between messages and a move's leg changes are handled as a message
    /// receive handles them.
    fn poll_read_bytes(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<Result<usize, RecvError>> {
        if let Some(n) = self.remainder.take_spilled(out) {
            return Poll::Ready(Ok(n));
        }
        self.poll_conn(cx, |inner, rem, cx| {
            poll_step(
                inner,
                cx,
                &mut (rem, &mut *out),
                |c, (rem, out)| rem.read_ring_conn(c, out),
                |t, (rem, out)| read_tcp(rem, out, t),
            )
        })
    }
}

/// Reads into `out` from the socket without waiting: into `out` when the
/// message fits, else whole into the spill buffer and then part of it into
/// `out`; a control frame is returned as it is.
fn read_tcp(
    rem: &mut ReadRemainder,
    out: &mut [u8],
    receiver: &mut TcpReceiver,
) -> Result<Got, RecvError> {
    loop {
        match receiver.recv_into_conn(out, Deadline::NonBlocking) {
            // An empty message is skipped: it is no end.
            Ok(Got::Data(0)) => continue,
            Err(RecvError::BufferTooSmall { .. }) => {
                return match receiver.recv_conn(rem.spill_buffer(), Deadline::NonBlocking)? {
                    Got::Data(_) => Ok(Got::Data(rem.take_spilled(out).unwrap_or(0))),
                    control => Ok(control),
                };
            }
            done => return done,
        }
    }
}

/// Reads the bytes the peer wrote, in order; a message longer than the
/// buffer stays in the ring and is read on by the next polls. Cancel safe:
/// bytes are taken only by a poll that returns them. A zero-length read is
/// the end: the peer shut down or dropped its sending side and everything it
/// sent was read.
///
/// Do not mix with message receives in the middle of a message (a message
/// receive takes the whole next message).
///
/// # Errors
/// `UnexpectedEof` when the peer died without closing, `InvalidData` for a
/// corrupted ring or TCP stream, the system's kind for an I/O failure; the
/// typed [`RecvError`] is the error's inner error ([`io::Error::get_ref`]).
impl AsyncRead for AsyncRecvHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let out = buf.initialize_unfilled();
        if out.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let n = ready!(self.get_mut().poll_read_bytes(cx, out).map(read_result))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncSendHalf {
    /// Sends the first `len` bytes of `bufs` as one message, waiting for room.
    fn poll_write_gathered(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        len: usize,
    ) -> Poll<Result<(), SendError>> {
        // `reserve` is cancel safe: polling a fresh one each time is waiting.
        let mut grant = ready!(pin!(self.reserve(len)).poll(cx))?;
        gather(bufs, len, |at, bytes| grant.write_at(at, bytes));
        grant.commit();
        Poll::Ready(Ok(()))
    }

    /// Closes this direction: the peer reads what was sent, then the end.
    /// Later sends fail with [`SendError::Disconnected`].
    pub(super) fn shut_down(&mut self) {
        let max_message = self.max_message();
        self.inner = AsyncSend::Closed { max_message };
        // Legs a peer's move queued are closed too: the peer reads their end.
        drop(self.switch.take_send());
    }
}

/// Each write sends one message of up to
/// [`max_message`](AsyncSendHalf::max_message) bytes, copied straight into
/// the ring (or the TCP frame), waiting for room without blocking the
/// runtime. Cancel safe: a poll that returns `Pending` sent nothing. On TCP
/// a completed write may leave part of its frame for the socket to take
/// later: the next write finishes it first, and flushing waits for it (on
/// shared memory a write is published when it completes);
/// [`poll_shutdown`](AsyncWrite::poll_shutdown) closes this direction and
/// the peer reads the end (a zero-length read) after what was sent.
///
/// # Errors
/// `BrokenPipe` when the peer closed or died, or after this side shut down;
/// `InvalidData` for a corrupted ring; the system's kind for an I/O failure;
/// the typed [`SendError`] is the error's inner error ([`io::Error::get_ref`]).
impl AsyncWrite for AsyncSendHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = buf.len().min(this.max_message());
        if n == 0 {
            return Poll::Ready(Ok(0));
        }
        // A message a Sink accepted goes first, so the order holds.
        ready!(this.poll_send_pending(cx)).map_err(send_error_to_io)?;
        ready!(this.poll_send(cx, &buf[..n])).map_err(send_error_to_io)?;
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = vectored_len(bufs, this.max_message());
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        ready!(this.poll_send_pending(cx)).map_err(send_error_to_io)?;
        ready!(this.poll_write_gathered(cx, bufs, len)).map_err(send_error_to_io)?;
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send_all(cx).map_err(send_error_to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A message a Sink accepted, and the rest of a frame, go first.
        ready!(this.poll_send_all(cx)).map_err(send_error_to_io)?;
        this.shut_down();
        Poll::Ready(Ok(()))
    }
}

/// Reads as [`AsyncRecvHalf`] does.
///
/// # Errors
/// As [`AsyncRead`] for [`AsyncRecvHalf`].
impl AsyncRead for AsyncConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().receiver()).poll_read(cx, buf)
    }
}

/// Writes as [`AsyncSendHalf`] does; shutting down closes the sending
/// direction only (reads go on until the peer's end).
///
/// # Errors
/// As [`AsyncWrite`] for [`AsyncSendHalf`].
impl AsyncWrite for AsyncConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().sender()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().sender()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().sender()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().sender()).poll_shutdown(cx)
    }
}
