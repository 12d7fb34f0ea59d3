//! Async connections: the halves of a [`Connection`] awaited on tokio, over
//! shared memory (the ring's wake descriptors) or TCP (the socket).

use super::ring::{AsyncConsumer, AsyncProducer};
use super::waiter::{register, NotPollable};
use crate::conn::connection::migrate::{Switch, Token};
use crate::conn::connection::{RecvInner, SendInner};
use crate::conn::tcp::{TcpReceiver, TcpSender};
use crate::conn::{
    ConnectError, HandshakeError, IntoAddress, RecvHalf, SendGrant, SendHalf, Transport,
};
use crate::deadline::Deadline;
use crate::endpoint::{Consumer, Got};
use crate::error::{RecvError, SendError};
use crate::{ConnConfig, Connection};
use std::future::{poll_fn, Future};
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A [`Connection`] awaited on tokio: `recv().await`, `send().await` (waiting
/// for room), `reserve().await`, and [`split`](Self::split) into halves for
/// two tasks.
///
/// Cancellation: every method is cancel safe. A dropped `recv` future took
/// no message (the next call gets it); a dropped `send` future sent the whole
/// message or nothing; a dropped `reserve` future reserved nothing; a dropped
/// [`migrate`](Self::migrate) future left the connection on its old transport.
///
/// Moves: the connection can move between shared memory and TCP while
/// messages flow, initiated here ([`migrate`](Self::migrate)) or by the peer
/// (its `migrate`, or `mempipe move` on a blocking peer). A peer's proposal
/// is joined by the receiving half without blocking the runtime; the
/// sending direction follows at its next send. Nothing is lost, duplicated
/// or reordered (see docs/design.md, "Moving a connection").
#[derive(Debug)]
pub struct AsyncConnection {
    tx: AsyncSendHalf,
    rx: AsyncRecvHalf,
}

/// The sending half of an [`AsyncConnection`].
///
/// It takes part in moves between shared memory and TCP
/// ([`migrate`](Self::migrate), or a peer's move that this side's receiving
/// half joined): before each send or reservation it follows a leg its
/// receiving half queued, finishing what the old leg still had to write and
/// closing it (the marker the peer reads), and sends on the new leg.
pub struct AsyncSendHalf {
    pub(super) inner: AsyncSend,
    pub(super) transport: Arc<Transport>,
    /// A message a `Sink` accepted and has not sent yet.
    pub(super) pending: Option<bytes::Bytes>,
    /// A move's hand-over between the halves.
    pub(super) switch: Arc<Switch>,
    /// A proposal whose move was given up unanswered (its future dropped):
    /// the abort record goes out before the next record this half sends.
    pub(super) abort_owed: Option<Token>,
}

/// The receiving half of an [`AsyncConnection`].
///
/// It takes part in moves between shared memory and TCP: a peer's proposal,
/// read in order with the messages, is joined on tokio's blocking pool (the
/// runtime thread never waits for the connect) while the old transport is
/// read on; at the old transport's end the half reads the new leg and hands
/// its sending side to the sending half. Messages are neither lost,
/// duplicated nor reordered, and every receive stays cancel safe.
pub struct AsyncRecvHalf {
    pub(super) inner: AsyncRecv,
    pub(super) transport: Arc<Transport>,
    /// What byte-stream reads left of the current message.
    pub(super) remainder: crate::conn::byte_view::ReadRemainder,
    /// A move's hand-over between the halves.
    pub(super) switch: Arc<Switch>,
    /// The peer's proposed move, being joined or joined, waiting for the old
    /// transport's end.
    pub(super) joining: Option<Joining>,
}

pub(super) enum AsyncSend {
    Shm(AsyncProducer),
    Tcp {
        sender: TcpSender,
        /// An owned duplicate of the socket, registered for writability.
        socket: Option<AsyncFd<OwnedFd>>,
    },
    /// Shut down for writing: the peer reads what was sent, then the end.
    Closed {
        max_message: usize,
    },
}

// One per connection, never in a collection; boxing the ring side would put
// a pointer chase on every receive.
#[allow(clippy::large_enum_variant)]
pub(super) enum AsyncRecv {
    Shm(AsyncConsumer),
    Tcp {
        receiver: TcpReceiver,
        /// An owned duplicate of the socket, registered for readability.
        socket: Option<AsyncFd<OwnedFd>>,
    },
}

impl std::fmt::Debug for AsyncSendHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSendHalf")
            .field("transport", &self.transport.to_string())
            .finish()
    }
}

impl std::fmt::Debug for AsyncRecvHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRecvHalf")
            .field("transport", &self.transport.to_string())
            .finish()
    }
}

/// The peer's proposed move, on this side.
pub(crate) enum Joining {
    /// The connect runs on the blocking pool.
    Task {
        token: crate::conn::connection::migrate::Token,
        task: tokio::task::JoinHandle<Option<crate::conn::connection::migrate::Pending>>,
    },
    /// Joined: the new leg waits for the old transport's end.
    Joined(crate::conn::connection::migrate::Pending),
}

struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A waker that does nothing, for the non-waiting forms (`try_recv`).
fn noop_waker() -> std::task::Waker {
    std::task::Waker::from(Arc::new(Noop))
}

/// Connects to `address` as [`connect`](crate::connect) does, on tokio's
/// blocking pool (the handshake waits for the listener), and wraps the
/// connection for awaiting.
///
/// The address is taken as the blocking `connect` takes it (`&str`, `String`,
/// [`Address`](crate::conn::Address)) and parsed before the future is made,
/// so the future borrows nothing and can be spawned:
///
/// ```no_run
/// # async fn f() {
/// let addr = String::from("orders");
/// let client = tokio::spawn(mempipe::asyncio::connect(addr.as_str(), &mempipe::ConnConfig::default()));
/// # let _ = client;
/// # }
/// ```
///
/// # Errors
/// As [`connect`](crate::connect). (A connection's rings carry wake
/// descriptors, so they can always be awaited; rings from a listener that
/// sent none are [`ConnectError::Handshake`].)
pub fn connect(
    address: impl IntoAddress,
    config: &ConnConfig,
) -> impl Future<Output = Result<AsyncConnection, ConnectError>> + Send + 'static {
    let address = address.into_address();
    let config = config.clone();
    async move {
        let address = address?;
        let blocking = tokio::task::spawn_blocking(move || crate::connect(address, &config));
        let conn = match blocking.await {
            Ok(result) => result?,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        AsyncConnection::new(conn).map_err(|e| {
            HandshakeError::Mismatch(format!("its rings cannot be awaited: {e}")).into()
        })
    }
}

impl AsyncConnection {
    /// Wraps a connection for awaiting. Registration with the runtime happens
    /// at the first wait.
    ///
    /// # Errors
    /// [`NotPollable`] never happens for connections made by [`Listener`](crate::Listener) and
    /// [`connect`](crate::connect) (their rings are anonymous); it is kept for
    /// rings that cannot be awaited.
    pub fn new(conn: Connection) -> Result<Self, NotPollable> {
        let (tx, rx) = conn.split();
        Ok(AsyncConnection {
            tx: AsyncSendHalf::new(tx)?,
            rx: AsyncRecvHalf::new(rx)?,
        })
    }

    /// What this connection runs on, and why.
    pub fn transport(&self) -> &Transport {
        &self.tx.transport
    }

    /// Largest message either side may send.
    pub fn max_message(&self) -> usize {
        self.tx.max_message()
    }

    /// Splits into halves, for two tasks.
    pub fn split(self) -> (AsyncSendHalf, AsyncRecvHalf) {
        (self.tx, self.rx)
    }

    /// The sending half, borrowed.
    pub fn sender(&mut self) -> &mut AsyncSendHalf {
        &mut self.tx
    }

    /// The receiving half, borrowed.
    pub fn receiver(&mut self) -> &mut AsyncRecvHalf {
        &mut self.rx
    }

    /// Sends `msg`, waiting for room. See [`AsyncSendHalf::send`].
    ///
    /// # Errors
    /// As [`AsyncSendHalf::send`].
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.tx.send(msg).await
    }

    /// Reserves room for a `len`-byte message. See [`AsyncSendHalf::reserve`].
    ///
    /// # Errors
    /// As [`AsyncSendHalf::send`].
    pub async fn reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        self.tx.reserve(len).await
    }

    /// Receives the next message into `buf`. See [`AsyncRecvHalf::recv`].
    ///
    /// # Errors
    /// As [`AsyncRecvHalf::recv`].
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.rx.recv(buf).await
    }

    /// Sends `msg` without waiting.
    ///
    /// # Errors
    /// As [`SendHalf::try_send`].
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.tx.try_send(msg)
    }

    /// Receives a message without waiting.
    ///
    /// # Errors
    /// As [`RecvHalf::try_recv`].
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.rx.try_recv(buf)
    }
}

/// The registration of an owned duplicate of `stream` for `interest`, made
/// at the first wait.
pub(super) fn registered<'a>(
    socket: &'a mut Option<AsyncFd<OwnedFd>>,
    stream: &TcpStream,
    interest: Interest,
) -> io::Result<&'a AsyncFd<OwnedFd>> {
    if socket.is_none() {
        *socket = Some(register(stream.as_fd().try_clone_to_owned()?, interest)?);
    }
    match socket {
        Some(fd) => Ok(fd),
        None => Err(io::Error::other("socket registration vanished")),
    }
}

/// Runs `op` (`None`: it would block) until it completes, waiting on `fd`.
/// The readiness is cleared only when `op` found the socket not ready after
/// the readiness was taken, so no event between the two is lost.
pub(super) fn poll_io<R>(
    fd: &AsyncFd<OwnedFd>,
    interest: Interest,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> Option<R>,
) -> Poll<io::Result<R>> {
    loop {
        if let Some(done) = op() {
            return Poll::Ready(Ok(done));
        }
        let polled = if interest.is_writable() {
            fd.poll_write_ready(cx)
        } else {
            fd.poll_read_ready(cx)
        };
        let mut guard = ready!(polled)?;
        if let Some(done) = op() {
            return Poll::Ready(Ok(done));
        }
        guard.clear_ready();
    }
}

/// Runs a non-blocking TCP write `op` (`None`: the socket is full) until it
/// completes, waiting for writability on the registered socket.
pub(super) fn poll_tcp_write(
    sender: &mut TcpSender,
    socket: &mut Option<AsyncFd<OwnedFd>>,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&mut TcpSender) -> Option<Result<(), SendError>>,
) -> Poll<Result<(), SendError>> {
    let fd = match registered(socket, sender.stream(), Interest::WRITABLE) {
        Ok(fd) => fd,
        Err(e) => return Poll::Ready(Err(SendError::Io(e))),
    };
    poll_io(fd, Interest::WRITABLE, cx, || op(sender))
        .map(|r| r.unwrap_or_else(|e| Err(SendError::Io(e))))
}

/// A blocking connection's sending side (a half's, or a new leg's), for awaiting.
pub(super) fn wrap_send(inner: SendInner) -> Result<AsyncSend, NotPollable> {
    Ok(match inner {
        SendInner::Shm(mut p) => {
            // Async halves publish no counters: the flow's slot is given up
            // with the blocking half (and a new leg's with its connection),
            // so the ring stops counting into it.
            p.clear_counters();
            AsyncSend::Shm(AsyncProducer::new(p)?)
        }
        SendInner::Tcp(mut sender) => {
            // A runtime thread must never wait for the peer to read.
            sender.defer_writes();
            AsyncSend::Tcp {
                sender,
                socket: None,
            }
        }
    })
}

/// A blocking connection's receiving side, for awaiting.
pub(super) fn wrap_recv(inner: RecvInner) -> Result<AsyncRecv, NotPollable> {
    Ok(match inner {
        RecvInner::Shm(mut c) => {
            c.clear_counters();
            AsyncRecv::Shm(AsyncConsumer::new(c)?)
        }
        RecvInner::Tcp(receiver) => AsyncRecv::Tcp {
            receiver,
            socket: None,
        },
    })
}

impl AsyncSendHalf {
    /// Wraps a sending half for awaiting.
    pub(crate) fn new(half: SendHalf) -> Result<Self, NotPollable> {
        Ok(AsyncSendHalf {
            inner: wrap_send(half.inner)?,
            transport: half.transport,
            pending: None,
            switch: half.switch,
            abort_owed: None,
        })
    }

    /// What the connection runs on.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Largest message this half may send.
    pub fn max_message(&self) -> usize {
        match &self.inner {
            AsyncSend::Shm(p) => p.max_message(),
            AsyncSend::Tcp { sender, .. } => sender.max_message(),
            AsyncSend::Closed { max_message } => *max_message,
        }
    }

    /// Sends `msg` without waiting.
    ///
    /// # Errors
    /// As [`SendHalf::try_send`].
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        if self.must_follow() {
            self.try_follow(msg.len())?;
        }
        match &mut self.inner {
            AsyncSend::Shm(p) => p.get_mut().try_send(msg),
            AsyncSend::Tcp { sender, .. } => sender.send(msg, Deadline::NonBlocking),
            AsyncSend::Closed { .. } => Err(SendError::Disconnected),
        }
    }

    /// Sends `msg`, waiting for room without blocking the runtime, and
    /// returns once it is written. Cancel safe: a dropped future sent all of
    /// `msg` or nothing (on TCP a frame already started is finished by the
    /// next call on this half, or when it is dropped).
    ///
    /// # Errors
    /// As [`SendHalf::send`]; a dead peer is noticed while waiting, with no
    /// thread blocked.
    pub async fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        poll_fn(|cx| self.poll_send(cx, msg)).await?;
        poll_fn(|cx| self.poll_flush_sent(cx)).await
    }

    /// Polls to send `msg`: `Ready(Ok)` once it is taken, `Pending` with
    /// nothing taken. On TCP the socket may not have taken all of its frame
    /// yet; the next poll on this half finishes it first, and
    /// [`poll_flush_sent`](Self::poll_flush_sent) waits for it.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn poll_send(&mut self, cx: &mut Context<'_>, msg: &[u8]) -> Poll<Result<(), SendError>> {
        if self.must_follow() {
            ready!(self.poll_follow(cx))?;
        }
        match &mut self.inner {
            AsyncSend::Shm(p) => p.poll_send(cx, msg),
            AsyncSend::Tcp { sender, socket } => poll_tcp_write(sender, socket, cx, |sender| {
                match sender.send(msg, Deadline::NonBlocking) {
                    Err(SendError::Full { .. }) => None,
                    done => Some(done),
                }
            }),
            AsyncSend::Closed { .. } => Poll::Ready(Err(SendError::Disconnected)),
        }
    }

    /// Polls until every message taken is written: on TCP, the rest of a
    /// frame the socket had no room for; on shared memory there is nothing
    /// to wait for (a send is published when it is taken).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn poll_flush_sent(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        match &mut self.inner {
            AsyncSend::Tcp { sender, socket } => poll_tcp_write(sender, socket, cx, |sender| {
                match sender.flush(Deadline::NonBlocking) {
                    Ok(false) => None,
                    done => Some(done.map(drop)),
                }
            }),
            AsyncSend::Shm(_) | AsyncSend::Closed { .. } => Poll::Ready(Ok(())),
        }
    }

    /// Reserves room for a `len`-byte message, waiting for it: on shared
    /// memory the grant is the ring's memory (zero-copy). Cancel safe; a grant
    /// dropped uncommitted sends nothing.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn reserve(&mut self, len: usize) -> Result<SendGrant<'_>, SendError> {
        poll_fn(|cx| self.poll_room(cx, len)).await?;
        let inner = match &mut self.inner {
            AsyncSend::Shm(p) => crate::conn::grant::GrantInner::Shm(p.get_mut().try_reserve(len)?),
            AsyncSend::Tcp { sender, .. } => {
                sender.reserve(len, Deadline::NonBlocking)?;
                crate::conn::grant::GrantInner::Tcp {
                    sender,
                    len,
                    cursor: 0,
                }
            }
            AsyncSend::Closed { .. } => return Err(SendError::Disconnected),
        };
        Ok(SendGrant { inner })
    }

    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<Result<(), SendError>> {
        if self.must_follow() {
            ready!(self.poll_follow(cx))?;
        }
        match &mut self.inner {
            AsyncSend::Shm(p) => p.poll_room(cx, len),
            AsyncSend::Tcp { sender, socket } => poll_tcp_write(sender, socket, cx, |sender| {
                match sender.reserve(len, Deadline::NonBlocking) {
                    Err(SendError::Full { .. }) => None,
                    done => Some(done),
                }
            }),
            AsyncSend::Closed { .. } => Poll::Ready(Err(SendError::Disconnected)),
        }
    }
}

impl AsyncRecvHalf {
    /// Wraps a receiving half for awaiting.
    pub(crate) fn new(half: RecvHalf) -> Result<Self, NotPollable> {
        Ok(AsyncRecvHalf {
            inner: wrap_recv(half.inner)?,
            transport: half.transport,
            remainder: half.remainder,
            switch: half.switch,
            joining: half.pending.map(Joining::Joined),
        })
    }

    /// What the connection runs on.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Receives a message without waiting. A peer's move is joined here too;
    /// while its connect is still under way at the old transport's end, this
    /// finds nothing (`Empty`).
    ///
    /// # Errors
    /// As [`RecvHalf::try_recv`].
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let polled = self.poll_conn(&mut cx, |inner, _, _| {
            Poll::Ready(match inner {
                AsyncRecv::Shm(c) => c.get_mut().recv_conn_by(buf, Deadline::NonBlocking),
                AsyncRecv::Tcp { receiver, .. } => receiver.recv_conn(buf, Deadline::NonBlocking),
            })
        });
        match polled {
            Poll::Ready(done) => done,
            Poll::Pending => Err(RecvError::Empty),
        }
    }

    /// Receives the next message into `buf` (replacing its contents),
    /// without blocking the runtime. Cancel safe: a message is taken only in
    /// the poll that completes the future, so a dropped future (a `select!`
    /// branch that lost, a timeout) leaves it for the next call. A control
    /// record a dropped future took (a peer's move) is kept in this half.
    ///
    /// # Errors
    /// As [`RecvHalf::recv`]; [`RecvError::PeerDied`] within about a liveness
    /// interval of the peer's death, noticed with no thread blocked.
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Receives the next message into the front of `buf`. Cancel safe.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] (the message stays); otherwise as [`recv`](Self::recv).
    pub async fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        poll_fn(|cx| {
            self.poll_conn(cx, |inner, _, cx| {
                poll_step(
                    inner,
                    cx,
                    buf,
                    |c, buf| c.recv_into_conn_by(buf, Deadline::NonBlocking),
                    |t, buf| t.recv_into_conn(buf, Deadline::NonBlocking),
                )
            })
        })
        .await
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
        self.poll_conn(cx, |inner, _, cx| {
            poll_step(
                inner,
                cx,
                buf,
                |c, buf| c.recv_conn_by(buf, Deadline::NonBlocking),
                |t, buf| t.recv_conn(buf, Deadline::NonBlocking),
            )
        })
    }

    /// Runs `step` (one receive on the current transport, waiting as it
    /// does) until it yields a message: a control record is handled (a
    /// peer's proposal is joined), and the current transport's end moves to
    /// the next leg when there is one. Everything that must outlive a
    /// dropped future (a proposal being joined, a leg taken) is kept in
    /// `self`, so the caller stays cancel safe when `step` is.
    pub(super) fn poll_conn(
        &mut self,
        cx: &mut Context<'_>,
        mut step: impl FnMut(
            &mut AsyncRecv,
            &mut crate::conn::byte_view::ReadRemainder,
            &mut Context<'_>,
        ) -> Poll<Result<Got, RecvError>>,
    ) -> Poll<Result<usize, RecvError>> {
        loop {
            match ready!(step(&mut self.inner, &mut self.remainder, cx)) {
                Ok(Got::Data(n)) => return Poll::Ready(Ok(n)),
                Ok(Got::Control(payload)) => {
                    if let Err(e) = self.on_control(&payload) {
                        return Poll::Ready(Err(e));
                    }
                }
                Err(RecvError::Disconnected) => match ready!(self.poll_next_leg(cx)) {
                    Ok(true) => {}
                    Ok(false) => return Poll::Ready(Err(RecvError::Disconnected)),
                    Err(e) => return Poll::Ready(Err(e)),
                },
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// One connection receive into `buf` on `inner`: `shm` on the ring
/// (waiting on its wake descriptor) or `tcp` on the socket (waiting for
/// readability), each a non-blocking attempt that finds `Empty` when there
/// is nothing yet.
pub(super) fn poll_step<B: ?Sized>(
    inner: &mut AsyncRecv,
    cx: &mut Context<'_>,
    buf: &mut B,
    mut shm: impl FnMut(&mut Consumer, &mut B) -> Result<Got, RecvError>,
    mut tcp: impl FnMut(&mut TcpReceiver, &mut B) -> Result<Got, RecvError>,
) -> Poll<Result<Got, RecvError>> {
    match inner {
        AsyncRecv::Shm(c) => c.poll_until(cx, |c| shm(c, buf)),
        AsyncRecv::Tcp { receiver, socket } => {
            let fd = match registered(socket, receiver.stream(), Interest::READABLE) {
                Ok(fd) => fd,
                Err(e) => return Poll::Ready(Err(RecvError::Io(e))),
            };
            poll_io(fd, Interest::READABLE, cx, || match tcp(receiver, buf) {
                Err(RecvError::Empty) => None,
                done => Some(done),
            })
            .map(|r| r.unwrap_or_else(|e| Err(RecvError::Io(e))))
        }
    }
}
