//! One client's handshake as a state machine the listener drives whenever
//! the client's socket has something to read: never a blocking read, so a
//! silent or slow client holds only its own socket, and one deadline bounds
//! the whole exchange however the bytes arrive.

use super::super::config::{ring_for, Choice, ConnConfig};
use super::super::connection::Connection;
use super::super::error::{AcceptError, HandshakeError};
use super::super::io::{read_available, write_all};
use super::super::tcp::TcpShared;
use super::super::transport::Transport;
use super::super::wire::{self, ClientHello, ServerHello, Status, CLIENT_HELLO_LEN};
use super::hello::{check_hello, tcp_reply};
#[cfg(feature = "tls")]
use super::tls_client::TlsClient;
use crate::config::{Config, WakeupKind};
use crate::endpoint::{Consumer, Producer};
use crate::error::OsError;
use crate::region::Region;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Largest ring a client may ask for beyond the listener's own choice.
const MAX_CLIENT_RING: usize = 64 << 20;

/// What the listener decides by, the same for every client.
pub(super) struct Policy {
    pub config: ConnConfig,
    pub choice: Choice,
    pub boot_id: [u8; 16],
    pub uid: u32,
    /// The TCP address's TLS configuration, when it speaks TLS.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::conn::tls::TlsConfig>,
}

impl Policy {
    pub(super) fn allowed(&self, uid: u32, gid: u32) -> bool {
        uid == self.uid
            || self.config.allow_any_user
            || self.config.allowed_uids.contains(&uid)
            || self.config.allowed_gid == Some(gid)
    }
}

/// Whose handshakes are counted together against the per-peer limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum PeerKey {
    Uid(u32),
    Ip(IpAddr),
}

impl PeerKey {
    /// A TCP client's key: its IPv4 address, or its IPv6 /64 (one host
    /// commonly holds a whole /64, and would otherwise have a share per
    /// address).
    pub(super) fn tcp(ip: IpAddr) -> PeerKey {
        PeerKey::Ip(match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            },
            v4 => v4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PeerKey;

    #[test]
    fn an_ipv6_64_shares_one_key_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| PeerKey::tcp(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::7"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }
}

/// A local client, as the kernel's peer credentials name it.
pub(super) struct LocalPeer {
    pub pid: u32,
    pub uid: u32,
    /// Its process, watched from the first byte (`None` without pidfds).
    pub pidfd: Option<Arc<OwnedFd>>,
}

pub(super) enum Client {
    Local(UnixStream, LocalPeer),
    Tcp(TcpStream, SocketAddr),
    #[cfg(feature = "tls")]
    Tls(Box<TlsClient>),
}

/// The shared-memory connection built for a local client, waiting for its
/// acknowledgement.
pub(super) struct Offered {
    producer: Producer,
    consumer: Consumer,
    transport: Transport,
}

enum Stage {
    Hello {
        bytes: [u8; CLIENT_HELLO_LEN],
        got: usize,
    },
    Ack(Box<Offered>),
}

/// A client whose handshake is in flight.
pub(super) struct Pending {
    pub client: Client,
    pub key: PeerKey,
    pub label: String,
    pub deadline: Instant,
    stage: Stage,
}

/// Connections that spin, counted while the listener's end of them lives.
#[derive(Default)]
pub(super) struct Spinning(Vec<Weak<crate::ring::Shared>>);

impl Spinning {
    fn live(&mut self) -> usize {
        self.0.retain(|w| w.strong_count() > 0);
        self.0.len()
    }
}

impl Pending {
    pub(super) fn new(client: Client, key: PeerKey, label: String, deadline: Instant) -> Self {
        Pending {
            client,
            key,
            label,
            deadline,
            stage: Stage::Hello {
                bytes: [0; CLIENT_HELLO_LEN],
                got: 0,
            },
        }
    }

    pub(super) fn socket(&self) -> BorrowedFd<'_> {
        match &self.client {
            Client::Local(s, _) => s.as_fd(),
            Client::Tcp(s, _) => s.as_fd(),
            #[cfg(feature = "tls")]
            Client::Tls(c) => c.tcp.as_fd(),
        }
    }

    /// The error for a client that missed its deadline.
    pub(super) fn expired(&self, timeout: Duration) -> AcceptError {
        #[cfg(feature = "tls")]
        if let Client::Tls(c) = &self.client {
            if c.is_handshaking() {
                return AcceptError::Tls {
                    peer: self.label.clone(),
                    source: crate::conn::tls::TlsError::Stalled { waited: timeout },
                };
            }
        }
        self.fail(HandshakeError::Timeout(timeout))
    }

    fn fail(&self, source: HandshakeError) -> AcceptError {
        AcceptError::Handshake {
            peer: self.label.clone(),
            source,
        }
    }

    /// Takes what the client sent and answers it, without waiting. `None`
    /// while waiting for more; once finished, a connection (`None` for a TCP
    /// client sent to the rendezvous socket) or why the client was dropped.
    pub(super) fn advance(
        &mut self,
        policy: &Policy,
        spinning: &mut Spinning,
    ) -> Option<Result<Connection, AcceptError>> {
        self.step(policy, spinning).transpose()
    }

    fn step(
        &mut self,
        policy: &Policy,
        spinning: &mut Spinning,
    ) -> Result<Option<Connection>, AcceptError> {
        #[cfg(feature = "tls")]
        if let (Client::Tls(c), Stage::Hello { bytes, got }) = (&mut self.client, &mut self.stage) {
            return c.step(bytes, got, &self.label, &policy.config);
        }
        match &self.stage {
            Stage::Hello { bytes, got } => {
                let (mut bytes, mut got) = (*bytes, *got);
                while got < CLIENT_HELLO_LEN {
                    let n = read_available(self.socket(), &mut bytes[got..], got, CLIENT_HELLO_LEN)
                        .map_err(|e| self.fail(e))?;
                    if n == 0 {
                        self.stage = Stage::Hello { bytes, got };
                        return Ok(None);
                    }
                    got += n;
                }
                let hello = self.read_hello(&bytes)?;
                self.answer(hello, policy, spinning)
            }
            Stage::Ack(_) => {
                let mut ack = [0u8; 1];
                if read_available(self.socket(), &mut ack, 0, 1).map_err(|e| self.fail(e))? == 0 {
                    return Ok(None);
                }
                let Stage::Ack(offered) = std::mem::replace(
                    &mut self.stage,
                    Stage::Hello {
                        bytes: [0; CLIENT_HELLO_LEN],
                        got: 0,
                    },
                ) else {
                    return Ok(None);
                };
                self.acknowledged(ack[0], *offered).map(Some)
            }
        }
    }

    fn read_hello(&self, bytes: &[u8; CLIENT_HELLO_LEN]) -> Result<ClientHello, AcceptError> {
        let via = match self.client {
            Client::Local(..) => wire::VIA_UNIX,
            _ => wire::VIA_TCP,
        };
        check_hello(bytes, via).map_err(|e| {
            let _ = write_all(self.socket(), &ServerHello::bare(Status::BadHello).encode());
            self.fail(e)
        })
    }

    fn answer(
        &mut self,
        hello: ClientHello,
        policy: &Policy,
        spinning: &mut Spinning,
    ) -> Result<Option<Connection>, AcceptError> {
        match &self.client {
            Client::Tcp(stream, addr) => {
                let stream = stream.try_clone().map_err(|e| self.fail(e.into()))?;
                let addr = *addr;
                self.answer_tcp(stream, addr, hello, policy).map(Some)
            }
            #[cfg(feature = "tls")]
            Client::Tls(_) => Err(self.fail(HandshakeError::Mismatch(
                "a TLS client's hello is answered inside its session".into(),
            ))),
            Client::Local(_, peer) => {
                let pid = peer.pid;
                let pidfd = peer.pidfd.clone();
                let offered = self
                    .offer_rings(hello, pid, pidfd, policy, spinning)
                    .inspect_err(|_| {
                        let refusal = ServerHello::bare(Status::OutOfResources);
                        let _ = write_all(self.socket(), &refusal.encode());
                    })?;
                self.stage = Stage::Ack(Box::new(offered));
                Ok(None)
            }
        }
    }

    /// The wakeup this listener grants: what it forces, else what the client
    /// asks for within its limits; and why, for the transport's description.
    fn wakeup(
        hello: &ClientHello,
        policy: &Policy,
        spinning: &mut Spinning,
    ) -> (WakeupKind, Duration, String) {
        let max_budget = policy.config.max_spin_budget;
        let (wakeup, spin, mut why) = match (policy.config.wakeup, hello.wakeup) {
            (Some(forced), _) => (
                forced,
                policy.choice.spin_budget,
                "wakeup forced by this listener".to_owned(),
            ),
            (None, Some(asked)) => (
                asked,
                Duration::from_nanos(hello.spin_budget_ns).min(max_budget),
                "as the client chose".to_owned(),
            ),
            (None, None) => (
                policy.choice.wakeup,
                policy.choice.spin_budget,
                "as this listener chose".to_owned(),
            ),
        };
        if wakeup != WakeupKind::Spin {
            return (wakeup, spin, why);
        }
        let allowed = policy.config.spinning_allowed();
        if spinning.live() < allowed {
            return (wakeup, spin, why);
        }
        why = if allowed == 0 {
            "spin asked, but this listener allows no spinning connection: hybrid instead".into()
        } else {
            format!(
                "spin asked, but this listener's {allowed} spinning connection(s) are in use: hybrid instead"
            )
        };
        (
            WakeupKind::Hybrid,
            policy.choice.spin_budget.min(max_budget),
            why,
        )
    }

    fn offer_rings(
        &self,
        hello: ClientHello,
        pid: u32,
        pidfd: Option<Arc<OwnedFd>>,
        policy: &Policy,
        spinning: &mut Spinning,
    ) -> Result<Offered, AcceptError> {
        let max = (hello.max_message as usize).min(policy.config.max_message);
        let (wakeup, spin, why) = Self::wakeup(&hello, policy, spinning);
        // A client may ask for a larger ring than this listener would pick,
        // within reason: each connection's rings are real memory.
        let capacity = (hello.capacity as usize)
            .min(policy.choice.capacity.max(MAX_CLIENT_RING))
            .max(ring_for(max))
            .next_power_of_two();
        let ring = Config::new()
            .capacity(capacity)
            .max_message(max)
            .wakeup(wakeup)
            .spin_budget(spin)
            .liveness_interval(policy.config.liveness_interval);
        let to_us = Region::create_anonymous(&ring)?;
        let to_them = Region::create_anonymous(&ring)?;
        let reply = ServerHello {
            status: Status::Accepted,
            wakeup: Some(wakeup),
            pid: std::process::id(),
            max_message: max as u64,
            capacity: capacity as u64,
            spin_budget_ns: spin.as_nanos() as u64,
            liveness_ns: policy.config.liveness_interval.as_nanos() as u64,
            boot_id: policy.boot_id,
            detail: 0,
            path: Vec::new(),
        };
        let Client::Local(stream, _) = &self.client else {
            return Err(self.fail(HandshakeError::Mismatch("not a local client".into())));
        };
        // A fresh socket's buffer takes these few bytes at once: a send that
        // would block means a peer that is not a mempipe client.
        write_all(stream, &reply.encode()).map_err(|e| self.fail(e))?;
        to_us.send_over(stream).map_err(|e| self.fail(e.into()))?;
        to_them.send_over(stream).map_err(|e| self.fail(e.into()))?;
        // Sent: the memory descriptors can go (the mappings stay). A client
        // that claimed this side's ends meanwhile fails its own handshake.
        let mut consumer = to_us
            .into_sole_consumer()
            .map_err(|e| self.fail(e.into()))?;
        let mut producer = to_them
            .into_sole_producer()
            .map_err(|e| self.fail(e.into()))?;
        // The client's process is the peer from now on, attached or not: one
        // that takes the rings and vanishes is noticed within the interval.
        if let Some(fd) = pidfd {
            consumer.watch_peer(pid, fd.clone());
            producer.watch_peer(pid, fd);
        }
        if wakeup == WakeupKind::Spin {
            spinning.0.push(producer.lifetime());
        }
        Ok(Offered {
            producer,
            consumer,
            transport: Transport::shared_memory(
                wakeup,
                spin,
                capacity,
                max,
                pid,
                format!("local client pid {pid}; {why}"),
            ),
        })
    }

    /// The client claimed its ends (it says so with a 1): the connection is
    /// established. One that acknowledges without claiming them is dropped.
    fn acknowledged(&self, ack: u8, offered: Offered) -> Result<Connection, AcceptError> {
        if ack != 1 {
            return Err(self.fail(HandshakeError::BadField {
                field: "acknowledgement",
                value: u64::from(ack),
                why: "not 1",
            }));
        }
        if offered.producer.peer_claimed().is_none() || offered.consumer.peer_claimed().is_none() {
            return Err(self.fail(HandshakeError::BadField {
                field: "acknowledgement",
                value: 1,
                why: "sent before the client claimed its ends of both rings",
            }));
        }
        Ok(Connection::shm(
            offered.producer,
            offered.consumer,
            offered.transport,
        ))
    }

    fn answer_tcp(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        hello: ClientHello,
        policy: &Policy,
    ) -> Result<Connection, AcceptError> {
        let os = |op| move |e: std::io::Error| AcceptError::Os(OsError::new(op, e));
        let reply = tcp_reply(&hello, &policy.config);
        let max = reply.max_message as usize;
        write_all(&stream, &reply.encode()).map_err(|e| self.fail(e))?;
        stream.set_nonblocking(false).map_err(os("fcntl"))?;
        let shared = TcpShared::open(stream, hello.pid, max);
        let transport = Transport::tcp(max, addr.to_string(), "client over TCP".into());
        Ok(Connection::tcp(shared, transport))
    }
}
