//! The async listener: accepts awaited on tokio.

use super::connection::AsyncConnection;
use super::waiter::register;
use crate::conn::AcceptError;
use crate::error::OsError;
use crate::{ConnConfig, Listener};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A [`Listener`] whose accepts are awaited.
#[derive(Debug)]
pub struct AsyncListener {
    inner: Listener,
    ready: Option<AsyncFd<OwnedFd>>,
}

impl AsyncListener {
    /// Wraps a bound listener.
    pub fn new(listener: Listener) -> Self {
        AsyncListener {
            inner: listener,
            ready: None,
        }
    }

    /// Binds `name` as [`Listener::bind`] does.
    ///
    /// # Errors
    /// As [`Listener::bind`].
    pub fn bind(name: &str, config: &ConnConfig) -> Result<Self, crate::conn::BindError> {
        Ok(Self::new(Listener::bind(name, config)?))
    }

    /// The listener.
    pub fn get_ref(&self) -> &Listener {
        &self.inner
    }

    /// Waits for a client whose handshake completes, without blocking the
    /// runtime: each poll moves the handshakes in flight as far as their
    /// sockets allow and never waits on one (see [`Listener`]), so a silent
    /// or slow client holds neither this task nor the thread. Cancel safe: a
    /// client is taken only in the poll that completes; handshakes in flight
    /// stay with the listener.
    ///
    /// # Errors
    /// As [`Listener::accept`].
    pub async fn accept(&mut self) -> Result<AsyncConnection, AcceptError> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    pub(super) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<AsyncConnection, AcceptError>> {
        let os = |e: io::Error| AcceptError::Os(OsError::new("register with tokio", e));
        loop {
            match self.inner.try_accept() {
                Err(AcceptError::NoPending) => {}
                Ok(conn) => {
                    return Poll::Ready(
                        AsyncConnection::new(conn).map_err(|e| os(io::Error::other(e))),
                    )
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.ready.is_none() {
                let fd = self.inner.as_fd().try_clone_to_owned().map_err(os);
                match fd.and_then(|fd| register(fd, Interest::READABLE).map_err(os)) {
                    Ok(fd) => self.ready = Some(fd),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            let Some(fd) = self.ready.as_ref() else {
                return Poll::Pending;
            };
            let mut guard = ready!(fd.poll_read_ready(cx)).map_err(os)?;
            // Look again with the readiness taken: only a miss seen after it
            // may clear it, so a client arriving in between is not lost.
            match self.inner.try_accept() {
                // More may be ready than one step took: poll again soon
                // rather than wait for an edge that will not come.
                Err(AcceptError::NoPending) if self.inner.has_events() => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Err(AcceptError::NoPending) => guard.clear_ready(),
                Ok(conn) => {
                    return Poll::Ready(
                        AsyncConnection::new(conn).map_err(|e| os(io::Error::other(e))),
                    )
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
