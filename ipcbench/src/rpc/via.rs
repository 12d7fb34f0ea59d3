//! The three ways a request/response framework reaches its server: a mempipe
//! connection by name, a UNIX stream socket, loopback TCP. One byte-stream
//! type ([`Stream`]) for all three, so that each framework has one server
//! and one client.

use super::net;
use mempipe::asyncio::AsyncListener;
use mempipe::ConnConfig;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A transport under the frameworks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    /// A mempipe connection by name (shared memory).
    Mempipe,
    /// A UNIX stream socket.
    Unix,
    /// TCP on 127.0.0.1, Nagle off.
    Tcp,
}

impl Via {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Via::Mempipe => "mempipe",
            Via::Unix => "unix",
            Via::Tcp => "tcp",
        }
    }
}

/// Where a server listens, as the parent chose it: a name (mempipe), a
/// socket path (unix), or nothing yet (tcp: the server picks a port).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Place {
    pub(crate) via: Via,
    /// The mempipe name or the socket path; unused for TCP.
    pub(crate) at: String,
    /// mempipe's spin budget before a wait arms its doorbell, microseconds;
    /// `None`: the connection's default.
    #[serde(default)]
    pub(crate) spin_us: Option<u64>,
}

/// The mempipe configuration both ends use.
pub(crate) fn config(spin_us: Option<u64>) -> ConnConfig {
    match spin_us {
        Some(us) => ConnConfig::new().spin_budget(std::time::Duration::from_micros(us)),
        None => ConnConfig::new(),
    }
}

/// A listening server socket of any transport.
pub(crate) enum Listening {
    Mempipe(Box<AsyncListener>),
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

impl Listening {
    /// Binds `place`. Must run inside the runtime.
    pub(crate) async fn bind(place: &Place) -> io::Result<Listening> {
        Ok(match place.via {
            Via::Mempipe => Listening::Mempipe(Box::new(
                AsyncListener::bind(&place.at, &config(place.spin_us)).map_err(io::Error::other)?,
            )),
            Via::Unix => {
                let path = PathBuf::from(&place.at);
                let _ = std::fs::remove_file(&path);
                Listening::Unix(UnixListener::bind(&path)?, path)
            }
            Via::Tcp => Listening::Tcp(TcpListener::bind("127.0.0.1:0").await?),
        })
    }

    /// What a client connects to: the name, the path, or `127.0.0.1:port`.
    pub(crate) fn address(&self, place: &Place) -> io::Result<String> {
        match self {
            Listening::Tcp(l) => Ok(l.local_addr()?.to_string()),
            _ => Ok(place.at.clone()),
        }
    }

    /// The next client.
    pub(crate) async fn accept(&mut self) -> io::Result<Stream> {
        Ok(match self {
            Listening::Mempipe(l) => Stream::Mempipe(Box::new(net::Io(
                l.accept().await.map_err(io::Error::other)?,
            ))),
            Listening::Unix(l, _) => Stream::Unix(l.accept().await?.0),
            Listening::Tcp(l) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        })
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Listening::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connects to a server at `address` over `via`.
pub(crate) async fn connect(via: Via, address: &str, spin_us: Option<u64>) -> io::Result<Stream> {
    Ok(match via {
        Via::Mempipe => Stream::Mempipe(Box::new(net::Io(
            mempipe::asyncio::connect(address.to_owned(), &config(spin_us))
                .await
                .map_err(io::Error::other)?,
        ))),
        Via::Unix => Stream::Unix(UnixStream::connect(address).await?),
        Via::Tcp => {
            let s = TcpStream::connect(address).await?;
            s.set_nodelay(true)?;
            Stream::Tcp(s)
        }
    })
}

/// A connected byte stream of any transport.
#[derive(Debug)]
pub(crate) enum Stream {
    Mempipe(Box<net::Io>),
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// Calls `$method` on whichever stream this is, pinned.
macro_rules! each {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            Stream::Mempipe(s) => Pin::new(s).$method($($arg),*),
            Stream::Unix(s) => Pin::new(s).$method($($arg),*),
            Stream::Tcp(s) => Pin::new(s).$method($($arg),*),
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Mempipe(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            Stream::Tcp(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, poll_shutdown(cx))
    }
}

impl tonic::transport::server::Connected for Stream {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}
