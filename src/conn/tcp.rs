//! The TCP transport: length-prefixed frames on a TCP_NODELAY socket, with the
//! ring's contract (maximum message, copy-out receive, `Disconnected` after a
//! close, `PeerDied` when the peer went away without closing).
//!
//! A frame is an 8-byte header (length, kind) and the payload. A length above
//! the connection's maximum message, an unknown kind, or a stream that ends
//! inside a frame is [`Corruption`]: nothing is allocated from a length before
//! it is checked, and the receive buffer never exceeds header + maximum message.

use super::wire::{decode_frame, encode_frame, Frame, FRAME_HEADER};
use crate::deadline::Deadline;
use crate::error::{Corruption, RecvError, SendError};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What both halves of a TCP connection share.
///
/// A TCP peer's pid is what its hello claims, not something the kernel
/// proved: it names the peer in errors, and is never watched. A peer that
/// dies closes its socket (the kernel does that for it), which reads as
/// [`RecvError::PeerDied`] when no close frame came first; a host that
/// vanishes is noticed by keepalive.
pub(crate) struct TcpShared {
    pub stream: super::stream::ByteStream,
    /// The peer's pid, from its hello.
    pub peer_pid: u32,
    pub max_message: usize,
    /// The peer's close frame was read.
    goodbye: AtomicBool,
}

impl TcpShared {
    pub(crate) fn open(
        stream: impl Into<super::stream::ByteStream>,
        peer_pid: u32,
        max_message: usize,
    ) -> Arc<Self> {
        let stream = stream.into();
        let tcp = stream.tcp();
        let _ = tcp.set_nodelay(true);
        let _ = rustix::net::sockopt::set_socket_keepalive(tcp, true);
        let _ = rustix::net::sockopt::set_tcp_keepidle(tcp, Duration::from_secs(2));
        let _ = rustix::net::sockopt::set_tcp_keepintvl(tcp, Duration::from_secs(1));
        let _ = rustix::net::sockopt::set_tcp_keepcnt(tcp, 3);
        Arc::new(TcpShared {
            stream,
            peer_pid,
            max_message,
            goodbye: AtomicBool::new(false),
        })
    }

    /// The error for a peer that is gone: closed (its close frame was seen)
    /// or died.
    fn gone(&self) -> Gone {
        if self.goodbye.load(Ordering::Acquire) {
            return Gone::Closed;
        }
        Gone::Died(self.peer_pid)
    }

    /// Waits until the socket is ready for `flags` or the deadline passes;
    /// returns whether it is ready (an error counts: the next call reports it).
    fn wait(&self, flags: PollFlags, deadline: Deadline) -> bool {
        poll_until(&self.stream, flags, deadline)
    }
}

/// Waits until `socket` is ready for `flags` or `deadline` passes; returns
/// whether it is ready (a poll error counts: the next call reports it).
pub(crate) fn poll_until(socket: impl AsFd, flags: PollFlags, deadline: Deadline) -> bool {
    // `None`: interrupted.
    let poll = |timeout: Option<Duration>| {
        let ts = timeout.map(|left| rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&socket, flags)];
        match rustix::event::poll(&mut fds, ts.as_ref()) {
            Ok(0) => Some(false),
            Ok(_) => Some(true),
            Err(Errno::INTR) => None,
            Err(_) => Some(true),
        }
    };
    // A socket ready now costs no clock read; a relative deadline is fixed at
    // the first real wait, so an interrupted poll resumes with what is left.
    if let Deadline::Within(_) = deadline {
        if poll(Some(Duration::ZERO)) == Some(true) {
            return true;
        }
    }
    let deadline = deadline.resolve();
    loop {
        if let Some(ready) = poll(deadline.left()) {
            return ready;
        }
    }
}

enum Gone {
    Closed,
    Died(u32),
}

/// The sending half.
///
/// A frame is written from `frame[sent..end]`. A blocking sender finishes
/// it within the call. A deferring sender (the async halves) writes what the
/// socket takes now and keeps the rest: the next reserve, send or
/// [`flush`](Self::flush) finishes it before anything else, so frames never
/// interleave and no thread waits for a peer that is itself busy writing.
pub(crate) struct TcpSender {
    shared: Arc<TcpShared>,
    /// Header and payload of the frame being built or written.
    frame: Vec<u8>,
    /// Bytes of `frame` written so far, and where the frame ends.
    sent: usize,
    end: usize,
    /// Commits write only what the socket takes now (see the type's doc).
    deferring: bool,
    /// An error found while committing, reported by the next call.
    failed: Option<SendError>,
    /// The socket last refused bytes (a write stopped short or got
    /// `AGAIN`): the next reserve polls it for room. While every write is
    /// taken whole, reserving costs no system call; the frame's own write
    /// meets a full socket as it would after a poll (a poll promises room,
    /// never room for the whole frame).
    maybe_full: bool,
}

impl TcpSender {
    /// The socket, for a duplicate an event loop can own.
    pub(crate) fn stream(&self) -> &TcpStream {
        self.shared.stream.tcp()
    }

    /// Whether the socket has room now (a poll with no wait).
    pub(crate) fn writable_now(&self) -> bool {
        let mut fds = [PollFd::new(&self.shared.stream, PollFlags::OUT)];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
    }

    pub(crate) fn new(shared: Arc<TcpShared>) -> Self {
        TcpSender {
            shared,
            frame: Vec::new(),
            sent: 0,
            end: 0,
            deferring: false,
            failed: None,
            maybe_full: true,
        }
    }

    /// Makes commits write only what the socket takes now, leaving the rest
    /// of the frame to later calls (for event loops, which must not block).
    #[cfg(feature = "tokio")]
    pub(crate) fn defer_writes(&mut self) {
        self.deferring = true;
    }

    pub(crate) fn max_message(&self) -> usize {
        self.shared.max_message
    }

    fn gone_error(&self) -> SendError {
        match self.shared.gone() {
            Gone::Closed => SendError::Disconnected,
            Gone::Died(pid) => SendError::PeerDied { pid },
        }
    }

    /// The error a failed commit left, once; later calls get the lasting
    /// form of it.
    fn take_failed(&mut self) -> Result<(), SendError> {
        match self.failed.take() {
            None => Ok(()),
            Some(e) => {
                self.failed = Some(match &e {
                    SendError::PeerDied { pid } => SendError::PeerDied { pid: *pid },
                    _ => SendError::Disconnected,
                });
                Err(e)
            }
        }
    }

    /// Checks `len` and waits (as `wait` allows) until the frame in flight
    /// is written and the socket takes data; then the frame buffer holds a
    /// header's room and `len` zero bytes.
    pub(crate) fn reserve(&mut self, len: usize, wait: Deadline) -> Result<(), SendError> {
        self.take_failed()?;
        if len > self.shared.max_message {
            return Err(SendError::TooLarge {
                len,
                max: self.shared.max_message,
                limit: crate::error::MessageLimit::Connection,
            });
        }
        // One deadline covers the frame in flight and the room after it.
        let wait = match self.sent < self.end {
            true => wait.resolve(),
            false => wait,
        };
        let busy = |wait| match wait {
            Deadline::NonBlocking => SendError::Full {
                needed: len + FRAME_HEADER,
            },
            _ => SendError::Timeout,
        };
        if !self.push(wait)? {
            return Err(busy(wait));
        }
        // The room check is a poll only after the socket refused bytes: one
        // system call less per message while it takes every frame whole.
        if self.maybe_full {
            if !self.shared.wait(PollFlags::OUT, wait) {
                return Err(busy(wait));
            }
            self.maybe_full = false;
        }
        self.frame.clear();
        self.frame.resize(FRAME_HEADER + len, 0);
        Ok(())
    }

    /// The payload part of the frame buffer.
    pub(crate) fn payload(&mut self) -> &mut [u8] {
        &mut self.frame[FRAME_HEADER..]
    }

    /// Writes the frame with its first `len` payload bytes. A frame once
    /// started is always finished: within the call, or (deferring) by the
    /// next ones. An error is kept for the next call, as a ring's commit to a
    /// dead peer is.
    pub(crate) fn commit(&mut self, len: usize) {
        if let Err(e) = self.start(len) {
            self.failed = Some(e);
        }
    }

    /// Starts writing the built frame with `len` payload bytes.
    fn start(&mut self, len: usize) -> Result<(), SendError> {
        self.start_as(Frame::Data(len), len)
    }

    /// Starts writing the built frame, `len` payload bytes, with `header`.
    fn start_as(&mut self, frame: Frame, len: usize) -> Result<(), SendError> {
        let header = encode_frame(frame);
        self.frame[..FRAME_HEADER].copy_from_slice(&header);
        self.sent = 0;
        self.end = FRAME_HEADER + len;
        let wait = match self.deferring {
            true => Deadline::NonBlocking,
            false => Deadline::Forever,
        };
        self.push(wait).map(drop)
    }

    /// Writes what is left of the frame in flight, waiting as `wait` allows;
    /// returns whether it is all written.
    fn push(&mut self, mut wait: Deadline) -> Result<bool, SendError> {
        while self.sent < self.end {
            match self.shared.stream.send(&self.frame[self.sent..self.end]) {
                Ok(n) => {
                    self.sent += n;
                    self.maybe_full |= self.sent < self.end;
                }
                Err(Errno::AGAIN) => {
                    self.maybe_full = true;
                    wait = wait.resolve();
                    if matches!(wait, Deadline::NonBlocking)
                        || !self.shared.wait(PollFlags::OUT, wait)
                    {
                        return Ok(false);
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN) => {
                    return Err(self.gone_error())
                }
                Err(e) => return Err(SendError::Io(e.into())),
            }
        }
        Ok(true)
    }

    /// Finishes the frame in flight, waiting as `wait` allows; returns
    /// whether nothing is left to write.
    ///
    /// # Errors
    /// The error a deferred commit met, or the one this write meets.
    #[cfg(feature = "tokio")]
    pub(crate) fn flush(&mut self, wait: Deadline) -> Result<bool, SendError> {
        self.take_failed()?;
        self.push(wait)
    }

    /// Writes a connection's control record (at most `MAX_CONTROL` bytes),
    /// finishing it within the call as `wait` allows. A deferring sender
    /// (the async halves) leaves what the socket did not take to the next
    /// call or [`flush`](Self::flush), as it does for a message.
    pub(crate) fn send_control(&mut self, payload: &[u8], wait: Deadline) -> Result<(), SendError> {
        self.reserve(payload.len(), wait)?;
        self.frame[FRAME_HEADER..].copy_from_slice(payload);
        self.start_as(Frame::Control(payload.len()), payload.len())?;
        if self.deferring {
            return Ok(());
        }
        // A blocking sender finishes a control record before the call returns.
        match self.push(Deadline::Forever)? {
            true => Ok(()),
            false => Err(SendError::Timeout),
        }
    }

    /// Copies `msg` into a frame and writes it (deferring: starts writing it).
    pub(crate) fn send(&mut self, msg: &[u8], wait: Deadline) -> Result<(), SendError> {
        self.reserve(msg.len(), wait)?;
        self.frame[FRAME_HEADER..].copy_from_slice(msg);
        self.start(msg.len())
    }
}

impl Drop for TcpSender {
    fn drop(&mut self) {
        // Tell the peer this is a close, not a crash; bounded so a peer that
        // stopped reading cannot hold us here.
        // A frame still in flight goes first (a close inside it would be
        // corruption); one the peer does not take in time is cut off, which
        // the peer reads as a stream ending inside a frame.
        let until = Deadline::after(Duration::from_secs(1)).resolve();
        if !matches!(self.push(until), Ok(true)) {
            self.shared.stream.shutdown_write();
            return;
        }
        let close = encode_frame(Frame::Close);
        let mut off = 0;
        while off < close.len() {
            match self.shared.stream.send(&close[off..]) {
                Ok(n) => off += n,
                Err(Errno::AGAIN) if self.shared.wait(PollFlags::OUT, until) => {}
                Err(Errno::INTR) => {}
                Err(_) => break,
            }
        }
        self.shared.stream.shutdown_write();
    }
}

/// The receiving half.
pub(crate) struct TcpReceiver {
    shared: Arc<TcpShared>,
    /// Bytes read and not yet consumed are `buf[start..filled]`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// The peer's close frame arrived.
    closed: bool,
}

/// Initial receive buffer; it grows up to a frame header plus the maximum
/// message (this side's limit, never a size the peer chose beyond it).
const INITIAL_BUF: usize = 64 << 10;

impl TcpReceiver {
    pub(crate) fn new(shared: Arc<TcpShared>) -> Self {
        TcpReceiver {
            buf: vec![0; INITIAL_BUF.min(FRAME_HEADER + shared.max_message)],
            shared,
            start: 0,
            filled: 0,
            closed: false,
        }
    }

    /// The socket, for a duplicate an event loop can own.
    #[cfg(feature = "tokio")]
    pub(crate) fn stream(&self) -> &std::net::TcpStream {
        self.shared.stream.tcp()
    }

    /// The fd an event loop can wait on.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.shared.stream)
    }

    /// Whether a whole frame is buffered.
    pub(crate) fn has_frame(&self) -> Result<bool, RecvError> {
        Ok(self.parse()?.is_some() || self.closed)
    }

    /// The buffered frame at `start`: (payload length), if complete.
    fn parse(&self) -> Result<Option<Frame>, RecvError> {
        let avail = self.filled - self.start;
        if avail < FRAME_HEADER {
            return Ok(None);
        }
        let mut header = [0u8; FRAME_HEADER];
        header.copy_from_slice(&self.buf[self.start..self.start + FRAME_HEADER]);
        let frame = decode_frame(&header, self.shared.max_message)
            .map_err(|what| Corruption::new(format!("TCP stream: {what}")))?;
        match frame {
            Frame::Data(len) | Frame::Control(len) if avail < FRAME_HEADER + len => Ok(None),
            f => Ok(Some(f)),
        }
    }

    /// Waits for the next message; returns its payload range in `buf`. A
    /// control frame belongs to a connection that handles it: here it is corruption.
    fn next(&mut self, wait: Deadline) -> Result<std::ops::Range<usize>, RecvError> {
        match self.next_any(wait)? {
            (range, false) => Ok(range),
            (_, true) => Err(RecvError::Corrupted(Corruption::new(
                "TCP stream: a control frame where only messages are expected".to_owned(),
            ))),
        }
    }

    /// A connection's receive: the next message into `out`, or a control
    /// frame's payload.
    pub(crate) fn recv_conn(
        &mut self,
        out: &mut Vec<u8>,
        wait: Deadline,
    ) -> Result<crate::endpoint::Got, RecvError> {
        let (range, control) = self.next_any(wait)?;
        self.start = range.end;
        if control {
            return Ok(crate::endpoint::Got::Control(self.buf[range].to_vec()));
        }
        out.clear();
        out.extend_from_slice(&self.buf[range.clone()]);
        Ok(crate::endpoint::Got::Data(range.len()))
    }

    /// A connection's receive into the front of `out`, or a control frame's payload.
    pub(crate) fn recv_into_conn(
        &mut self,
        out: &mut [u8],
        wait: Deadline,
    ) -> Result<crate::endpoint::Got, RecvError> {
        let (range, control) = self.next_any(wait)?;
        if control {
            self.start = range.end;
            return Ok(crate::endpoint::Got::Control(self.buf[range].to_vec()));
        }
        let len = range.len();
        let Some(dst) = out.get_mut(..len) else {
            return Err(RecvError::BufferTooSmall {
                needed: len,
                buf_len: out.len(),
            });
        };
        dst.copy_from_slice(&self.buf[range.clone()]);
        self.start = range.end;
        Ok(crate::endpoint::Got::Data(len))
    }

    /// Waits for the next message or control frame: its payload range in
    /// `buf`, and whether it is a control frame.
    fn next_any(
        &mut self,
        mut wait: Deadline,
    ) -> Result<(std::ops::Range<usize>, bool), RecvError> {
        loop {
            if self.closed {
                return Err(RecvError::Disconnected);
            }
            match self.parse()? {
                Some(Frame::Data(len)) => {
                    let at = self.start + FRAME_HEADER;
                    return Ok((at..at + len, false));
                }
                Some(Frame::Control(len)) => {
                    let at = self.start + FRAME_HEADER;
                    return Ok((at..at + len, true));
                }
                Some(Frame::Close) => {
                    self.start += FRAME_HEADER;
                    self.closed = true;
                    self.shared.goodbye.store(true, Ordering::Release);
                    return Err(RecvError::Disconnected);
                }
                None => {}
            }
            self.make_room();
            match self.shared.stream.recv(&mut self.buf[self.filled..]) {
                Ok(0) => return Err(self.eof()),
                Ok(n) => self.filled += n,
                Err(Errno::AGAIN) => {
                    if let Deadline::NonBlocking = wait {
                        return Err(RecvError::Empty);
                    }
                    wait = wait.resolve();
                    if !self.shared.wait(PollFlags::IN, wait) {
                        return Err(RecvError::Timeout);
                    }
                }
                Err(Errno::INTR) => {}
                Err(Errno::CONNRESET) => {
                    return Err(RecvError::PeerDied {
                        pid: self.shared.peer_pid,
                    })
                }
                Err(e) => return Err(RecvError::Io(e.into())),
            }
        }
    }

    /// The stream ended: after a close frame that is handled above; inside a
    /// frame it is corruption; between frames the peer went away without closing.
    fn eof(&self) -> RecvError {
        let avail = self.filled - self.start;
        if avail > 0 {
            return RecvError::Corrupted(Corruption::new(format!(
                "TCP stream ended inside a frame ({avail} bytes of it arrived)"
            )));
        }
        RecvError::PeerDied {
            pid: self.shared.peer_pid,
        }
    }

    /// Compacts the buffer and grows it to hold the frame being read.
    fn make_room(&mut self) {
        let avail = self.filled - self.start;
        let need = if avail >= FRAME_HEADER {
            let len = u32::from_le_bytes(
                self.buf[self.start..self.start + 4]
                    .try_into()
                    .unwrap_or_default(),
            ) as usize;
            // parse() already refused a length above the maximum.
            FRAME_HEADER + len.min(self.shared.max_message.max(super::wire::MAX_CONTROL))
        } else {
            FRAME_HEADER
        };
        if self.start > 0 && (self.start + need > self.buf.len() || avail == 0) {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled = avail;
            self.start = 0;
        }
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
    }

    pub(crate) fn recv(&mut self, out: &mut Vec<u8>, wait: Deadline) -> Result<usize, RecvError> {
        let range = self.next(wait)?;
        out.clear();
        out.extend_from_slice(&self.buf[range.clone()]);
        self.start = range.end;
        Ok(range.len())
    }

    pub(crate) fn recv_into(&mut self, out: &mut [u8], wait: Deadline) -> Result<usize, RecvError> {
        let range = self.next(wait)?;
        let len = range.len();
        let Some(dst) = out.get_mut(..len) else {
            return Err(RecvError::BufferTooSmall {
                needed: len,
                buf_len: out.len(),
            });
        };
        dst.copy_from_slice(&self.buf[range.clone()]);
        self.start = range.end;
        Ok(len)
    }
}
