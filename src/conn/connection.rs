//! A connection: one message stream each way, over shared memory or TCP, with
//! the ring's method forms (`try_`, blocking, `_timeout`) on both transports.

use super::tcp::{TcpReceiver, TcpSender, Wait};
use crate::config::WakeupKind;
use crate::endpoint::{Consumer, Producer, WriteGrant};
use crate::error::{GrantBoundsError, RecvError, SendError};
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

/// Which transport a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Two rings in memory shared with the peer process.
    SharedMemory,
    /// Length-prefixed frames over a TCP socket.
    Tcp,
}

/// What a connection runs on and why: [`Display`](fmt::Display) says it in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub(crate) kind: TransportKind,
    pub(crate) wakeup: Option<WakeupKind>,
    pub(crate) spin_budget: Duration,
    pub(crate) ring_capacity: Option<usize>,
    pub(crate) max_message: usize,
    pub(crate) peer: String,
    pub(crate) why: String,
}

impl Transport {
    /// Shared memory or TCP.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The rings' wakeup strategy (shared memory only).
    pub fn wakeup(&self) -> Option<WakeupKind> {
        self.wakeup
    }

    /// Each ring's capacity in bytes (shared memory only).
    pub fn ring_capacity(&self) -> Option<usize> {
        self.ring_capacity
    }

    /// Largest message either side may send.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Why this transport and these parameters were chosen.
    pub fn why(&self) -> &str {
        &self.why
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TransportKind::SharedMemory => {
                f.write_str("shared memory, ")?;
                match self.wakeup {
                    Some(WakeupKind::Hybrid) => {
                        write!(f, "hybrid (spin {} µs)", self.spin_budget.as_micros())?
                    }
                    Some(w) => write!(f, "{w}")?,
                    None => f.write_str("unknown wakeup")?,
                }
                if let Some(cap) = self.ring_capacity {
                    write!(f, ", ring {} each way", size(cap))?;
                }
            }
            TransportKind::Tcp => write!(f, "TCP to {} (nodelay)", self.peer)?,
        }
        write!(
            f,
            ", messages up to {}: {}",
            size(self.max_message),
            self.why
        )
    }
}

enum SendInner {
    Shm(Producer),
    Tcp(TcpSender),
}

enum RecvInner {
    Shm(Consumer),
    Tcp(TcpReceiver),
}

/// The sending half of a [`Connection`] (see [`Connection::split`]).
/// Dropping it closes this direction: the peer reads what was sent, then gets
/// [`RecvError::Disconnected`].
pub struct SendHalf {
    inner: SendInner,
    transport: Arc<Transport>,
}

/// The receiving half of a [`Connection`] (see [`Connection::split`]).
pub struct RecvHalf {
    inner: RecvInner,
    transport: Arc<Transport>,
}

/// A connection to one peer: a message stream each way.
///
/// Sends and receives have the ring's forms: `try_` never waits, the plain
/// form waits as long as it takes (or until the peer disconnects or dies),
/// `_timeout` waits at most the given time. Errors are the ring's
/// [`SendError`] and [`RecvError`] on every transport; on TCP a broken stream
/// (a length above the maximum, garbage, a stream cut inside a message) is
/// [`RecvError::Corrupted`].
///
/// Dropping it closes both directions: the peer first reads what was sent,
/// then gets [`RecvError::Disconnected`]. A peer that dies without closing
/// (killed, crashed) gives [`RecvError::PeerDied`] within the liveness
/// interval. Reconnecting gives a fresh connection: that is the whole restart
/// story (nothing to clean up; see [`connect`](crate::connect)).
///
/// On TCP, a peer that closed cleanly sent a close frame first; a stream that
/// ends without one means the peer went away without closing and reads as
/// `PeerDied` (with the pid from its handshake). A peer on another host that
/// vanishes without a FIN is noticed by TCP keepalive (about 5 s). Dropping
/// only the receiving half of a TCP connection tells the peer nothing until
/// the sending half is dropped too.
pub struct Connection {
    tx: SendHalf,
    rx: RecvHalf,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("transport", &self.tx.transport.to_string())
            .finish()
    }
}

impl fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendHalf")
            .field("transport", &self.transport.to_string())
            .finish()
    }
}

impl fmt::Debug for RecvHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvHalf")
            .field("transport", &self.transport.to_string())
            .finish()
    }
}

impl Connection {
    pub(crate) fn shm(producer: Producer, consumer: Consumer, transport: Transport) -> Self {
        let transport = Arc::new(transport);
        Connection {
            tx: SendHalf {
                inner: SendInner::Shm(producer),
                transport: transport.clone(),
            },
            rx: RecvHalf {
                inner: RecvInner::Shm(consumer),
                transport,
            },
        }
    }

    pub(crate) fn tcp(shared: Arc<super::tcp::TcpShared>, transport: Transport) -> Self {
        let transport = Arc::new(transport);
        Connection {
            tx: SendHalf {
                inner: SendInner::Tcp(TcpSender::new(shared.clone())),
                transport: transport.clone(),
            },
            rx: RecvHalf {
                inner: RecvInner::Tcp(TcpReceiver::new(shared)),
                transport,
            },
        }
    }

    /// What this connection runs on, and why.
    pub fn transport(&self) -> &Transport {
        &self.tx.transport
    }

    /// Largest message either side may send.
    pub fn max_message(&self) -> usize {
        self.tx.max_message()
    }

    /// Splits into a sending and a receiving half, for two threads.
    pub fn split(self) -> (SendHalf, RecvHalf) {
        (self.tx, self.rx)
    }

    /// The sending half, borrowed.
    pub fn sender(&mut self) -> &mut SendHalf {
        &mut self.tx
    }

    /// The receiving half, borrowed.
    pub fn receiver(&mut self) -> &mut RecvHalf {
        &mut self.rx
    }

    /// Sends `msg` without waiting. See [`SendHalf::try_send`].
    ///
    /// # Errors
    /// [`SendError::Full`] when there is no room now; otherwise as [`send`](Self::send).
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.tx.try_send(msg)
    }

    /// Sends `msg`, waiting for room.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] above the maximum message; [`SendError::Disconnected`]
    /// when the peer closed; [`SendError::PeerDied`] when it died without closing;
    /// [`SendError::Corrupted`] / [`SendError::Io`] for a broken transport.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.tx.send(msg)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendError::Timeout`]; otherwise as [`send`](Self::send).
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.tx.send_timeout(msg, timeout)
    }

    /// Reserves room for a `len`-byte message to fill in place, without waiting.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.tx.try_reserve(len)
    }

    /// Reserves room for a `len`-byte message, waiting for it.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.tx.reserve(len)
    }

    /// Reserves room for a `len`-byte message, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout).
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<SendGrant<'_>, SendError> {
        self.tx.reserve_timeout(len, timeout)
    }

    /// Receives the next message into `buf` (replacing its contents) without waiting.
    ///
    /// # Errors
    /// [`RecvError::Empty`] when no message is there; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.rx.try_recv(buf)
    }

    /// Receives the next message into `buf`, waiting for one. Returns its length.
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the peer closed and everything it sent
    /// was read; [`RecvError::PeerDied`] when it died without closing;
    /// [`RecvError::Corrupted`] for a broken ring or TCP stream; [`RecvError::Io`].
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.rx.recv(buf)
    }

    /// Receives the next message into `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv`](Self::recv).
    pub fn recv_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.rx.recv_timeout(buf, timeout)
    }

    /// Receives the next message into the front of `buf` without waiting.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`try_recv`](Self::try_recv).
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.rx.try_recv_into(buf)
    }

    /// Receives the next message into the front of `buf`, waiting for one.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`recv`](Self::recv).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.rx.recv_into(buf)
    }

    /// Receives the next message into the front of `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv_into`](Self::recv_into).
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.rx.recv_into_timeout(buf, timeout)
    }
}

impl SendHalf {
    /// What the connection runs on.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Largest message this half may send.
    pub fn max_message(&self) -> usize {
        match &self.inner {
            SendInner::Shm(p) => p.max_message(),
            SendInner::Tcp(t) => t.max_message(),
        }
    }

    fn send_wait(&mut self, msg: &[u8], wait: Wait) -> Result<(), SendError> {
        match &mut self.inner {
            SendInner::Shm(p) => match wait {
                Wait::NonBlocking => p.try_send(msg),
                Wait::Forever => p.send(msg),
                Wait::Within(t) => p.send_timeout(msg, t),
            },
            SendInner::Tcp(t) => t.send(msg, wait),
        }
    }

    fn reserve_wait(&mut self, len: usize, wait: Wait) -> Result<SendGrant<'_>, SendError> {
        let inner = match &mut self.inner {
            SendInner::Shm(p) => GrantInner::Shm(match wait {
                Wait::NonBlocking => p.try_reserve(len)?,
                Wait::Forever => p.reserve(len)?,
                Wait::Within(t) => p.reserve_timeout(len, t)?,
            }),
            SendInner::Tcp(t) => {
                t.reserve(len, wait)?;
                GrantInner::Tcp {
                    sender: t,
                    len,
                    cursor: 0,
                }
            }
        };
        Ok(SendGrant { inner })
    }

    /// Sends `msg` without waiting.
    ///
    /// # Errors
    /// [`SendError::Full`] when the ring (or the socket's buffer) has no room
    /// now; otherwise as [`send`](Self::send).
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_wait(msg, Wait::NonBlocking)
    }

    /// Sends `msg`, waiting for room. On TCP, a message once started on the
    /// socket is always finished.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] above the maximum message; [`SendError::Disconnected`]
    /// when the peer closed; [`SendError::PeerDied`] when it died without closing;
    /// [`SendError::Corrupted`] / [`SendError::Io`] for a broken transport.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_wait(msg, Wait::Forever)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendError::Timeout`]; otherwise as [`send`](Self::send).
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.send_wait(msg, Wait::Within(timeout))
    }

    /// Reserves room for a `len`-byte message without waiting: on shared
    /// memory the grant is the ring's memory itself (zero-copy); on TCP it is
    /// the frame buffer that is written to the socket as is.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    pub fn try_reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.reserve_wait(len, Wait::NonBlocking)
    }

    /// Reserves room for a `len`-byte message, waiting for it.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.reserve_wait(len, Wait::Forever)
    }

    /// Reserves room for a `len`-byte message, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout).
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<SendGrant<'_>, SendError> {
        self.reserve_wait(len, Wait::Within(timeout))
    }
}

impl RecvHalf {
    /// What the connection runs on.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    fn recv_wait(&mut self, buf: &mut Vec<u8>, wait: Wait) -> Result<usize, RecvError> {
        match &mut self.inner {
            RecvInner::Shm(c) => match wait {
                Wait::NonBlocking => c.try_recv(buf),
                Wait::Forever => c.recv(buf),
                Wait::Within(t) => c.recv_timeout(buf, t),
            },
            RecvInner::Tcp(t) => t.recv(buf, wait),
        }
    }

    fn recv_into_wait(&mut self, buf: &mut [u8], wait: Wait) -> Result<usize, RecvError> {
        match &mut self.inner {
            RecvInner::Shm(c) => match wait {
                Wait::NonBlocking => c.try_recv_into(buf),
                Wait::Forever => c.recv_into(buf),
                Wait::Within(t) => c.recv_into_timeout(buf, t),
            },
            RecvInner::Tcp(t) => t.recv_into(buf, wait),
        }
    }

    /// Receives the next message into `buf` (replacing its contents) without waiting.
    ///
    /// # Errors
    /// [`RecvError::Empty`] when no message is there; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_wait(buf, Wait::NonBlocking)
    }

    /// Receives the next message into `buf`, waiting for one. Returns its
    /// length. The bytes are copied out, so the peer cannot change them later.
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the peer closed and everything it sent
    /// was read; [`RecvError::PeerDied`] when it died without closing;
    /// [`RecvError::Corrupted`] for a broken ring or TCP stream; [`RecvError::Io`].
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_wait(buf, Wait::Forever)
    }

    /// Receives the next message into `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv`](Self::recv).
    pub fn recv_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.recv_wait(buf, Wait::Within(timeout))
    }

    /// Receives the next message into the front of `buf` without waiting.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`try_recv`](Self::try_recv).
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_into_wait(buf, Wait::NonBlocking)
    }

    /// Receives the next message into the front of `buf`, waiting for one.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`recv`](Self::recv).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_into_wait(buf, Wait::Forever)
    }

    /// Receives the next message into the front of `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv_into`](Self::recv_into).
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.recv_into_wait(buf, Wait::Within(timeout))
    }

    /// A descriptor an event loop can wait on for this half, after
    /// [`arm_notify`](Self::arm_notify): the eventfd on a shared-memory
    /// connection with [`WakeupKind::EventFd`] (see
    /// [`Intent::Pollable`](crate::conn::Intent::Pollable)), the socket on
    /// TCP; `None` for other wakeups.
    pub fn notify_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            RecvInner::Shm(c) => c.notify_fd(),
            RecvInner::Tcp(t) => Some(t.fd()),
        }
    }

    /// Prepares to wait on [`notify_fd`](Self::notify_fd). Returns `true`
    /// when a message (or the end) is already there: receive instead of waiting.
    ///
    /// # Errors
    /// [`RecvError::Corrupted`] for a broken ring or stream; [`RecvError::Io`].
    pub fn arm_notify(&mut self) -> Result<bool, RecvError> {
        match &mut self.inner {
            RecvInner::Shm(c) => c.arm_notify(),
            RecvInner::Tcp(t) => t.has_frame(),
        }
    }
}

enum GrantInner<'a> {
    Shm(WriteGrant<'a>),
    Tcp {
        sender: &'a mut TcpSender,
        len: usize,
        cursor: usize,
    },
}

/// Room reserved for one message, filled in place, then sent with
/// [`commit`](Self::commit). Dropping it uncommitted sends nothing.
///
/// ```
/// # fn f(conn: &mut mempipe::Connection) -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Write;
/// let mut grant = conn.reserve(64)?;
/// write!(grant, "order #{}", 7)?;
/// grant.commit_written();
/// # Ok(()) }
/// ```
pub struct SendGrant<'a> {
    inner: GrantInner<'a>,
}

impl fmt::Debug for SendGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendGrant")
            .field("len", &self.len())
            .finish()
    }
}

impl SendGrant<'_> {
    /// Bytes reserved.
    pub fn len(&self) -> usize {
        match &self.inner {
            GrantInner::Shm(g) => g.len(),
            GrantInner::Tcp { len, .. } => *len,
        }
    }

    /// Whether zero bytes were reserved.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `bytes` into the grant at `offset`.
    ///
    /// # Errors
    /// [`GrantBoundsError`] when they do not fit; nothing is written.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), GrantBoundsError> {
        match &mut self.inner {
            GrantInner::Shm(g) => g.write_at(offset, bytes),
            GrantInner::Tcp { sender, len, .. } => {
                let end = offset.checked_add(bytes.len()).filter(|end| end <= len);
                let Some(end) = end else {
                    return Err(GrantBoundsError {
                        offset,
                        len: bytes.len(),
                        capacity: *len,
                    });
                };
                sender.payload()[offset..end].copy_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Sends all reserved bytes.
    pub fn commit(self) {
        let len = self.len();
        self.publish(len);
    }

    fn publish(self, n: usize) {
        match self.inner {
            GrantInner::Shm(g) => {
                // `n <= len` is checked by the callers.
                let _ = g.commit_len(n);
            }
            GrantInner::Tcp { sender, .. } => sender.commit(n),
        }
    }

    /// Sends only the first `len` bytes.
    ///
    /// # Errors
    /// [`GrantBoundsError`] when `len` exceeds the reservation; nothing is sent.
    pub fn commit_len(self, len: usize) -> Result<(), GrantBoundsError> {
        if len > self.len() {
            return Err(GrantBoundsError {
                offset: 0,
                len,
                capacity: self.len(),
            });
        }
        self.publish(len);
        Ok(())
    }

    /// Sends the bytes written so far through [`io::Write`].
    pub fn commit_written(self) {
        let n = match &self.inner {
            GrantInner::Shm(_) => None,
            GrantInner::Tcp { cursor, .. } => Some(*cursor),
        };
        match (self.inner, n) {
            (GrantInner::Shm(g), _) => g.commit_written(),
            (GrantInner::Tcp { sender, .. }, Some(n)) => sender.commit(n),
            (GrantInner::Tcp { .. }, None) => {}
        }
    }
}

impl io::Write for SendGrant<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            GrantInner::Shm(g) => g.write(buf),
            GrantInner::Tcp {
                sender,
                len,
                cursor,
            } => {
                let n = buf.len().min(*len - *cursor);
                sender.payload()[*cursor..*cursor + n].copy_from_slice(&buf[..n]);
                *cursor += n;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
