//! What turns messages into bytes, for both byte-stream views (blocking in
//! `byte_stream`, async in `asyncio`): the part of a message a read left,
//! and how receive and send errors read as `io::Error`s.

use crate::endpoint::Consumer;
use crate::error::{RecvError, SendError};
use std::io::{self, IoSlice};

/// What byte-stream reads left of the message they are in.
#[derive(Debug, Default)]
pub(crate) struct ReadRemainder {
    /// Bytes already read of the ring's current message, which stays in the
    /// ring until it is read whole.
    pub(crate) in_ring: usize,
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

    /// [`read_ring`](Self::read_ring) for a connection: a control record
    /// between messages is taken and returned instead of read as bytes.
    #[cfg(feature = "tokio")]
    pub(crate) fn read_ring_conn(
        &mut self,
        consumer: &mut Consumer,
        out: &mut [u8],
    ) -> Result<crate::endpoint::Got, RecvError> {
        use crate::endpoint::Got;
        loop {
            if self.in_ring == 0 {
                if let Some(payload) = consumer.try_take_control()? {
                    return Ok(Got::Control(payload));
                }
            }
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
            return Ok(Got::Data(n));
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
