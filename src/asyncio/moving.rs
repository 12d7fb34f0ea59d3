//! Async halves in a live move between shared memory and TCP (see
//! docs/design.md, "Moving a connection"): the same hand-over as the
//! blocking halves (`conn::connection::migrate`), with every wait awaited.
//!
//! * The receiving half joins a peer's proposal on tokio's blocking pool
//!   (the connect waits for the proposer's listener, up to two seconds) and
//!   keeps the task in the half, so a dropped receive future loses neither
//!   it nor a message; at the old transport's end it awaits the task and
//!   reads the new leg.
//! * The sending half follows queued legs before its next send: the rest of
//!   a TCP frame goes out on the old leg, the old leg closes (the marker),
//!   and the send goes on the new one.
//! * [`AsyncSendHalf::migrate`] is the initiator: the accept runs on the
//!   blocking pool; the switch itself happens in one poll, so a dropped
//!   future leaves the connection either moved or on its old transport.
//!
//! The legs pass between the halves through the same [`Switch`] as the
//! blocking halves' (a `LegQueue` each way); no new ordering is added.
//!
//! [`Switch`]: crate::conn::connection::migrate::Switch

use super::connection::{poll_tcp_write, wrap_recv, wrap_send, AsyncSend, Joining};
use super::{AsyncConnection, AsyncRecvHalf, AsyncSendHalf, NotPollable};
use crate::conn::connection::migrate::{
    abort_record, join, Control, MigrateError, Offer, Token, JOIN_TIMEOUT,
};
use crate::conn::TransportKind;
use crate::deadline::Deadline;
use crate::error::{RecvError, SendError};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

impl Joining {
    fn token(&self) -> Token {
        match self {
            Joining::Task { token, .. } => *token,
            Joining::Joined(p) => p.token(),
        }
    }
}

fn recv_not_pollable(e: NotPollable) -> RecvError {
    RecvError::Io(std::io::Error::other(e))
}

fn send_not_pollable(e: NotPollable) -> SendError {
    SendError::Io(std::io::Error::other(e))
}

impl AsyncRecvHalf {
    /// Handles a control record read from the current transport: a
    /// proposal is joined on the blocking pool (inline when no runtime runs
    /// this thread), an abort withdraws the joined one.
    #[cold]
    pub(super) fn on_control(&mut self, payload: &[u8]) -> Result<(), RecvError> {
        match Control::decode(payload)? {
            Control::Propose {
                token,
                kind,
                at,
                tls,
            } => {
                // One move at a time: while this side proposes one, or a
                // proposal is joined, the peer's waits out (it times out).
                if self.joining.is_some() || self.switch.is_moving() {
                    return Ok(());
                }
                let max = self.transport.max_message();
                let (switch, transport) = (self.switch.clone(), self.transport.clone());
                let connect = move || {
                    join(
                        kind,
                        &at,
                        tls.as_deref(),
                        token,
                        max,
                        JOIN_TIMEOUT,
                        &switch,
                        &transport,
                    )
                };
                self.joining = match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => Some(Joining::Task {
                        token,
                        task: runtime.spawn_blocking(connect),
                    }),
                    Err(_) => connect().map(Joining::Joined),
                };
            }
            Control::Abort { token } => {
                if self.joining.as_ref().is_some_and(|j| j.token() == token) {
                    // A connect still running finishes on its own; its leg
                    // is dropped with the task's result.
                    self.joining = None;
                }
            }
        }
        Ok(())
    }

    /// The current transport ended (`Disconnected`): moves to the next leg
    /// when there is one; `Ready(Ok(false))` when this is the end. Pending
    /// while the peer's proposal is still being joined (the task stays in
    /// `self`, and the old transport's end reads the same at the next poll).
    #[cold]
    pub(super) fn poll_next_leg(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, RecvError>> {
        // This side's own move: the leg its sending half accepted.
        if let Some((inner, transport)) = self.switch.take_recv() {
            self.inner = wrap_recv(inner).map_err(recv_not_pollable)?;
            self.transport = transport;
            return Poll::Ready(Ok(true));
        }
        // The peer's move, joined here: the sending side follows at its next call.
        let pending = match &mut self.joining {
            None => return Poll::Ready(Ok(false)),
            Some(Joining::Task { task, .. }) => match ready!(Pin::new(task).poll(cx)) {
                Ok(joined) => joined,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The runtime is shutting down: no leg.
                Err(_) => None,
            },
            Some(Joining::Joined(_)) => match self.joining.take() {
                Some(Joining::Joined(p)) => Some(p),
                _ => None,
            },
        };
        self.joining = None;
        // A proposal not joined was never moved to: this is the end.
        let Some(pending) = pending else {
            return Poll::Ready(Ok(false));
        };
        let (tx, rx) = pending.into_conn().split();
        self.inner = wrap_recv(rx.inner).map_err(recv_not_pollable)?;
        self.transport = rx.transport;
        self.switch.put_send((tx.inner, tx.transport));
        Poll::Ready(Ok(true))
    }
}

/// Tells a blocking accept to stop when the migrate future is dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl AsyncSendHalf {
    /// Whether a call must first follow a leg or send an owed abort: one
    /// relaxed load and a field test.
    #[inline(always)]
    pub(super) fn must_follow(&self) -> bool {
        self.switch.send_ready() || self.abort_owed.is_some()
    }

    /// Sends an owed abort, then follows the legs the receiving half queued:
    /// the old leg writes what it has left and closes (the marker), and this
    /// half goes on on the newest leg. Cancel safe: nothing is switched
    /// before the poll that completes.
    #[cold]
    pub(super) fn poll_follow(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        if let Some(token) = self.abort_owed {
            ready!(self.poll_send_control(cx, &abort_record(token)))?;
            self.abort_owed = None;
        }
        if self.switch.send_ready() {
            ready!(self.poll_leg_done(cx))?;
            self.switch_legs()?;
        }
        Poll::Ready(Ok(()))
    }

    /// [`poll_follow`](Self::poll_follow) without waiting: `Full` when the
    /// old leg cannot take what it has left now.
    #[cold]
    pub(super) fn try_follow(&mut self, len: usize) -> Result<(), SendError> {
        if let Some(token) = self.abort_owed {
            let abort = abort_record(token);
            match &mut self.inner {
                AsyncSend::Shm(p) => p.get_mut().send_control_by(&abort, Deadline::NonBlocking),
                AsyncSend::Tcp { sender, .. } => sender.send_control(&abort, Deadline::NonBlocking),
                AsyncSend::Closed { .. } => Err(SendError::Disconnected),
            }?;
            self.abort_owed = None;
        }
        if self.switch.send_ready() {
            if let AsyncSend::Tcp { sender, .. } = &mut self.inner {
                if !sender.flush(Deadline::NonBlocking)? || !sender.writable_now() {
                    return Err(SendError::Full { needed: len });
                }
            }
            self.switch_legs()?;
        }
        Ok(())
    }

    /// Ready when the current leg can be closed without waiting: on TCP its
    /// frame in flight is written and the socket has room for the close frame.
    fn poll_leg_done(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError>> {
        match &mut self.inner {
            AsyncSend::Tcp { sender, socket } => poll_tcp_write(sender, socket, cx, |s| {
                match s.flush(Deadline::NonBlocking) {
                    Ok(true) => s.writable_now().then_some(Ok(())),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                }
            }),
            AsyncSend::Shm(_) | AsyncSend::Closed { .. } => Poll::Ready(Ok(())),
        }
    }

    /// Takes every queued leg, in order: each one replaces (and so closes)
    /// the one before. After a shutdown the legs are closed at once.
    fn switch_legs(&mut self) -> Result<(), SendError> {
        for (inner, transport) in self.switch.take_send() {
            if let AsyncSend::Closed { .. } = self.inner {
                // Dropped: the peer reads this leg's end at once.
                drop(inner);
                continue;
            }
            self.inner = wrap_send(inner).map_err(send_not_pollable)?;
            self.transport = transport;
        }
        Ok(())
    }

    /// Polls to send a control record on the current leg.
    fn poll_send_control(
        &mut self,
        cx: &mut Context<'_>,
        payload: &[u8],
    ) -> Poll<Result<(), SendError>> {
        match &mut self.inner {
            AsyncSend::Shm(p) => p.poll_send_with(cx, payload.len(), |p| {
                p.send_control_by(payload, Deadline::NonBlocking)
            }),
            AsyncSend::Tcp { sender, socket } => poll_tcp_write(sender, socket, cx, |s| {
                match s.send_control(payload, Deadline::NonBlocking) {
                    Err(SendError::Full { .. }) => None,
                    done => Some(done),
                }
            }),
            AsyncSend::Closed { .. } => Poll::Ready(Err(SendError::Disconnected)),
        }
    }

    /// Moves this connection to `to` while messages flow, as
    /// [`SendHalf::migrate`](crate::conn::SendHalf::migrate) does, without
    /// blocking the runtime: this direction at once (the future completes
    /// when it has moved), the peer's direction at the peer's next send. No
    /// message is lost, duplicated or reordered. The peer's receiving half
    /// (blocking or async) must be receiving for the move to complete.
    ///
    /// The one-off listener is bound here; waiting for the peer to join runs
    /// on tokio's blocking pool.
    ///
    /// # Cancellation
    ///
    /// Dropping the future leaves the connection on a working transport:
    /// the switch itself happens in the poll that completes, so the
    /// connection has either moved whole or not at all. A future dropped
    /// after its proposal went out stops the accept (within about 50 ms,
    /// closing the listener and any leg the peer made) and owes the peer an
    /// abort record: it goes out on the old transport before the next
    /// record this half sends (a send, a reservation, or the next move), and
    /// until then the peer keeps its joined leg and turns down moves of its
    /// own. This side's receiving half turns down the peer's proposals only
    /// while the future is alive.
    ///
    /// # Errors
    /// [`MigrateError::Timeout`] when the peer did not join within
    /// `timeout` (an abort record is sent, the connection stays on the old
    /// transport and works); [`MigrateError::Refused`] when the new leg's
    /// TLS session failed (the connection stays too); [`MigrateError::Setup`] when the new transport
    /// could not be set up here; [`MigrateError::InProgress`] when another
    /// move of this connection is under way; [`MigrateError::Send`] when the
    /// connection itself failed, or was shut down for writing
    /// ([`SendError::Disconnected`]).
    pub async fn migrate(
        &mut self,
        to: TransportKind,
        timeout: Duration,
    ) -> Result<(), MigrateError> {
        poll_fn(|cx| self.poll_follow(cx)).await?;
        let local_ip = match &self.inner {
            AsyncSend::Tcp { sender, .. } => sender.stream().local_addr().ok().map(|a| a.ip()),
            AsyncSend::Shm(_) => None,
            AsyncSend::Closed { .. } => return Err(SendError::Disconnected.into()),
        };
        let Some(_moving) = self.switch.start_move() else {
            return Err(MigrateError::InProgress);
        };
        let start = Instant::now();
        let offer = Offer::bind(to, &self.switch, &self.transport, local_ip, timeout)?;
        let token = offer.token();
        let proposal = offer.proposal();
        poll_fn(|cx| self.poll_send_control(cx, &proposal)).await?;
        // From here a dropped future owes the peer an abort.
        self.abort_owed = Some(token);
        poll_fn(|cx| self.poll_flush_sent(cx)).await?;
        let cancel = Arc::new(AtomicBool::new(false));
        let _stop = CancelOnDrop(cancel.clone());
        let accept =
            tokio::task::spawn_blocking(move || offer.accept(start, timeout, Some(&cancel)));
        let joined = match accept.await {
            Ok(joined) => joined,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(MigrateError::Timeout {
                kind: to,
                waited: start.elapsed(),
            }),
        };
        let conn = match joined {
            Ok(conn) => conn,
            Err(e) => {
                poll_fn(|cx| self.poll_send_control(cx, &abort_record(token))).await?;
                self.abort_owed = None;
                return Err(e);
            }
        };
        let (tx, rx) = conn.split();
        let send = wrap_send(tx.inner).map_err(send_not_pollable)?;
        // The old leg's close must not wait for the peer to read.
        poll_fn(|cx| self.poll_leg_done(cx)).await?;
        // No await from here: the switch happens whole. The receiving half
        // gets its leg before the marker can make the peer move its direction.
        self.switch.put_recv((rx.inner, rx.transport));
        // Replacing the old sending side closes it: the marker.
        self.inner = send;
        self.transport = tx.transport;
        self.abort_owed = None;
        Ok(())
    }
}

impl AsyncConnection {
    /// Moves this connection to `to` while messages flow; see
    /// [`AsyncSendHalf::migrate`]. This side's receiving half need not be
    /// polled meanwhile; the peer's must be receiving.
    ///
    /// # Cancellation
    /// As [`AsyncSendHalf::migrate`].
    ///
    /// # Errors
    /// As [`AsyncSendHalf::migrate`].
    pub async fn migrate(
        &mut self,
        to: TransportKind,
        timeout: Duration,
    ) -> Result<(), MigrateError> {
        self.sender().migrate(to, timeout).await
    }
}
