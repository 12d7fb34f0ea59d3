//! The byte-stream view of a connection: `std::io::Read`, `BufRead` and
//! `Write`, for code written against sockets and pipes.
//!
//! A write sends one message (at most [`max_message`](SendHalf::max_message)
//! bytes of it, copied straight into the ring's memory or the TCP frame); a
//! read copies the next message's bytes straight out of the ring, and a
//! message longer than the reader's buffer stays where it is and is read on
//! in the next calls. Message boundaries mean nothing to a reader: what
//! arrives is the bytes written, in order.

use super::byte_view::{
    gather, read_result, read_whole_or_spill, recv_error_to_io, send_error_to_io, vectored_len,
};
use super::connection::{Connection, RecvHalf, RecvInner, SendHalf};
use crate::deadline::Deadline;
use crate::error::RecvError;
use std::io::{self, BufRead, IoSlice, Read, Write};

/// Reads the bytes the peer wrote, in order. A message longer than `buf`
/// stays in the ring and is read on by the next calls.
///
/// Returns `Ok(0)` once the peer closed its sending side (dropped it, or shut
/// it down) and everything it sent was read. Do not mix these reads with
/// message receives ([`recv`](crate::conn::RecvHalf::recv)) in the middle of a message:
/// a message receive takes the whole next message, including bytes a read
/// already returned.
///
/// # Errors
/// `UnexpectedEof` when the peer died without closing
/// ([`RecvError::PeerDied`]), `InvalidData` for a corrupted ring or TCP
/// stream, the system's kind for [`RecvError::Io`]; the typed [`RecvError`]
/// is the error's inner error ([`io::Error::get_ref`]).
impl Read for RecvHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(n) = self.remainder.take_spilled(buf) {
            return Ok(n);
        }
        let rem = &mut self.remainder;
        read_result(match &mut self.inner {
            RecvInner::Shm(c) => loop {
                match rem.read_ring(c, buf) {
                    Err(RecvError::Empty) => match c.recv_grant() {
                        // A message is there now: read it.
                        Ok(grant) => grant.keep(),
                        Err(e) => break Err(e),
                    },
                    done => break done,
                }
            },
            RecvInner::Tcp(t) => read_whole_or_spill(
                rem,
                buf,
                t,
                |t, out| t.recv_into(out, Deadline::Forever),
                |t, vec| t.recv(vec, Deadline::NonBlocking),
            ),
        })
    }
}

/// Lends the rest of the current message, copied out of the ring first (a
/// slice of shared memory the peer can write is never lent).
///
/// # Errors
/// As [`Read`] for [`RecvHalf`].
impl BufRead for RecvHalf {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.remainder.spilled().is_empty() {
            let rem = &mut self.remainder;
            let filled = match &mut self.inner {
                RecvInner::Shm(c) => loop {
                    let grant = match c.recv_grant() {
                        Ok(grant) => grant,
                        Err(e) => break Err(e),
                    };
                    // An empty message is skipped: it is no end.
                    if grant.len() > rem.in_ring {
                        grant.keep();
                        break rem.spill_ring(c);
                    }
                },
                RecvInner::Tcp(t) => loop {
                    match t.recv(rem.spill_buffer(), Deadline::Forever) {
                        Ok(0) => continue,
                        done => break done.map(drop),
                    }
                },
            };
            match filled {
                Ok(()) => {}
                Err(RecvError::Disconnected) => return Ok(&[]),
                Err(e) => return Err(recv_error_to_io(e)),
            }
        }
        Ok(self.remainder.spilled())
    }

    fn consume(&mut self, amt: usize) {
        self.remainder.consume_spilled(amt);
    }
}

/// Each write sends one message of up to [`max_message`](SendHalf::max_message)
/// bytes, copied straight into the ring (or the TCP frame), waiting for room;
/// it is published when `write` returns, so [`flush`](Write::flush) has
/// nothing left to do. Zero-length writes send nothing (a reader would take
/// an empty message for the end).
///
/// # Errors
/// `BrokenPipe` when the peer closed or died ([`SendError::Disconnected`](crate::SendError::Disconnected),
/// [`SendError::PeerDied`](crate::SendError::PeerDied)), `InvalidData` for a corrupted ring, the system's
/// kind for [`SendError::Io`](crate::SendError::Io); the typed [`SendError`](crate::SendError) is the error's inner
/// error ([`io::Error::get_ref`]).
impl Write for SendHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max_message());
        if n == 0 {
            return Ok(0);
        }
        self.send(&buf[..n]).map_err(send_error_to_io)?;
        Ok(n)
    }

    /// One message of all the slices (up to the maximum message), copied
    /// straight into one grant.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len = vectored_len(bufs, self.max_message());
        if len == 0 {
            return Ok(0);
        }
        let mut grant = self.reserve(len).map_err(send_error_to_io)?;
        gather(bufs, len, |at, bytes| grant.write_at(at, bytes));
        grant.commit();
        Ok(len)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads as [`RecvHalf`] does.
///
/// # Errors
/// As [`Read`] for [`RecvHalf`].
impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.receiver().read(buf)
    }
}

/// Lends as [`RecvHalf`] does.
///
/// # Errors
/// As [`BufRead`] for [`RecvHalf`].
impl BufRead for Connection {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.receiver().fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.receiver().consume(amt);
    }
}

/// Writes as [`SendHalf`] does.
///
/// # Errors
/// As [`Write`] for [`SendHalf`].
impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sender().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sender().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
