//! TLS handshakes awaited on tokio (features `tls` and `tokio`).
//!
//! [`accept`] and [`connect`] run the same mutual TLS 1.3 handshake as
//! [`conn::tls::accept`](crate::conn::tls::accept) and
//! [`conn::tls::connect`](crate::conn::tls::connect), but wait for the socket
//! on the runtime instead of in `poll`, so no runtime thread is held by a slow
//! or silent peer. The result is the same [`TlsStream`]; an
//! [`AsyncConnection`](super::AsyncConnection) over it reads and writes with
//! the plaintext TCP path's rules (records encrypted and decrypted inside the
//! half's non-blocking calls; a frame the socket takes only in part stays
//! with the half and is finished by its next polls).
//!
//! rustls is driven directly on the readiness machinery the TCP halves
//! already use, rather than through tokio-rustls: the blocking and the async
//! connection then share one session type and one frame reader and writer,
//! and the `tls` feature pulls in no further crate.
//!
//! ```no_run
//! # async fn f(config: mempipe::conn::tls::TlsConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use mempipe::asyncio::{tls, AsyncConnection};
//! use mempipe::Connection;
//! use std::time::Duration;
//!
//! let tcp = tokio::net::TcpStream::connect("10.0.0.7:7000").await?;
//! let stream = tls::connect(tcp, "node-a", &config, Duration::from_secs(5)).await?;
//! let mut conn = AsyncConnection::new(Connection::over_tls(stream, 64 << 10))?;
//! conn.send(b"hello").await?;
//! # Ok(()) }
//! ```

use super::waiter::register;
use crate::conn::tls::{Handshake, TlsConfig, TlsError, TlsStream, Want};
use std::future::poll_fn;
use std::os::fd::AsFd;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::Interest;

/// Runs the server side of the handshake on `tcp`, within `deadline`,
/// awaiting the socket.
///
/// # Errors
/// As [`conn::tls::accept`](crate::conn::tls::accept): a [`TlsError`] saying
/// why the client was refused, or [`TlsError::Stalled`] past `deadline`.
pub async fn accept(
    tcp: tokio::net::TcpStream,
    config: &TlsConfig,
    deadline: Duration,
) -> Result<TlsStream, TlsError> {
    let handshake = Handshake::server(tcp.into_std()?, config)?;
    run(handshake, deadline).await
}

/// Runs the client side of the handshake on `tcp`, expecting the listener's
/// certificate to carry `server_name`, within `deadline`, awaiting the
/// socket.
///
/// # Errors
/// As [`conn::tls::connect`](crate::conn::tls::connect): a [`TlsError`]
/// saying why the listener was refused or refused us, or
/// [`TlsError::Stalled`] past `deadline`.
pub async fn connect(
    tcp: tokio::net::TcpStream,
    server_name: &str,
    config: &TlsConfig,
    deadline: Duration,
) -> Result<TlsStream, TlsError> {
    let handshake = Handshake::client(tcp.into_std()?, server_name, config)?;
    run(handshake, deadline).await
}

/// Steps `handshake` to the end, awaiting what each step waits for on an
/// owned duplicate of its socket (dropped, and so deregistered, at the end).
async fn run(mut handshake: Handshake, deadline: Duration) -> Result<TlsStream, TlsError> {
    let start = Instant::now();
    let stalled = || TlsError::Stalled {
        waited: start.elapsed(),
    };
    let fd = register(
        handshake.tcp().as_fd().try_clone_to_owned()?,
        Interest::READABLE | Interest::WRITABLE,
    )?;
    let until = tokio::time::Instant::from_std(start + deadline);
    while let Some(want) = handshake.step()? {
        // The readiness is cleared before the next step, which reads and
        // writes until the socket would block: no event is lost between the
        // two.
        let ready = poll_fn(|cx| {
            if want != Want::Write {
                if let Poll::Ready(r) = fd.poll_read_ready(cx) {
                    return Poll::Ready(r.map(|mut g| g.clear_ready()));
                }
            }
            if want != Want::Read {
                if let Poll::Ready(r) = fd.poll_write_ready(cx) {
                    return Poll::Ready(r.map(|mut g| g.clear_ready()));
                }
            }
            Poll::Pending
        });
        let waited = tokio::time::timeout_at(until, ready).await;
        match waited {
            Ok(result) => result?,
            Err(_) => return Err(stalled()),
        }
    }
    drop(fd);
    handshake.finish()
}
