//! The byte stream under the TCP transport's frames: the socket itself, or
//! (feature `tls`) a TLS session on it. Both read and write without blocking
//! with the socket's own contract (`AGAIN` when not ready; ready means the
//! socket's descriptor polls ready), so the frame reader and writer need not
//! know which they have.

use rustix::net::{RecvFlags, SendFlags};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};

/// A connected TCP socket, plain or under TLS.
pub(crate) enum ByteStream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsStream>),
}

impl From<TcpStream> for ByteStream {
    fn from(stream: TcpStream) -> Self {
        ByteStream::Plain(stream)
    }
}

impl ByteStream {
    /// The socket underneath (options, event-loop registration).
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            ByteStream::Plain(s) => s,
            #[cfg(feature = "tls")]
            ByteStream::Tls(s) => s.tcp(),
        }
    }

    /// Reads what is there without waiting (`Ok(0)`: the stream ended).
    pub(crate) fn recv(&self, buf: &mut [u8]) -> rustix::io::Result<usize> {
        match self {
            ByteStream::Plain(s) => rustix::net::recv(s, buf, RecvFlags::DONTWAIT).map(|(n, _)| n),
            #[cfg(feature = "tls")]
            ByteStream::Tls(s) => s.recv(buf),
        }
    }

    /// Writes what the socket takes without waiting.
    pub(crate) fn send(&self, buf: &[u8]) -> rustix::io::Result<usize> {
        match self {
            ByteStream::Plain(s) => {
                rustix::net::send(s, buf, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)
            }
            #[cfg(feature = "tls")]
            ByteStream::Tls(s) => s.send(buf),
        }
    }

    /// Shuts the sending side (a TLS session says goodbye first).
    pub(crate) fn shutdown_write(&self) {
        match self {
            ByteStream::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            #[cfg(feature = "tls")]
            ByteStream::Tls(s) => s.shutdown_write(),
        }
    }
}

impl AsFd for ByteStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp().as_fd()
    }
}
