//! What the gRPC and HTTP examples (and their tests) share: a mempipe
//! connection as the I/O that tonic and hyper run on, found by name on one
//! host or by `tcp://host:port` on another; the same code either way.

#![allow(dead_code)] // each example uses a different part

pub mod grpc;
pub mod http;

use futures_util::{Stream, StreamExt};
use hyper_util::rt::TokioIo;
use mempipe::asyncio::{AsyncConnection, AsyncListener};
use mempipe::conn::AcceptError;
use mempipe::ConnConfig;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An async connection as a byte stream for tonic and hyper: the
/// connection's own `AsyncRead`/`AsyncWrite`, plus tonic's `Connected`
/// (which a program can implement only for a type of its own).
#[derive(Debug)]
pub struct Io(pub AsyncConnection);

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Io {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

/// The listener's clients as a stream of [`Io`]s, for `serve_with_incoming`.
pub fn incoming(listener: AsyncListener) -> impl Stream<Item = Result<Io, AcceptError>> {
    listener.incoming().map(|accepted| accepted.map(Io))
}

/// Connects to `address` (a name, or `tcp://host:port`) as hyper's I/O.
pub async fn connect(address: String, config: &ConnConfig) -> io::Result<TokioIo<Io>> {
    let conn = mempipe::asyncio::connect(address, config)
        .await
        .map_err(io::Error::other)?;
    Ok(TokioIo::new(Io(conn)))
}

/// Binds `name` (and TCP, if `config` says so) and says where it listens.
pub fn bind(name: &str, config: &ConnConfig) -> Result<AsyncListener, mempipe::conn::BindError> {
    let listener = AsyncListener::bind(name, config)?;
    match listener.get_ref().tcp_addr() {
        Some(addr) => println!("listening as {name:?} and on tcp://{addr}"),
        None => println!("listening as {name:?}"),
    }
    Ok(listener)
}
