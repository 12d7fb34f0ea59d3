//! A connection: one message stream each way, over shared memory or TCP, with
//! the ring's method forms (`try_`, blocking, `_timeout`) on both transports.

use super::flows::registry::FlowSlot;
use super::grant::{GrantInner, SendGrant};
pub(crate) mod migrate;

use super::tcp::{TcpReceiver, TcpSender};
use super::transport::Transport;
use crate::counters::SideCounters;
use crate::deadline::Deadline;
use crate::endpoint::Got;
use crate::endpoint::{Consumer, Producer};
use crate::error::{RecvError, SendError};
pub use migrate::MigrateError;
use migrate::{Pending, Switch};
use std::fmt;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

pub(crate) enum SendInner {
    Shm(Producer),
    Tcp(TcpSender),
}

pub(crate) enum RecvInner {
    Shm(Consumer),
    Tcp(TcpReceiver),
}

/// The sending half of a [`Connection`] (see [`Connection::split`]).
/// Dropping it closes this direction: the peer reads what was sent, then gets
/// [`RecvError::Disconnected`].
pub struct SendHalf {
    pub(crate) inner: SendInner,
    pub(crate) transport: Arc<Transport>,
    /// A move's hand-over between the halves (see [`Connection::migrate`]).
    pub(crate) switch: Arc<Switch>,
    /// This direction's published counters (see `conn::flows`).
    pub(crate) counters: Option<&'static SideCounters>,
    /// The flow's stats slot, freed when both halves are gone.
    pub(crate) flow: Option<Arc<FlowSlot>>,
}

/// The receiving half of a [`Connection`] (see [`Connection::split`]).
pub struct RecvHalf {
    pub(crate) inner: RecvInner,
    pub(crate) transport: Arc<Transport>,
    /// What byte-stream reads left of the current message.
    pub(crate) remainder: super::byte_view::ReadRemainder,
    pub(crate) switch: Arc<Switch>,
    /// The peer's proposed move, joined, waiting for the old transport's end.
    pub(crate) pending: Option<Pending>,
    /// This direction's published counters (see `conn::flows`).
    pub(crate) counters: Option<&'static SideCounters>,
    /// The flow's stats slot, freed when both halves are gone.
    pub(crate) flow: Option<Arc<FlowSlot>>,
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
    pub(crate) fn shm(mut producer: Producer, consumer: Consumer, transport: Transport) -> Self {
        producer.set_message_limit(crate::error::MessageLimit::Connection);
        let transport = Arc::new(transport);
        let switch = Arc::<Switch>::default();
        Connection {
            tx: SendHalf {
                inner: SendInner::Shm(producer),
                transport: transport.clone(),
                switch: switch.clone(),
                counters: None,
                flow: None,
            },
            rx: RecvHalf {
                inner: RecvInner::Shm(consumer),
                transport,
                remainder: Default::default(),
                switch,
                pending: None,
                counters: None,
                flow: None,
            },
        }
    }

    pub(crate) fn tcp(shared: Arc<super::tcp::TcpShared>, transport: Transport) -> Self {
        let transport = Arc::new(transport);
        let switch = Arc::<Switch>::default();
        Connection {
            tx: SendHalf {
                inner: SendInner::Tcp(TcpSender::new(shared.clone())),
                transport: transport.clone(),
                switch: switch.clone(),
                counters: None,
                flow: None,
            },
            rx: RecvHalf {
                inner: RecvInner::Tcp(TcpReceiver::new(shared)),
                transport,
                remainder: Default::default(),
                switch,
                pending: None,
                counters: None,
                flow: None,
            },
        }
    }

    /// Publishes this connection's counters in `slot` (both directions, and
    /// the rings' waits and wakes).
    pub(crate) fn publish(&mut self, slot: Option<FlowSlot>) {
        let Some(slot) = slot else { return };
        let (tx, rx) = (slot.tx(), slot.rx());
        let slot = Arc::new(slot);
        if let SendInner::Shm(p) = &mut self.tx.inner {
            p.set_counters(tx);
        }
        if let RecvInner::Shm(c) = &mut self.rx.inner {
            c.set_counters(rx);
        }
        self.tx.counters = Some(tx);
        self.rx.counters = Some(rx);
        // A blocking connection takes `mempipe move` requests (see
        // `SendHalf::serve_move_request`).
        slot.set_can_move(true);
        self.tx.flow = Some(slot.clone());
        self.rx.flow = Some(slot);
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
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.tx.try_send(msg)
    }

    /// Sends `msg`, waiting for room.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] above the maximum message; [`SendError::Disconnected`]
    /// when the peer closed; [`SendError::PeerDied`] when it died without closing;
    /// [`SendError::Corrupted`] / [`SendError::Io`] for a broken transport.
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.tx.send(msg)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendError::Timeout`]; otherwise as [`send`](Self::send).
    #[inline]
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.tx.send_timeout(msg, timeout)
    }

    /// Reserves room for a `len`-byte message to fill in place, without waiting.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.tx.try_reserve(len)
    }

    /// Reserves room for a `len`-byte message, waiting for it.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.tx.reserve(len)
    }

    /// Reserves room for a `len`-byte message, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout).
    #[inline]
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
    #[inline]
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.rx.try_recv(buf)
    }

    /// Receives the next message into `buf`, waiting for one. Returns its length.
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the peer closed and everything it sent
    /// was read; [`RecvError::PeerDied`] when it died without closing;
    /// [`RecvError::Corrupted`] for a broken ring or TCP stream; [`RecvError::Io`].
    #[inline]
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.rx.recv(buf)
    }

    /// Receives the next message into `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv`](Self::recv).
    #[inline]
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
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.rx.try_recv_into(buf)
    }

    /// Receives the next message into the front of `buf`, waiting for one.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`recv`](Self::recv).
    #[inline]
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.rx.recv_into(buf)
    }

    /// Receives the next message into the front of `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv_into`](Self::recv_into).
    #[inline]
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

    #[inline]
    fn send_wait(&mut self, msg: &[u8], wait: Deadline) -> Result<(), SendError> {
        if self.switch.send_ready() {
            self.follow()?;
        }
        self.check_move_request();
        let r = match &mut self.inner {
            SendInner::Shm(p) => p.send_by(msg, wait),
            SendInner::Tcp(t) => t.send(msg, wait),
        };
        self.count(&r, msg.len());
        r
    }

    /// Counts a send (or a reservation) of `len` bytes in the published
    /// counters: two relaxed adds on this direction's own line.
    #[inline(always)]
    fn count<T>(&self, r: &Result<T, SendError>, len: usize) {
        if let Some(c) = self.counters {
            match r {
                Ok(_) => c.count(len, || match &self.inner {
                    SendInner::Shm(p) => Some(p.ring_fill()),
                    SendInner::Tcp(_) => None,
                }),
                Err(SendError::Full { .. } | SendError::Timeout) => {}
                Err(_) => c.failed(),
            }
        }
    }

    #[inline]
    fn reserve_wait(&mut self, len: usize, wait: Deadline) -> Result<SendGrant<'_>, SendError> {
        if self.switch.send_ready() {
            self.follow()?;
        }
        self.check_move_request();
        // A reservation counts as a message of `len` bytes when it is made.
        let counters = self.counters;
        let failed = |e: SendError| {
            if let Some(c) = counters {
                if !matches!(e, SendError::Full { .. } | SendError::Timeout) {
                    c.failed();
                }
            }
            e
        };
        let inner = match &mut self.inner {
            SendInner::Shm(p) => GrantInner::Shm(p.reserve_by(len, wait).map_err(failed)?),
            SendInner::Tcp(t) => {
                t.reserve(len, wait).map_err(failed)?;
                GrantInner::Tcp {
                    sender: t,
                    len,
                    cursor: 0,
                }
            }
        };
        if let Some(c) = counters {
            c.count(len, || None);
        }
        Ok(SendGrant { inner })
    }

    /// Sends `msg` without waiting.
    ///
    /// # Errors
    /// [`SendError::Full`] when the ring (or the socket's buffer) has no room
    /// now; otherwise as [`send`](Self::send).
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_wait(msg, Deadline::NonBlocking)
    }

    /// Sends `msg`, waiting for room. On TCP, a message once started on the
    /// socket is always finished.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] above the maximum message; [`SendError::Disconnected`]
    /// when the peer closed; [`SendError::PeerDied`] when it died without closing;
    /// [`SendError::Corrupted`] / [`SendError::Io`] for a broken transport.
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_wait(msg, Deadline::Forever)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendError::Timeout`]; otherwise as [`send`](Self::send).
    #[inline]
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.send_wait(msg, Deadline::after(timeout))
    }

    /// Reserves room for a `len`-byte message without waiting: on shared
    /// memory the grant is the ring's memory itself (zero-copy); on TCP it is
    /// the frame buffer that is written to the socket as is.
    ///
    /// # Errors
    /// As [`try_send`](Self::try_send).
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.reserve_wait(len, Deadline::NonBlocking)
    }

    /// Reserves room for a `len`-byte message, waiting for it.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    #[inline]
    pub fn reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.reserve_wait(len, Deadline::Forever)
    }

    /// Reserves room for a `len`-byte message, waiting at most `timeout`.
    ///
    /// # Errors
    /// As [`send_timeout`](Self::send_timeout).
    #[inline]
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<SendGrant<'_>, SendError> {
        self.reserve_wait(len, Deadline::after(timeout))
    }

    /// A descriptor an event loop can wait on while this half waits for room,
    /// after [`arm_notify`](Self::arm_notify): on shared memory the ring's
    /// wake descriptor (wait for *readability*; every connection's rings have
    /// one), on TCP the socket (wait for *writability*); `None` for spin rings.
    pub fn notify_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.inner {
            SendInner::Shm(p) => p.notify_fd(),
            SendInner::Tcp(t) => Some(std::os::fd::AsFd::as_fd(t.stream())),
        }
    }

    /// Prepares to wait on [`notify_fd`](Self::notify_fd) until a `len`-byte
    /// message fits. Returns `true` when it fits already (or the peer closed
    /// or died): send instead of waiting.
    ///
    /// # Errors
    /// [`SendError::Io`] if draining the wake descriptor fails.
    pub fn arm_notify(&mut self, len: usize) -> Result<bool, SendError> {
        match &mut self.inner {
            SendInner::Shm(p) => p.arm_notify(len),
            SendInner::Tcp(t) => Ok(t.writable_now()),
        }
    }
}

impl RecvHalf {
    /// What the connection runs on.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    #[inline]
    fn recv_leg(&mut self, buf: &mut Vec<u8>, mut wait: Deadline) -> Result<usize, RecvError> {
        loop {
            let got = match &mut self.inner {
                RecvInner::Shm(c) => c.recv_conn_by(buf, wait),
                RecvInner::Tcp(t) => t.recv_conn(buf, wait),
            };
            match got {
                Ok(Got::Data(n)) => return Ok(n),
                other => self.not_data(other)?,
            }
            wait = wait.resolve();
        }
    }

    #[inline]
    fn recv_into_leg(&mut self, buf: &mut [u8], mut wait: Deadline) -> Result<usize, RecvError> {
        loop {
            let got = match &mut self.inner {
                RecvInner::Shm(c) => c.recv_into_conn_by(buf, wait),
                RecvInner::Tcp(t) => t.recv_into_conn(buf, wait),
            };
            match got {
                Ok(Got::Data(n)) => return Ok(n),
                other => self.not_data(other)?,
            }
            wait = wait.resolve();
        }
    }

    /// A receive found no message: a control record (handled), the old
    /// transport's end during a move (the next leg is taken), or an error.
    #[cold]
    fn not_data(&mut self, got: Result<Got, RecvError>) -> Result<(), RecvError> {
        match got {
            Ok(Got::Data(_)) => Ok(()),
            Ok(Got::Control(payload)) => self.on_control(&payload),
            Err(RecvError::Disconnected) if self.next_leg() => Ok(()),
            Err(e) => Err(e),
        }
    }

    #[inline]
    fn recv_wait(&mut self, buf: &mut Vec<u8>, wait: Deadline) -> Result<usize, RecvError> {
        let r = self.recv_leg(buf, wait);
        self.count(&r);
        r
    }

    #[inline]
    fn recv_into_wait(&mut self, buf: &mut [u8], wait: Deadline) -> Result<usize, RecvError> {
        let r = self.recv_into_leg(buf, wait);
        self.count(&r);
        r
    }

    /// Counts a receive in the published counters: two relaxed adds on this
    /// direction's own line.
    #[inline(always)]
    fn count(&self, r: &Result<usize, RecvError>) {
        if let Some(c) = self.counters {
            match r {
                Ok(n) => c.count(*n, || None),
                Err(RecvError::Empty | RecvError::Timeout | RecvError::Disconnected) => {}
                Err(_) => c.failed(),
            }
        }
    }

    /// Receives the next message into `buf` (replacing its contents) without waiting.
    ///
    /// # Errors
    /// [`RecvError::Empty`] when no message is there; otherwise as [`recv`](Self::recv).
    #[inline]
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_wait(buf, Deadline::NonBlocking)
    }

    /// Receives the next message into `buf`, waiting for one. Returns its
    /// length. The bytes are copied out, so the peer cannot change them later.
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the peer closed and everything it sent
    /// was read; [`RecvError::PeerDied`] when it died without closing;
    /// [`RecvError::Corrupted`] for a broken ring or TCP stream; [`RecvError::Io`].
    #[inline]
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_wait(buf, Deadline::Forever)
    }

    /// Receives the next message into `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv`](Self::recv).
    #[inline]
    pub fn recv_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.recv_wait(buf, Deadline::after(timeout))
    }

    /// Receives the next message into the front of `buf` without waiting.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`try_recv`](Self::try_recv).
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_into_wait(buf, Deadline::NonBlocking)
    }

    /// Receives the next message into the front of `buf`, waiting for one.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`recv`](Self::recv).
    #[inline]
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_into_wait(buf, Deadline::Forever)
    }

    /// Receives the next message into the front of `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Timeout`]; otherwise as [`recv_into`](Self::recv_into).
    #[inline]
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.recv_into_wait(buf, Deadline::after(timeout))
    }

    /// A descriptor an event loop can wait on for readability while this half
    /// waits for a message, after [`arm_notify`](Self::arm_notify): the ring's
    /// wake descriptor on shared memory (every connection's rings have one,
    /// whatever their wakeup), the socket on TCP; `None` for spin rings.
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

#[cfg(feature = "tls")]
impl Connection {
    /// A connection over an established TLS stream
    /// ([`tls::connect`](super::tls::connect) or [`tls::accept`](super::tls::accept)):
    /// length-prefixed frames, messages up to `max_message` bytes, the same
    /// `send`/`recv` contract and errors as a plaintext TCP connection. Its
    /// [`transport`](Connection::transport) names the peer's verified identity.
    ///
    /// # Examples
    /// ```no_run
    /// use mempipe::conn::tls::{self, TlsConfig};
    /// use mempipe::Connection;
    /// use std::time::Duration;
    /// let config = TlsConfig::from_files("ca.pem", "node-b.pem", "node-b.key")?;
    /// let tcp = std::net::TcpStream::connect("10.0.0.1:7000")?;
    /// let stream = tls::connect(tcp, "node-a", &config, Duration::from_secs(5))?;
    /// println!("talking to {}", stream.peer());
    /// let mut conn = Connection::over_tls(stream, 64 << 10);
    /// conn.send(b"hello")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn over_tls(stream: super::tls::TlsStream, max_message: usize) -> Connection {
        let peer = format!("{} ({})", stream.peer_addr(), stream.peer());
        let transport = Transport::tls(
            max_message,
            peer,
            "TLS 1.3, both sides verified by the cluster CA".to_owned(),
            stream.peer().clone(),
        );
        let shared = super::tcp::TcpShared::open(
            super::stream::ByteStream::Tls(Box::new(stream)),
            0,
            max_message,
        );
        let mut conn = Connection::tcp(shared, transport);
        let name = conn.transport().peer.clone();
        conn.publish(super::flows::publish::connection(
            &name,
            super::flows::publish::End::Unknown,
            conn.transport(),
            None,
        ));
        conn
    }
}
