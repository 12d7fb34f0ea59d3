//! A TLS client's handshake on the listener: the TLS handshake, then the
//! mempipe hello and its answer inside the session, each step taken when the
//! socket is ready and never waiting on it, all under the client's one
//! deadline. A refusal is [`AcceptError::Tls`] for that client only.

use super::hello::{check_hello, tcp_reply};
use crate::conn::config::ConnConfig;
use crate::conn::connection::Connection;
use crate::conn::error::{AcceptError, HandshakeError};
use crate::conn::stream::ByteStream;
use crate::conn::tcp::TcpShared;
use crate::conn::tls::session::Session;
use crate::conn::tls::{TlsConfig, TlsError};
use crate::conn::transport::Transport;
use crate::conn::wire::{self, ServerHello, Status, CLIENT_HELLO_LEN};
use std::net::{SocketAddr, TcpStream};

/// A TLS client in flight.
pub(in crate::conn::listener) struct TlsClient {
    /// The accepted socket, as the epoll set knows it.
    pub tcp: TcpStream,
    /// The session, on a duplicate of that socket (the connection takes it).
    session: Option<Box<Session>>,
    pub addr: SocketAddr,
    /// The hello was answered: the client's pid and the agreed largest
    /// message, while the answer waits to leave.
    answered: Option<(u32, usize)>,
    /// Whether the epoll set waits for the socket to be writable too.
    pub out_armed: bool,
}

impl TlsClient {
    /// A client accepted on a TLS address.
    pub(in crate::conn::listener) fn new(
        tcp: TcpStream,
        addr: SocketAddr,
        config: &TlsConfig,
    ) -> Result<TlsClient, AcceptError> {
        let tls = |source| AcceptError::Tls {
            peer: format!("TLS {addr}"),
            source,
        };
        let dup = tcp.try_clone().map_err(|e| tls(e.into()))?;
        let session = Session::server(dup, config).map_err(tls)?;
        Ok(TlsClient {
            tcp,
            session: Some(Box::new(session)),
            addr,
            answered: None,
            out_armed: false,
        })
    }

    /// Whether the TLS handshake is still running.
    pub(in crate::conn::listener) fn is_handshaking(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.is_handshaking())
    }

    /// Whether the session has records waiting for room in the socket.
    pub(in crate::conn::listener) fn wants_write(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.wants_write())
    }
}

impl TlsClient {
    /// Moves the handshake as far as it goes now, the hello gathering in
    /// `bytes` (`got` of them so far); `label` names the client in errors.
    pub(in crate::conn::listener) fn step(
        &mut self,
        bytes: &mut [u8; CLIENT_HELLO_LEN],
        got: &mut usize,
        label: &str,
        config: &ConnConfig,
    ) -> Result<Option<Connection>, AcceptError> {
        let TlsClient {
            session: slot,
            answered: answered_slot,
            addr,
            ..
        } = self;
        let Some(session) = slot.as_mut() else {
            return Ok(None);
        };
        let tls = |source| AcceptError::Tls {
            peer: label.to_owned(),
            source,
        };
        let moved = (|| -> Result<Option<(u32, usize)>, Step> {
            if !session.handshake()? {
                return Ok(None);
            }
            if let Some(answered) = *answered_slot {
                return Ok(session.flush()?.then_some(answered));
            }
            while *got < CLIENT_HELLO_LEN {
                let n = session.read(&mut bytes[*got..]).map_err(|e| match e {
                    TlsError::Closed => Step::Handshake(HandshakeError::Truncated {
                        got: *got,
                        expected: CLIENT_HELLO_LEN,
                    }),
                    other => Step::Tls(other),
                })?;
                if n == 0 {
                    return Ok(None);
                }
                *got += n;
            }
            let hello = match check_hello(bytes, wire::VIA_TCP) {
                Ok(hello) => hello,
                Err(e) => {
                    let _ = session.write(&ServerHello::bare(Status::BadHello).encode());
                    return Err(Step::Handshake(e));
                }
            };
            let reply = tcp_reply(&hello, config);
            let answered = (hello.pid, reply.max_message as usize);
            *answered_slot = Some(answered);
            Ok(session.write(&reply.encode())?.then_some(answered))
        })();
        let (pid, max) = match moved {
            Ok(None) => return Ok(None),
            Ok(Some(answered)) => answered,
            Err(failed) => {
                session.close_gently();
                return Err(match failed {
                    Step::Tls(e) => tls(e),
                    Step::Handshake(source) => AcceptError::Handshake {
                        peer: label.to_owned(),
                        source,
                    },
                });
            }
        };
        let Some(session) = slot.take() else {
            return Ok(None);
        };
        let stream = session.into_stream().map_err(tls)?;
        let identity = stream.peer().clone();
        let transport = Transport::tls(
            max,
            format!("{addr} ({identity})"),
            "TLS client, its certificate verified by the cluster CA".into(),
            identity,
        );
        let shared = TcpShared::open(ByteStream::Tls(Box::new(stream)), pid, max);
        Ok(Some(Connection::tcp(shared, transport)))
    }
}

/// How a step failed: in the TLS session, or in the mempipe handshake inside it.
enum Step {
    Tls(TlsError),
    Handshake(HandshakeError),
}

impl From<TlsError> for Step {
    fn from(e: TlsError) -> Self {
        Step::Tls(e)
    }
}
