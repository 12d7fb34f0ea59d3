//! The listening side: a rendezvous socket (and optionally a TCP socket);
//! every accepted client gets its own connection.

use super::config::{ring_for, Choice, ConnConfig};
use super::connection::Connection;
use super::error::{AcceptError, BindError, HandshakeError};
use super::rendezvous::{self, Bound};
use super::tcp::TcpShared;
use super::transport::Transport;
use super::wire::{self, ClientHello, ServerHello, Status, CLIENT_HELLO_LEN};
use crate::config::Config;
use crate::region::Region;
use rustix::event::{PollFd, PollFlags};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest ring a client may ask for beyond the listener's own choice.
const MAX_CLIENT_RING: usize = 64 << 20;

/// A named service that clients [`connect`](crate::connect) to.
///
/// Bound to a name in the rendezvous directory (see
/// [`ConnConfig::rendezvous_dir`]): a name left by a killed listener is taken
/// over, a live listener's name is refused ([`BindError::InUse`]). Optionally
/// also listens on TCP ([`ConnConfig::tcp`]). Each [`accept`](Self::accept)
/// is independent: a client that fails the handshake or is refused yields an
/// error for that call only. Handshakes run one at a time in the calling
/// thread, each bounded by [`ConnConfig::handshake_timeout`]; after it a
/// connection is independent of the listener (dropping the listener closes no
/// connection). The listener is pollable ([`AsFd`]: readable while a client
/// waits), for event loops.
///
/// On TCP no peer credentials exist: a listener given a TCP address serves
/// whoever reaches it (bind it to an address only trusted peers can reach).
/// A TCP client on this host is offered the rendezvous socket instead; it
/// switches only if that socket's owner (by peer credentials) is the same
/// process it reached over TCP.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mempipe::{connect, ConnConfig, Listener};
/// # let name = format!("doc-listener-{}", std::process::id());
/// let listener = Listener::bind(&name, &ConnConfig::default())?;
/// let client = std::thread::spawn({
///     let name = name.clone();
///     move || -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
///         let mut conn = connect(name.as_str(), &ConnConfig::default())?;
///         conn.send(b"ping")?;
///         let mut reply = Vec::new();
///         conn.recv(&mut reply)?;
///         Ok(reply)
///     }
/// });
/// let mut conn = listener.accept()?;
/// println!("{}", conn.transport());
/// let mut buf = Vec::new();
/// conn.recv(&mut buf)?;
/// conn.send(b"pong")?;
/// assert_eq!(client.join().unwrap().unwrap(), b"pong");
/// # Ok(()) }
/// ```
pub struct Listener {
    name: String,
    bound: Bound,
    tcp: Option<TcpListener>,
    config: ConnConfig,
    choice: Choice,
    epoll: OwnedFd,
    boot_id: [u8; 16],
    uid: u32,
    /// The name in a cluster name service, while this listener lives.
    _registered: Option<super::names::NameHold>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .field("path", &self.bound.path)
            .field("tcp", &self.tcp_addr())
            .finish()
    }
}

impl Listener {
    /// Binds `name` (1-64 of `A-Z a-z 0-9 . _ -`) in the rendezvous directory,
    /// and the TCP address if the configuration names one.
    ///
    /// # Errors
    /// [`BindError::InvalidName`]; [`BindError::Config`] for a maximum message
    /// no ring can carry; [`BindError::InUse`] when a live listener
    /// holds the name; [`BindError::Directory`] when the rendezvous directory
    /// is unsafe or missing; [`BindError::Tcp`]; [`BindError::Os`];
    /// [`BindError::Names`] when a cluster name service is configured and the
    /// name is taken there or the service is unreachable.
    pub fn bind(name: &str, config: &ConnConfig) -> Result<Listener, BindError> {
        super::address::check_name(name).map_err(|why| BindError::InvalidName {
            name: name.to_owned(),
            why,
        })?;
        let choice = config.choose();
        wire::check_geometry(choice.capacity as u64, choice.max_message as u64)
            .map_err(|e| BindError::Config(e.to_string()))?;
        let dir = rendezvous::prepare_dir(config.rendezvous_dir.as_deref())
            .map_err(|(path, why)| BindError::Directory { path, why })?;
        let others = config.allow_any_user
            || !config.allowed_uids.is_empty()
            || config.allowed_gid.is_some();
        let bound = rendezvous::bind(&dir, name, others)?;
        let tcp = match &config.tcp {
            Some(addr) => {
                let err = |source| BindError::Tcp {
                    addr: addr.clone(),
                    source,
                };
                let listener = TcpListener::bind(addr.as_str()).map_err(err)?;
                listener.set_nonblocking(true).map_err(err)?;
                Some(listener)
            }
            None => None,
        };
        let os = |op| {
            move |e: rustix::io::Errno| BindError::Os {
                op,
                source: e.into(),
            }
        };
        let epoll = rustix::event::epoll::create(rustix::event::epoll::CreateFlags::CLOEXEC)
            .map_err(os("epoll_create"))?;
        let flags = rustix::event::epoll::EventFlags::IN;
        rustix::event::epoll::add(
            &epoll,
            &bound.socket,
            rustix::event::epoll::EventData::new_u64(0),
            flags,
        )
        .map_err(os("epoll_ctl"))?;
        if let Some(t) = &tcp {
            rustix::event::epoll::add(
                &epoll,
                t,
                rustix::event::epoll::EventData::new_u64(1),
                flags,
            )
            .map_err(os("epoll_ctl"))?;
        }
        let tcp_addr = tcp.as_ref().and_then(|t| t.local_addr().ok());
        let registered =
            super::names::register_listener(name, config, tcp_addr, &bound.path, &choice)?;
        Ok(Listener {
            _registered: registered,
            name: name.to_owned(),
            bound,
            tcp,
            choice,
            config: config.clone(),
            epoll,
            boot_id: wire::boot_id(),
            uid: rustix::process::getuid().as_raw(),
        })
    }

    /// The name clients connect to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rendezvous socket's path.
    pub fn path(&self) -> &Path {
        &self.bound.path
    }

    /// The TCP address listened on, if any (with the real port when 0 was asked).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|t| t.local_addr().ok())
    }

    /// Waits for a client and completes its handshake.
    ///
    /// # Errors
    /// For this client only (the listener keeps serving): [`AcceptError::Refused`]
    /// for a user that is not allowed, [`AcceptError::Handshake`] for a client
    /// that breaks the protocol or times out, [`AcceptError::Create`] when its
    /// rings cannot be created; [`AcceptError::Os`] when accepting itself fails.
    pub fn accept(&self) -> Result<Connection, AcceptError> {
        self.accept_until(None, false)
    }

    /// Completes a waiting client's handshake, without waiting for a client.
    ///
    /// # Errors
    /// [`AcceptError::NoPending`] when no client waits; otherwise as [`accept`](Self::accept).
    pub fn try_accept(&self) -> Result<Connection, AcceptError> {
        self.accept_until(Some(Instant::now()), true)
    }

    /// Waits at most `timeout` for a client.
    ///
    /// # Errors
    /// [`AcceptError::Timeout`]; otherwise as [`accept`](Self::accept).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Connection, AcceptError> {
        self.accept_until(Instant::now().checked_add(timeout), false)
    }

    fn accept_until(
        &self,
        until: Option<Instant>,
        nonblocking: bool,
    ) -> Result<Connection, AcceptError> {
        let os = |op| move |e: std::io::Error| AcceptError::Os { op, source: e };
        loop {
            match self.bound.socket.accept() {
                Ok((stream, _)) => return self.serve_local(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(os("accept")(e)),
            }
            if let Some(tcp) = &self.tcp {
                match tcp.accept() {
                    Ok((stream, addr)) => match self.serve_tcp(stream, addr)? {
                        Some(conn) => return Ok(conn),
                        None => continue, // sent to the rendezvous socket
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(os("accept (TCP)")(e)),
                }
            }
            let left = until.map(|at| at.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Err(if nonblocking {
                    AcceptError::NoPending
                } else {
                    AcceptError::Timeout
                });
            }
            let ts = left.map(|l| rustix::time::Timespec {
                tv_sec: l.as_secs() as i64,
                tv_nsec: i64::from(l.subsec_nanos()),
            });
            let mut fds = vec![PollFd::new(&self.bound.socket, PollFlags::IN)];
            if let Some(tcp) = &self.tcp {
                fds.push(PollFd::new(tcp, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, ts.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(os("poll")(e.into())),
            }
        }
    }

    fn allowed(&self, uid: u32, gid: u32) -> bool {
        uid == self.uid
            || self.config.allow_any_user
            || self.config.allowed_uids.contains(&uid)
            || self.config.allowed_gid == Some(gid)
    }

    /// The handshake with a client on the rendezvous socket.
    fn serve_local(&self, stream: UnixStream) -> Result<Connection, AcceptError> {
        let os = |op| move |e: std::io::Error| AcceptError::Os { op, source: e };
        let timeout = self.config.handshake_timeout;
        blocking_with_timeouts(&stream, timeout)?;
        let cred = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| os("SO_PEERCRED")(e.into()))?;
        let (pid, uid, gid) = (
            cred.pid.as_raw_nonzero().get() as u32,
            cred.uid.as_raw(),
            cred.gid.as_raw(),
        );
        let peer = format!("local pid {pid} (uid {uid})");
        if !self.allowed(uid, gid) {
            let mut refusal = ServerHello::bare(Status::Refused);
            refusal.detail = uid;
            let _ = super::io::write_all(&stream, &refusal.encode());
            return Err(AcceptError::Refused { uid, gid, pid });
        }
        let fail = |source: HandshakeError| AcceptError::Handshake {
            peer: peer.clone(),
            source,
        };
        let hello = self.read_hello(&stream, wire::VIA_UNIX).map_err(fail)?;
        let max = (hello.max_message as usize).min(self.config.max_message);
        let (wakeup, spin) = match (self.config.wakeup, hello.wakeup) {
            (Some(forced), _) => (forced, self.choice.spin_budget),
            (None, Some(asked)) => (
                asked,
                Duration::from_nanos(hello.spin_budget_ns.min(1_000_000_000)),
            ),
            (None, None) => (self.choice.wakeup, self.choice.spin_budget),
        };
        // A client may ask for a larger ring than this listener would pick,
        // within reason: each connection's rings are real memory.
        let capacity = (hello.capacity as usize)
            .min(self.choice.capacity.max(MAX_CLIENT_RING))
            .max(ring_for(max))
            .next_power_of_two();
        let ring = Config::new()
            .capacity(capacity)
            .max_message(max)
            .wakeup(wakeup)
            .spin_budget(spin)
            .liveness_interval(self.config.liveness_interval);
        let to_us = Region::create_anonymous(&ring)?;
        let to_them = Region::create_anonymous(&ring)?;
        let consumer = to_us.consumer().map_err(|e| fail(e.into()))?;
        let producer = to_them.producer().map_err(|e| fail(e.into()))?;
        let reply = ServerHello {
            status: Status::Accepted,
            wakeup: Some(wakeup),
            pid: std::process::id(),
            max_message: max as u64,
            capacity: capacity as u64,
            spin_budget_ns: spin.as_nanos() as u64,
            liveness_ns: self.config.liveness_interval.as_nanos() as u64,
            boot_id: self.boot_id,
            detail: 0,
            path: Vec::new(),
        };
        super::io::write_all(&stream, &reply.encode()).map_err(fail)?;
        to_us.send_over(&stream).map_err(|e| fail(e.into()))?;
        to_them.send_over(&stream).map_err(|e| fail(e.into()))?;
        // The client claims its ends, then acknowledges: from then on the
        // rings watch its process, so its death cannot go unnoticed.
        let mut ack = [0u8; 1];
        super::io::read_exact(&stream, &mut ack, timeout).map_err(fail)?;
        if ack[0] != 1 {
            return Err(fail(HandshakeError::BadField {
                field: "acknowledgement",
                value: u64::from(ack[0]),
                why: "not 1",
            }));
        }
        let why = if self.config.wakeup.is_some() {
            format!("local client pid {pid}; wakeup forced by this listener")
        } else {
            format!("local client pid {pid}; as the client chose")
        };
        Ok(Connection::shm(
            producer,
            consumer,
            Transport::shared_memory(wakeup, spin, capacity, max, pid, why),
        ))
    }

    fn read_hello(&self, socket: impl AsFd, via: u8) -> Result<ClientHello, HandshakeError> {
        let mut bytes = [0u8; CLIENT_HELLO_LEN];
        super::io::read_exact(&socket, &mut bytes, self.config.handshake_timeout)?;
        let hello = ClientHello::decode(&bytes).inspect_err(|_| {
            let _ = super::io::write_all(&socket, &ServerHello::bare(Status::BadHello).encode());
        })?;
        if hello.via != via {
            let _ = super::io::write_all(&socket, &ServerHello::bare(Status::BadHello).encode());
            return Err(HandshakeError::BadField {
                field: "via",
                value: u64::from(hello.via),
                why: "does not match the socket it arrived on",
            });
        }
        Ok(hello)
    }

    /// The handshake with a TCP client; `None` when it was sent to the
    /// rendezvous socket instead (same host).
    fn serve_tcp(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
    ) -> Result<Option<Connection>, AcceptError> {
        let os = |op| move |e: std::io::Error| AcceptError::Os { op, source: e };
        let timeout = self.config.handshake_timeout;
        blocking_with_timeouts(&stream, timeout)?;
        let fail = |source| AcceptError::Handshake {
            peer: format!("TCP {addr}"),
            source,
        };
        let hello = self.read_hello(&stream, wire::VIA_TCP).map_err(fail)?;
        let same_host = hello.boot_id == self.boot_id && self.boot_id != [0; 16];
        if same_host && hello.flags & wire::FLAG_MAY_UPGRADE != 0 {
            let mut upgrade = ServerHello::bare(Status::Upgrade);
            upgrade.boot_id = self.boot_id;
            upgrade.path = self.bound.path.as_os_str().as_encoded_bytes().to_vec();
            // The client reconnects on the rendezvous socket, or comes back
            // over TCP without the upgrade flag when it cannot.
            let _ = super::io::write_all(&stream, &upgrade.encode());
            return Ok(None);
        }
        let max = (hello.max_message as usize).min(self.config.max_message);
        let reply = ServerHello {
            status: Status::Accepted,
            wakeup: None,
            pid: std::process::id(),
            max_message: max as u64,
            capacity: 0,
            spin_budget_ns: 0,
            liveness_ns: self.config.liveness_interval.as_nanos() as u64,
            boot_id: self.boot_id,
            detail: 0,
            path: Vec::new(),
        };
        super::io::write_all(&stream, &reply.encode()).map_err(fail)?;
        stream.set_read_timeout(None).map_err(os("SO_RCVTIMEO"))?;
        stream.set_write_timeout(None).map_err(os("SO_SNDTIMEO"))?;
        let shared = TcpShared::new(
            stream,
            hello.pid,
            same_host,
            max,
            self.config.liveness_interval,
        );
        Ok(Some(Connection::tcp(
            shared,
            Transport::tcp(
                max,
                addr.to_string(),
                if same_host {
                    "client on this host asked for TCP".into()
                } else {
                    "client on another host".into()
                },
            ),
        )))
    }
}

impl AsFd for Listener {
    /// An epoll descriptor, readable while a client waits to be accepted.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

/// Makes an accepted socket blocking with `timeout` on every read and write,
/// for a handshake that a silent peer cannot stretch.
fn blocking_with_timeouts(socket: impl AsFd, timeout: Duration) -> Result<(), AcceptError> {
    use rustix::net::sockopt::{set_socket_timeout, Timeout};
    let os = |op| {
        move |e: rustix::io::Errno| AcceptError::Os {
            op,
            source: e.into(),
        }
    };
    rustix::io::ioctl_fionbio(&socket, false).map_err(os("fcntl"))?;
    set_socket_timeout(&socket, Timeout::Recv, Some(timeout)).map_err(os("SO_RCVTIMEO"))?;
    set_socket_timeout(&socket, Timeout::Send, Some(timeout)).map_err(os("SO_SNDTIMEO"))
}
