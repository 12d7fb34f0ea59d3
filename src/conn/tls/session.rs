//! A TLS session moved step by step without ever blocking: the listener
//! drives many of these from its one epoll set (each whenever its socket is
//! ready, each under its own deadline), and a connecting side drives one
//! between polls. Every step says what it needs next; every failure is a
//! typed [`TlsError`], the peer's alerts included.

use super::{TlsConfig, TlsError};
use rustls::pki_types::ServerName;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

/// A TLS session on a non-blocking TCP socket, before it becomes a
/// [`TlsStream`](super::TlsStream).
pub(crate) struct Session {
    tcp: TcpStream,
    conn: rustls::Connection,
    /// The name the listener's certificate must carry (client side).
    expected: Option<String>,
}

impl Session {
    /// The listener's side, on an accepted socket.
    pub(crate) fn server(tcp: TcpStream, config: &TlsConfig) -> Result<Session, TlsError> {
        let conn = rustls::ServerConnection::new(config.server.clone())?;
        Session::start(tcp, conn.into(), None)
    }

    /// The connecting side, expecting the listener's certificate to carry
    /// `server_name`.
    pub(crate) fn client(
        tcp: TcpStream,
        server_name: &str,
        config: &TlsConfig,
    ) -> Result<Session, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| TlsError::Config(format!("server name {server_name:?}: {e}")))?;
        let conn = rustls::ClientConnection::new(config.client.clone(), name)?;
        Session::start(tcp, conn.into(), Some(server_name.to_owned()))
    }

    fn start(
        tcp: TcpStream,
        conn: rustls::Connection,
        expected: Option<String>,
    ) -> Result<Session, TlsError> {
        tcp.set_nonblocking(true)?;
        let _ = tcp.set_nodelay(true);
        Ok(Session {
            tcp,
            conn,
            expected,
        })
    }

    /// The socket underneath.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.tcp
    }

    /// Whether records wait for room in the socket (wait for it to be
    /// writable as well as readable).
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Whether the handshake is still running.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The typed error for a failure rustls reported; the alert that tells
    /// the peer why goes out first (best effort).
    fn refused(&mut self, e: rustls::Error) -> TlsError {
        let _ = self.flush();
        match TlsError::from(e) {
            TlsError::WrongName { .. } => TlsError::WrongName {
                expected: self.expected.clone().unwrap_or_default(),
            },
            other => other,
        }
    }

    /// Writes queued records without blocking: true when all went out.
    pub(crate) fn flush(&mut self) -> Result<bool, TlsError> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut &self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Reads what the socket has and processes it: false when it had nothing.
    fn pump(&mut self) -> Result<bool, TlsError> {
        loop {
            match self.conn.read_tls(&mut &self.tcp) {
                Ok(0) => return Err(TlsError::Closed),
                Ok(_) => {
                    return match self.conn.process_new_packets() {
                        Ok(_) => Ok(true),
                        Err(e) => Err(self.refused(e)),
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Moves the handshake as far as it goes now: true once it has finished
    /// and its last flight has left.
    pub(crate) fn handshake(&mut self) -> Result<bool, TlsError> {
        loop {
            let flushed = self.flush()?;
            if !self.conn.is_handshaking() {
                return Ok(flushed);
            }
            if !self.conn.wants_read() || !self.pump()? {
                return Ok(false);
            }
        }
    }

    /// Reads decrypted bytes that are there now into `buf`: 0 when none is
    /// yet. The end of the stream (or the peer's close) is
    /// [`TlsError::Closed`]; the peer's alert is [`TlsError::RefusedByPeer`].
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => return Err(TlsError::Closed),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(TlsError::Closed),
                Err(e) => return Err(e.into()),
            }
            if !self.pump()? {
                return Ok(0);
            }
        }
    }

    /// Queues `bytes` (a few hundred at most: a hello) and writes what the
    /// socket takes: true when all went out, else wait until writable and
    /// [`flush`](Self::flush).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<bool, TlsError> {
        self.conn.writer().write_all(bytes)?;
        self.flush()
    }

    /// Reads and drops what the peer still sent, then shuts the sending
    /// side: closing with unread bytes would reset the connection, and the
    /// peer could lose the alert that says why it was refused.
    pub(crate) fn close_gently(&mut self) {
        let _ = self.flush();
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match (&self.tcp).read(&mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let _ = self.tcp.shutdown(std::net::Shutdown::Write);
    }

    /// The established stream, for the connection.
    pub(crate) fn into_stream(self) -> Result<super::TlsStream, TlsError> {
        super::TlsStream::established(self.tcp, self.conn)
    }
}
