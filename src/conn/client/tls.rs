//! The connecting side of a TLS connection: the TLS handshake, then the
//! mempipe hello and the listener's answer inside the session, all by one
//! deadline. The listener's refusal of this side's certificate arrives as an
//! alert while the answer is read: a typed error here, not on a first receive.

use super::{hello, refused_or_rejected, Choice};
use crate::conn::connection::Connection;
use crate::conn::error::{ConnectError, HandshakeError};
use crate::conn::stream::ByteStream;
use crate::conn::tcp::{poll_until, TcpShared};
use crate::conn::tls::session::Session;
use crate::conn::tls::{TlsConfig, TlsError};
use crate::conn::transport::Transport;
use crate::conn::wire::{self, ServerHello, SERVER_HELLO_LEN};
use crate::deadline::Deadline;
use rustix::event::PollFlags;
use std::net::TcpStream;
use std::time::Duration;

/// Why the exchange stopped.
enum Failed {
    Tls(TlsError),
    Handshake(HandshakeError),
    Other(ConnectError),
}

impl From<TlsError> for Failed {
    fn from(e: TlsError) -> Self {
        Failed::Tls(e)
    }
}

impl From<HandshakeError> for Failed {
    fn from(e: HandshakeError) -> Self {
        Failed::Handshake(e)
    }
}

/// Waits until the session can move (readable, or writable when records
/// wait), by `deadline`.
fn wait(session: &Session, deadline: Deadline, budget: Duration) -> Result<(), Failed> {
    let flags = if session.wants_write() {
        PollFlags::IN | PollFlags::OUT
    } else {
        PollFlags::IN
    };
    if poll_until(session.socket(), flags, deadline) {
        Ok(())
    } else if session.is_handshaking() {
        Err(TlsError::Stalled { waited: budget }.into())
    } else {
        Err(HandshakeError::Timeout(budget).into())
    }
}

/// Reads exactly `buf.len()` decrypted bytes by `deadline`.
fn read_exact(
    session: &mut Session,
    buf: &mut [u8],
    deadline: Deadline,
    budget: Duration,
) -> Result<(), Failed> {
    let mut got = 0;
    while got < buf.len() {
        match session.read(&mut buf[got..]) {
            Ok(0) => wait(session, deadline, budget)?,
            Ok(n) => got += n,
            Err(TlsError::Closed) => {
                return Err(HandshakeError::Truncated {
                    got,
                    expected: buf.len(),
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Runs TLS and then the mempipe handshake on `tcp`, expecting the
/// listener's certificate to carry `server_name`.
pub(super) fn connect_tls(
    tcp: TcpStream,
    server_name: &str,
    config: &TlsConfig,
    choice: &Choice,
    deadline: Deadline,
    budget: Duration,
    why: &str,
) -> Result<Connection, ConnectError> {
    let addr = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let exchange = || -> Result<Connection, Failed> {
        let mut session = Session::client(tcp, server_name, config)?;
        while !session.handshake()? {
            wait(&session, deadline, budget)?;
        }
        let mut sent = session.write(&hello(choice, wire::VIA_TCP).encode())?;
        while !sent {
            wait(&session, deadline, budget)?;
            sent = session.flush()?;
        }
        let mut fixed = [0u8; SERVER_HELLO_LEN];
        read_exact(&mut session, &mut fixed, deadline, budget)?;
        let (mut reply, path_len) = ServerHello::decode_fixed(&fixed)?;
        let mut path = vec![0u8; path_len];
        read_exact(&mut session, &mut path, deadline, budget)?;
        reply.path = path;
        if let Some(e) = refused_or_rejected(&reply) {
            return Err(Failed::Other(e));
        }
        let max = reply.max_message as usize;
        if max > choice.max_message {
            return Err(HandshakeError::BadField {
                field: "max_message",
                value: reply.max_message,
                why: "above what this side asked for",
            }
            .into());
        }
        let stream = session.into_stream()?;
        let identity = stream.peer().clone();
        let transport = Transport::tls(
            max,
            format!("{addr} ({identity})"),
            format!("{why}; TLS 1.3, its certificate verified by the cluster CA"),
            identity,
        );
        let shared = TcpShared::open(ByteStream::Tls(Box::new(stream)), reply.pid, max);
        Ok(Connection::tcp(shared, transport))
    };
    exchange().map_err(|failed| match failed {
        Failed::Tls(source) => ConnectError::Tls {
            addr: addr.clone(),
            source,
        },
        Failed::Handshake(e) => e.into(),
        Failed::Other(e) => e,
    })
}
