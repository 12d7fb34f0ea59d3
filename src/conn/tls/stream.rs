//! A TLS session on a non-blocking TCP socket, read and written with the
//! same would-block contract as the socket itself, so the frame reader and
//! writer of the TCP transport run on it unchanged.
//!
//! Two rules keep readiness honest: `recv` returns "would block" only when
//! rustls holds no decrypted byte, no read ciphertext is left over, and the
//! socket has none (so waiting on the
//! socket then is right), and `send` reports bytes as written only once their
//! records have left for the socket (so nothing lingers in a buffer while the
//! caller waits for a reply).

use super::{PeerIdentity, TlsConfig, TlsError};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::RecvFlags;
use rustls::pki_types::ServerName;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An established, mutually verified TLS 1.3 session over TCP.
pub struct TlsStream {
    tcp: TcpStream,
    state: Mutex<State>,
    peer: PeerIdentity,
    peer_addr: SocketAddr,
}

struct State {
    conn: rustls::Connection,
    /// Plaintext taken by the last `send` whose records are not all out yet.
    accepted: usize,
    /// Ciphertext read from the socket and not yet given to rustls:
    /// `input[start..end]`. One socket read fills it, where rustls alone
    /// would read at most 4 KiB per call.
    input: Box<[u8]>,
    start: usize,
    end: usize,
}

/// Bytes one socket read may take: a few full records.
const INPUT: usize = 64 << 10;

/// Plaintext rustls may hold encrypted and not yet written: one call
/// encrypts this much of a large frame and hands it to the socket at once.
const OUTPUT: usize = 256 << 10;

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsStream({} {})", self.peer_addr, self.peer)
    }
}

/// Runs the server side of the handshake on `tcp`, within `deadline`.
///
/// # Errors
/// A [`TlsError`] saying why the client was refused (unknown CA, expired or
/// not-yet-valid certificate, none presented, not TLS at all) or that it
/// stalled past `deadline`.
pub fn accept(
    tcp: TcpStream,
    config: &TlsConfig,
    deadline: Duration,
) -> Result<TlsStream, TlsError> {
    Handshake::server(tcp, config)?.run(deadline)
}

/// Runs the client side of the handshake on `tcp`, expecting the listener's
/// certificate to carry `server_name` (a DNS name or IP address), within
/// `deadline`.
///
/// In TLS 1.3 the listener checks the client's certificate after the client
/// has finished: a client the listener refuses learns it on its first
/// receive, as an error.
///
/// # Errors
/// A [`TlsError`] saying why the listener was refused (unknown CA, expired,
/// wrong name), that it refused us ([`TlsError::RefusedByPeer`]), that it does
/// not speak TLS, or that it stalled past `deadline`.
pub fn connect(
    tcp: TcpStream,
    server_name: &str,
    config: &TlsConfig,
    deadline: Duration,
) -> Result<TlsStream, TlsError> {
    Handshake::client(tcp, server_name, config)?.run(deadline)
}

/// Waits until `tcp` is ready for `flags`, or `until`; false at `until`.
fn ready(tcp: &TcpStream, flags: PollFlags, until: Instant) -> bool {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(tcp, flags)];
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return true, // the next call reports it
        }
    }
}

/// Writes what rustls has queued without blocking: true when all went out.
fn flush(conn: &mut rustls::Connection, mut tcp: &TcpStream) -> std::io::Result<bool> {
    while conn.wants_write() {
        match conn.write_tls(&mut tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// What a handshake in progress waits for on its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Bytes from the peer.
    Read,
    /// Bytes from the peer, or room to send what is queued.
    ReadOrWrite,
    /// Room to send the last flight.
    Write,
}

/// A handshake driven without blocking: [`step`](Self::step) does what the
/// socket allows now and says what to wait for, so a blocking caller polls
/// and an event loop awaits readiness between steps.
pub(crate) struct Handshake {
    tcp: TcpStream,
    conn: rustls::Connection,
    /// The name a client expects the listener's certificate to carry.
    expected: Option<String>,
}

impl Handshake {
    /// The server side, on a connected socket (made non-blocking).
    pub(crate) fn server(tcp: TcpStream, config: &TlsConfig) -> Result<Self, TlsError> {
        let conn = rustls::ServerConnection::new(config.server.clone())?;
        Self::new(tcp, conn.into(), None)
    }

    /// The client side, expecting the listener to be `server_name`.
    pub(crate) fn client(
        tcp: TcpStream,
        server_name: &str,
        config: &TlsConfig,
    ) -> Result<Self, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| TlsError::Config(format!("server name {server_name:?}: {e}")))?;
        let conn = rustls::ClientConnection::new(config.client.clone(), name)?;
        Self::new(tcp, conn.into(), Some(server_name.to_owned()))
    }

    fn new(
        tcp: TcpStream,
        conn: rustls::Connection,
        expected: Option<String>,
    ) -> Result<Self, TlsError> {
        tcp.set_nonblocking(true)?;
        let _ = tcp.set_nodelay(true);
        Ok(Handshake {
            tcp,
            conn,
            expected,
        })
    }

    /// The socket, for waiting on.
    #[cfg(feature = "tokio")]
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The refusal `e` as a [`TlsError`], after sending the alert that tells
    /// the peer why (best effort).
    fn refused(&mut self, e: rustls::Error) -> TlsError {
        let _ = flush(&mut self.conn, &self.tcp);
        match TlsError::from(e) {
            TlsError::WrongName { .. } => TlsError::WrongName {
                expected: self.expected.clone().unwrap_or_default(),
            },
            other => other,
        }
    }

    /// Advances the handshake as far as the socket allows now: `None` when
    /// it is done (the last flight sent), else what to wait for.
    ///
    /// # Errors
    /// The refusal, a closed connection, or a socket error.
    pub(crate) fn step(&mut self) -> Result<Option<Want>, TlsError> {
        while self.conn.is_handshaking() {
            let flushed = flush(&mut self.conn, &self.tcp)?;
            if self.conn.wants_read() {
                match self.conn.read_tls(&mut &self.tcp) {
                    Ok(0) => return Err(TlsError::Closed),
                    Ok(_) => {
                        if let Err(e) = self.conn.process_new_packets() {
                            return Err(self.refused(e));
                        }
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(Some(match flushed {
                true => Want::Read,
                false => Want::ReadOrWrite,
            }));
        }
        // The last flight (the client's Finished) must leave before we return.
        match flush(&mut self.conn, &self.tcp)? {
            true => Ok(None),
            false => Ok(Some(Want::Write)),
        }
    }

    /// The established session, once [`step`](Self::step) returned `None`.
    ///
    /// # Errors
    /// [`TlsError::NoCertificate`] when the peer showed none; a socket error.
    pub(crate) fn finish(self) -> Result<TlsStream, TlsError> {
        TlsStream::established(self.tcp, self.conn)
    }

    /// Runs to the end, polling the socket, within `deadline`.
    fn run(mut self, deadline: Duration) -> Result<TlsStream, TlsError> {
        let start = Instant::now();
        let until = start + deadline;
        while let Some(want) = self.step()? {
            let flags = match want {
                Want::Read => PollFlags::IN,
                Want::ReadOrWrite => PollFlags::IN | PollFlags::OUT,
                Want::Write => PollFlags::OUT,
            };
            if !ready(&self.tcp, flags, until) {
                return Err(TlsError::Stalled {
                    waited: start.elapsed(),
                });
            }
        }
        self.finish()
    }
}

/// The errno a TLS failure is reported as on the byte stream: the peer's
/// refusal reads as a refused connection, anything else as a protocol error.
fn errno_of(e: &rustls::Error) -> Errno {
    match e {
        rustls::Error::AlertReceived(_) => Errno::CONNREFUSED,
        _ => Errno::PROTO,
    }
}

fn errno_of_io(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

impl TlsStream {
    /// A session whose handshake has finished (and whose last flight has
    /// left), on a non-blocking socket.
    pub(crate) fn established(
        tcp: TcpStream,
        conn: rustls::Connection,
    ) -> Result<TlsStream, TlsError> {
        let peer = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|der| PeerIdentity::from_der(der))
            .ok_or(TlsError::NoCertificate)?;
        let peer_addr = tcp.peer_addr()?;
        let mut conn = conn;
        conn.set_buffer_limit(Some(OUTPUT));
        Ok(TlsStream {
            tcp,
            state: Mutex::new(State {
                conn,
                accepted: 0,
                input: vec![0; INPUT].into_boxed_slice(),
                start: 0,
                end: 0,
            }),
            peer,
            peer_addr,
        })
    }

    /// The peer's verified identity.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The peer's socket address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads decrypted bytes without blocking: `Ok(0)` at the end of the
    /// stream, `AGAIN` when none is buffered and the socket has none.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> rustix::io::Result<usize> {
        let mut st = self.state();
        let st = &mut *st;
        loop {
            match st.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(errno_of_io(&e)),
            }
            if st.start == st.end {
                // No plaintext and no ciphertext left: ask the socket.
                match rustix::net::recv(&self.tcp, &mut st.input[..], RecvFlags::DONTWAIT) {
                    Ok((0, _)) => return Ok(0),
                    Ok((n, _)) => (st.start, st.end) = (0, n),
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            // rustls takes what it can frame (a slice reader never blocks).
            let mut input = &st.input[st.start..st.end];
            match st.conn.read_tls(&mut input) {
                Ok(n) => st.start += n,
                Err(e) => return Err(errno_of_io(&e)),
            }
            if let Err(e) = st.conn.process_new_packets() {
                let _ = flush(&mut st.conn, &self.tcp);
                return Err(errno_of(&e));
            }
        }
    }

    /// Encrypts and writes without blocking: `Ok(n)` once the records of
    /// `n` bytes of `buf` have all gone to the socket; `AGAIN` while they
    /// have not (call again with the same bytes when the socket has room).
    pub(crate) fn send(&self, buf: &[u8]) -> rustix::io::Result<usize> {
        let mut st = self.state();
        let st = &mut *st;
        if !flush(&mut st.conn, &self.tcp).map_err(|e| errno_of_io(&e))? {
            return Err(Errno::AGAIN);
        }
        if st.accepted > 0 {
            return Ok(std::mem::take(&mut st.accepted));
        }
        let n = st.conn.writer().write(buf).map_err(|e| errno_of_io(&e))?;
        if flush(&mut st.conn, &self.tcp).map_err(|e| errno_of_io(&e))? {
            Ok(n)
        } else {
            st.accepted = n;
            Err(Errno::AGAIN)
        }
    }

    /// Says goodbye (close_notify, best effort) and shuts the socket's
    /// sending side.
    pub(crate) fn shutdown_write(&self) {
        let mut st = self.state();
        st.conn.send_close_notify();
        let _ = flush(&mut st.conn, &self.tcp);
        let _ = self.tcp.shutdown(std::net::Shutdown::Write);
    }
}

impl AsFd for TlsStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp.as_fd()
    }
}
