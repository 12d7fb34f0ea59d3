//! The byte-stream view of a connection: `std::io::Read`, `BufRead` and
//! `Write`, for code written against sockets and pipes.
//!
//! A write sends one message (at most [`max_message`](SendHalf::max_message)
//! bytes of it, copied straight into the ring's memory or the TCP frame); a
//! read copies the next message's bytes straight out of the ring, and a
//! message longer than the reader's buffer stays where it is and is read on
//! in the next calls. Message boundaries mean nothing to a reader: what
//! arrives is the bytes written, in order.

use super::connection::{Connection, RecvHalf, RecvInner, SendHalf};
use crate::deadline::Deadline;
use crate::endpoint::Consumer;
use crate::error::{RecvError, SendError};
use std::io::{self, BufRead, IoSlice, Read, Write};

/// What byte-stream reads left of the message they are in.
#[derive(Debug, Default)]
pub(crate) struct ReadRemainder {
    /// Bytes already read of the ring's current message, which stays in the
    /// ring until it is read whole.
    in_ring: usize,
    /// A message taken out whole (TCP, or by `fill_buf`): `spill[pos..]` is
    /// still to be read.
    spill: Vec<u8>,
    pos: usize,
}

impl ReadRemainder {
    /// Copies buffered bytes into `out`; `None` when there are none.
    pub(crate) fn take_spilled(&mut self, out: &mut [u8]) -> Option<usize> {
        let rest = self.spill.get(self.pos..).filter(|r| !r.is_empty())?;
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Some(n)
    }

    /// The buffered bytes, empty when there are none.
    pub(crate) fn spilled(&self) -> &[u8] {
        self.spill.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn consume_spilled(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.spill.len());
    }

    /// The buffer a whole message is received into, emptied.
    pub(crate) fn spill_buffer(&mut self) -> &mut Vec<u8> {
        self.pos = 0;
        self.spill.clear();
        &mut self.spill
    }

    /// Reads from the ring's next message into `out` without waiting, keeping
    /// the rest of it in the ring. Empty messages are skipped (a zero-length
    /// read means the end). `Err(Empty)` when nothing is there.
    pub(crate) fn read_ring(
        &mut self,
        consumer: &mut Consumer,
        out: &mut [u8],
    ) -> Result<usize, RecvError> {
        loop {
            let grant = consumer.try_recv_grant()?;
            let n = grant.copy_from_offset(self.in_ring, out);
            if self.in_ring + n >= grant.len() {
                self.in_ring = 0;
                drop(grant);
                if n == 0 {
                    continue;
                }
            } else {
                self.in_ring += n;
                grant.keep();
            }
            return Ok(n);
        }
    }

    /// Takes the rest of the ring's current message into the spill buffer
    /// (for `fill_buf`, which must lend a slice it owns).
    pub(crate) fn spill_ring(&mut self, consumer: &mut Consumer) -> Result<(), RecvError> {
        let grant = consumer.try_recv_grant()?;
        let from = std::mem::take(&mut self.in_ring);
        let mut spill = std::mem::take(&mut self.spill);
        spill.resize(grant.len().saturating_sub(from), 0);
        grant.copy_from_offset(from, &mut spill);
        self.spill = spill;
        self.pos = 0;
        Ok(())
    }
}

/// Reads into `out` from a TCP-like receive: into `out` when the message
/// fits, else whole into the spill buffer and then part of it into `out`.
pub(crate) fn read_whole_or_spill<T>(
    rem: &mut ReadRemainder,
    out: &mut [u8],
    receiver: &mut T,
    mut recv_into: impl FnMut(&mut T, &mut [u8]) -> Result<usize, RecvError>,
    mut recv: impl FnMut(&mut T, &mut Vec<u8>) -> Result<usize, RecvError>,
) -> Result<usize, RecvError> {
    loop {
        match recv_into(receiver, out) {
            Ok(0) => continue,
            Err(RecvError::BufferTooSmall { .. }) => {
                recv(receiver, rem.spill_buffer())?;
                return Ok(rem.take_spilled(out).unwrap_or(0));
            }
            done => return done,
        }
    }
}

/// A receive's outcome as a byte-stream read: the end of the stream is a
/// zero-length read; everything else keeps its meaning as an `io::ErrorKind`
/// with the typed error inside.
pub(crate) fn read_result(result: Result<usize, RecvError>) -> io::Result<usize> {
    match result {
        Ok(n) => Ok(n),
        Err(RecvError::Disconnected) => Ok(0),
        Err(e) => Err(recv_error_to_io(e)),
    }
}

/// The `io::ErrorKind` that says what a receive error says; the typed error
/// is the `io::Error`'s inner error (`get_ref`, `into_inner`).
pub(crate) fn recv_error_to_io(e: RecvError) -> io::Error {
    let kind = match &e {
        RecvError::Empty => io::ErrorKind::WouldBlock,
        RecvError::Timeout => io::ErrorKind::TimedOut,
        RecvError::Disconnected | RecvError::PeerDied { .. } => io::ErrorKind::UnexpectedEof,
        RecvError::Io(inner) => inner.kind(),
        RecvError::BufferTooSmall { .. } | RecvError::WrongSize { .. } => {
            io::ErrorKind::InvalidInput
        }
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

/// The `io::ErrorKind` that says what a send error says; the typed error is
/// the `io::Error`'s inner error.
pub(crate) fn send_error_to_io(e: SendError) -> io::Error {
    let kind = match &e {
        SendError::Full { .. } => io::ErrorKind::WouldBlock,
        SendError::Timeout => io::ErrorKind::TimedOut,
        SendError::Disconnected | SendError::PeerDied { .. } => io::ErrorKind::BrokenPipe,
        SendError::TooLarge { .. } => io::ErrorKind::InvalidInput,
        SendError::Io(inner) => inner.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}

/// How much of `bufs` one message carries: all of it up to `max` bytes.
pub(crate) fn vectored_len(bufs: &[IoSlice<'_>], max: usize) -> usize {
    bufs.iter().map(|b| b.len()).sum::<usize>().min(max)
}

/// Copies the first `len` bytes of `bufs`, slice by slice, through `put(offset, bytes)`.
pub(crate) fn gather(
    bufs: &[IoSlice<'_>],
    len: usize,
    mut put: impl FnMut(usize, &[u8]) -> Result<(), crate::error::GrantBoundsError>,
) {
    let mut at = 0;
    for buf in bufs {
        let n = buf.len().min(len - at);
        // In bounds: the grant holds `len` bytes and `at + n <= len`.
        let _ = put(at, &buf[..n]);
        at += n;
        if at == len {
            break;
        }
    }
}

/// Reads the bytes the peer wrote, in order. A message longer than `buf`
/// stays in the ring and is read on by the next calls.
///
/// Returns `Ok(0)` once the peer closed its sending side (dropped it, or shut
/// it down) and everything it sent was read. Do not mix these reads with
/// message receives ([`recv`](RecvHalf::recv)) in the middle of a message:
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
/// `BrokenPipe` when the peer closed or died ([`SendError::Disconnected`],
/// [`SendError::PeerDied`]), `InvalidData` for a corrupted ring, the system's
/// kind for [`SendError::Io`]; the typed [`SendError`] is the error's inner
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
