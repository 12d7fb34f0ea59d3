//! The connecting side.

mod remote;
#[cfg(feature = "tls")]
mod tls;

use super::address::{plaintext_targets, Address, IntoAddress};
use super::config::{check_geometry, Choice, ConnConfig};
use super::connection::Connection;
use super::error::{ConnectError, DirectoryError, HandshakeError};
use super::io::{read_exact_until, write_all_until};
use super::rendezvous;
use super::tcp::{poll_until, TcpShared};
use super::transport::Transport;
use super::wire::{self, ClientHello, ServerHello, Status, SERVER_HELLO_LEN};
use crate::deadline::Deadline;
use crate::region::Region;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Connects to a listener: by name on this host (shared memory), or by TCP
/// address (see [`Address`] for the forms). Waits for the listener to appear,
/// so a client may start before its server; [`ConnConfig::connect_timeout`]
/// bounds the whole call (waiting, connecting and the handshake, which
/// [`ConnConfig::handshake_timeout`] also bounds), whatever the peer does.
///
/// **TCP** is plaintext: it proves nothing about the listener. A TCP
/// connection therefore stays on TCP (a listener's offer to switch to shared
/// memory is refused as a handshake error), and an address that is not
/// loopback is refused ([`ConnectError::PlaintextOffHost`]) unless
/// [`ConnConfig::allow_plaintext_off_host`] is given.
///
/// **Across hosts**: with a name service across hosts configured
/// ([`ConnConfig::names`], or `MEMPIPE_ETCD`), a name resolves there (waiting
/// for it within the connect timeout): a listener on this host is reached
/// over shared memory, one on another host over TCP with mutual TLS
/// (`ConnConfig::tls`, or `MEMPIPE_TLS_CA`/`_CERT`/`_KEY`; feature `tls`),
/// the handshake running inside the TLS session. See `docs/across-hosts.md`.
///
/// **Restarts**: a connection whose peer died reports
/// [`RecvError::PeerDied`](crate::RecvError::PeerDied) (or
/// [`SendError::PeerDied`](crate::SendError::PeerDied)); calling `connect`
/// again reaches the restarted listener (which took over the name) and gives a
/// fresh connection. Nothing is left to clean up: the rings live in anonymous
/// memory the kernel frees with the last process that maps them.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mempipe::{connect, ConnConfig, Listener};
/// use std::time::Duration;
/// # let name = format!("doc-connect-{}", std::process::id());
/// let server = std::thread::spawn({
///     let name = name.clone();
///     move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///         let listener = Listener::bind(&name, &ConnConfig::default())?;
///         let mut conn = listener.accept()?;
///         let mut buf = Vec::new();
///         while conn.recv(&mut buf).is_ok() {
///             conn.send(&buf)?; // echo until the client closes
///         }
///         Ok(())
///     }
/// });
/// // The server may not be up yet: connect waits for it.
/// let config = ConnConfig::default().connect_timeout(Duration::from_secs(5));
/// let mut conn = connect(name.as_str(), &config)?;
/// println!("{}", conn.transport()); // shared memory, hybrid (spin 20 µs), ...
/// conn.send(b"order #1")?;
/// let mut reply = Vec::new();
/// conn.recv(&mut reply)?;
/// assert_eq!(reply, b"order #1");
/// drop(conn);
/// server.join().unwrap().unwrap();
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ConnectError::Address`] for a malformed address (naming the accepted
/// forms); [`ConnectError::NotFound`] / [`ConnectError::Unreachable`] when no
/// listener answered in time; [`ConnectError::ListenerBusy`] when a listener
/// exists but took no connection in time; [`ConnectError::PlaintextOffHost`];
/// [`ConnectError::Refused`] when the listener does not admit this user;
/// [`ConnectError::Handshake`] when the peer is not a compatible listener or
/// did not finish in time; [`ConnectError::Config`]; [`ConnectError::Directory`];
/// across hosts, [`ConnectError::Names`] when the name service is
/// unreachable (naming its endpoints) or the name is not registered in time,
/// [`ConnectError::OtherHost`] when the listener's host needs TLS this side
/// lacks, and `ConnectError::Tls` when the TLS session is refused either way.
pub fn connect(address: impl IntoAddress, config: &ConnConfig) -> Result<Connection, ConnectError> {
    let address = address.into_address()?;
    let mut conn = connect_to(&address, config)?;
    // What a later move to TCP uses (the environment's is read then).
    #[cfg(feature = "tls")]
    conn.remember_tls(config.tls.clone());
    let name = match &address {
        Address::Auto(name) | Address::Shm(name) => name.clone(),
        other => other.to_string(),
    };
    let uid = (conn.transport().kind == super::transport::TransportKind::SharedMemory)
        .then(|| rustix::process::getuid().as_raw())
        .filter(|_| config.rendezvous_dir.is_none());
    conn.publish(super::flows::publish::connection(
        &name,
        super::flows::publish::End::Client,
        conn.transport(),
        uid,
    ));
    Ok(conn)
}

fn connect_to(address: &Address, config: &ConnConfig) -> Result<Connection, ConnectError> {
    let choice = config.choose();
    if let Err(e) = check_geometry(&choice) {
        return Err(e.into());
    }
    // One deadline for the whole call, whatever the listener does.
    let deadline = Deadline::after(config.connect_timeout).resolve();
    match address {
        Address::Auto(name) | Address::Shm(name) if remote::across_hosts(config) => {
            let shm_only = matches!(address, Address::Shm(_));
            remote::connect_by_name(name, shm_only, config, &choice, deadline)
        }
        Address::Auto(name) | Address::Shm(name) => {
            // In the per-user directory the listener must be this user: a
            // socket planted by someone else is refused. An explicit directory
            // may hold another user's service.
            let (dir, owner) = match &config.rendezvous_dir {
                Some(dir) => (dir.clone(), None),
                None => (
                    rendezvous::default_dir(),
                    Some(rustix::process::getuid().as_raw()),
                ),
            };
            let path = rendezvous::socket_path(&dir, name);
            connect_local(&path, name, config, &choice, deadline, owner)
        }
        Address::Tcp(addr) => connect_tcp(addr, config, &choice, deadline, "tcp:// address"),
        // A plaintext TCP listener proves nothing about itself, so its word
        // cannot send this side to a local socket: TCP it stays.
        Address::AutoTcp(addr) => connect_tcp(
            addr,
            config,
            &choice,
            deadline,
            "TCP address (an unauthenticated listener is not followed to shared memory)",
        ),
    }
}

/// Connects to the TLS listener at `addr`, whose certificate must carry
/// `server_name`, with `tls` (mutual verification), then runs the mempipe
/// handshake inside the session: a move's new TCP leg.
#[cfg(feature = "tls")]
pub(crate) fn connect_tls_to(
    addr: std::net::SocketAddr,
    server_name: &str,
    tls: &super::tls::TlsConfig,
    config: &ConnConfig,
) -> Result<Connection, ConnectError> {
    let choice = config.choose();
    check_geometry(&choice)?;
    let deadline = Deadline::after(config.connect_timeout).resolve();
    let stream = tcp_to(&addr.to_string(), &[addr], deadline)?;
    let (handshake, budget) = handshake_deadline(config, deadline);
    tls::connect_tls(
        stream,
        server_name,
        tls,
        &choice,
        handshake,
        budget,
        "a move's new leg",
    )
}

fn hello(choice: &Choice, via: u8) -> ClientHello {
    ClientHello {
        via,
        wakeup: Some(choice.wakeup),
        flags: 0,
        pid: std::process::id(),
        max_message: choice.max_message as u64,
        capacity: choice.capacity as u64,
        spin_budget_ns: choice.spin_budget.as_nanos() as u64,
        // Nothing about this host goes to a TCP peer.
        boot_id: if via == wire::VIA_UNIX {
            wire::boot_id()
        } else {
            [0; 16]
        },
    }
}

/// The handshake's deadline: `handshake_timeout` from now, within the call's
/// deadline; and the time that gives the peer, for the error.
fn handshake_deadline(config: &ConnConfig, call: Deadline) -> (Deadline, Duration) {
    let handshake = call.min(Deadline::after(config.handshake_timeout));
    let budget = handshake.left().unwrap_or(config.handshake_timeout);
    (handshake, budget)
}

/// Reads a server hello (fixed part and path) by `deadline`.
fn read_reply(
    socket: impl AsFd,
    deadline: Deadline,
    budget: Duration,
) -> Result<ServerHello, HandshakeError> {
    let mut fixed = [0u8; SERVER_HELLO_LEN];
    read_exact_until(&socket, &mut fixed, deadline, budget)?;
    let (mut reply, path_len) = ServerHello::decode_fixed(&fixed)?;
    let mut path = vec![0u8; path_len];
    read_exact_until(&socket, &mut path, deadline, budget)?;
    reply.path = path;
    Ok(reply)
}

/// The reply's status, when it ends the handshake here: refused, rejected,
/// or an offer to switch to shared memory (only a listener on the rendezvous
/// socket may hand rings over, and this side never asks to switch).
fn refused_or_rejected(reply: &ServerHello) -> Option<ConnectError> {
    match reply.status {
        Status::Refused => Some(ConnectError::Refused {
            listener_pid: reply.pid,
            uid: reply.detail,
        }),
        Status::BadHello => Some(HandshakeError::Rejected.into()),
        Status::Upgrade => Some(
            HandshakeError::BadField {
                field: "status",
                value: 3,
                why: "an offer to switch to shared memory, which this side did not ask for",
            }
            .into(),
        ),
        Status::Busy => Some(ConnectError::Busy {
            listener_pid: reply.pid,
        }),
        Status::OutOfResources => Some(ConnectError::ListenerOutOfResources {
            listener_pid: reply.pid,
        }),
        _ => None,
    }
}

/// Connects a non-blocking UNIX socket to `path`, retrying until `deadline`
/// while nobody listens there, or while the listener's backlog is full (a
/// blocking connect would wait for room past any deadline).
fn unix_stream(path: &Path, name: &str, deadline: Deadline) -> Result<UnixStream, ConnectError> {
    let directory = |why: String| {
        ConnectError::from(DirectoryError {
            path: path.parent().map(PathBuf::from).unwrap_or_default(),
            why,
        })
    };
    let addr = SocketAddrUnix::new(path)
        .map_err(|e| directory(format!("{} is no socket path: {e}", path.display())))?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let socket = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| directory(format!("socket failed: {e}")))?;
        let busy = match rustix::net::connect(&socket, &addr) {
            Ok(()) => return Ok(UnixStream::from(socket)),
            Err(Errno::NOENT | Errno::CONNREFUSED) => false,
            Err(Errno::AGAIN) => true,
            Err(Errno::INTR) => continue,
            Err(e) => {
                return Err(directory(format!(
                    "connecting to {} failed: {e}",
                    path.display()
                )))
            }
        };
        let left = deadline.left().unwrap_or(Duration::MAX);
        if left.is_zero() {
            let (name, path, waited) = (name.to_owned(), path.to_owned(), start.elapsed());
            return Err(if busy {
                ConnectError::ListenerBusy { name, path, waited }
            } else {
                ConnectError::NotFound { name, path, waited }
            });
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Waits for the next region on `stream` by `deadline`.
fn recv_region(
    stream: &UnixStream,
    deadline: Deadline,
    budget: Duration,
) -> Result<Region, HandshakeError> {
    if !poll_until(stream, PollFlags::IN, deadline) {
        return Err(HandshakeError::Timeout(budget));
    }
    Ok(Region::recv_from(stream)?)
}

/// Connects on the rendezvous socket at `path` (whose listener must run as
/// `owner`, when given), retrying until `deadline` while nobody listens there.
fn connect_local(
    path: &Path,
    name: &str,
    config: &ConnConfig,
    choice: &Choice,
    deadline: Deadline,
    owner: Option<u32>,
) -> Result<Connection, ConnectError> {
    let stream = unix_stream(path, name, deadline)?;
    let (deadline, budget) = handshake_deadline(config, deadline);
    if let Some(want) = owner {
        let cred = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| ConnectError::Handshake(HandshakeError::Io(e.into())))?;
        let uid = cred.uid.as_raw();
        if uid != want {
            return Err(HandshakeError::Mismatch(format!(
                "the listener runs as uid {uid}, not as this user: refusing a socket in the \
                 per-user directory that another user put there"
            ))
            .into());
        }
    }
    // A listener that refuses this user answers without reading the hello and
    // closes: the write may fail while the refusal waits to be read.
    let sent = write_all_until(
        &stream,
        &hello(choice, wire::VIA_UNIX).encode(),
        deadline,
        budget,
    );
    let reply = match (read_reply(&stream, deadline, budget), sent) {
        (Ok(reply), _) => reply,
        (Err(_), Err(write_error)) => return Err(write_error.into()),
        (Err(e), Ok(())) => return Err(e.into()),
    };
    if let Some(e) = refused_or_rejected(&reply) {
        return Err(e);
    }
    wire::check_geometry(reply.capacity, reply.max_message)?;
    let wakeup = reply.wakeup.ok_or(HandshakeError::BadField {
        field: "wakeup",
        value: 0,
        why: "shared memory needs a wakeup",
    })?;
    let to_them = recv_region(&stream, deadline, budget)?;
    let to_us = recv_region(&stream, deadline, budget)?;
    for (what, region) in [("sending", &to_them), ("receiving", &to_us)] {
        if region.capacity() as u64 != reply.capacity
            || region.max_message() as u64 != reply.max_message
            || region.wakeup() != wakeup
        {
            return Err(HandshakeError::Mismatch(format!(
                "{what} ring: {:?} vs announced capacity {}, max message {}, wakeup {wakeup}",
                region, reply.capacity, reply.max_message
            ))
            .into());
        }
    }
    let producer = to_them.producer().map_err(HandshakeError::from)?;
    let consumer = to_us.consumer().map_err(HandshakeError::from)?;
    write_all_until(&stream, &[1], deadline, budget)?;
    let spin = Duration::from_nanos(reply.spin_budget_ns);
    let why = if wakeup == choice.wakeup && reply.capacity == choice.capacity as u64 {
        format!("listener on this host (pid {}); {}", reply.pid, choice.why)
    } else {
        format!(
            "listener on this host (pid {}) set the wakeup or ring; {}",
            reply.pid, choice.why
        )
    };
    Ok(Connection::shm(
        producer,
        consumer,
        Transport::shared_memory(
            wakeup,
            spin,
            reply.capacity as usize,
            reply.max_message as usize,
            reply.pid,
            why,
        ),
    ))
}

fn connect_tcp(
    addr: &str,
    config: &ConnConfig,
    choice: &Choice,
    deadline: Deadline,
    why: &str,
) -> Result<Connection, ConnectError> {
    let stream = tcp_stream(addr, config, deadline)?;
    let io = |e: std::io::Error| ConnectError::Handshake(e.into());
    stream.set_nonblocking(true).map_err(io)?;
    let (deadline, budget) = handshake_deadline(config, deadline);
    write_all_until(
        &stream,
        &hello(choice, wire::VIA_TCP).encode(),
        deadline,
        budget,
    )?;
    let reply = read_reply(&stream, deadline, budget)?;
    if let Some(e) = refused_or_rejected(&reply) {
        return Err(e);
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
    stream.set_nonblocking(false).map_err(io)?;
    let shared = TcpShared::open(stream, reply.pid, max);
    Ok(Connection::tcp(
        shared,
        Transport::tcp(max, addr.to_owned(), why.to_owned()),
    ))
}

/// Connects a TCP socket, retrying refused connections until `deadline`.
fn tcp_stream(
    addr: &str,
    config: &ConnConfig,
    deadline: Deadline,
) -> Result<TcpStream, ConnectError> {
    let targets = plaintext_targets(addr, config.plaintext_off_host)
        .map_err(|refusal| ConnectError::from_refusal(addr, refusal))?;
    tcp_to(addr, &targets, deadline)
}

/// Connects a TCP socket to the first of `targets` that answers, retrying
/// refused connections until `deadline`; `addr` names them in errors.
fn tcp_to(
    addr: &str,
    targets: &[std::net::SocketAddr],
    deadline: Deadline,
) -> Result<TcpStream, ConnectError> {
    let unreachable = |source| ConnectError::Unreachable {
        addr: addr.to_owned(),
        source,
    };
    let mut pause = Duration::from_millis(1);
    loop {
        let mut last = std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "not reached within the connect timeout",
        );
        for target in targets {
            let left = deadline.left().unwrap_or(Duration::MAX);
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(target, left) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        let left = deadline.left().unwrap_or(Duration::MAX);
        if left.is_zero() || last.kind() != std::io::ErrorKind::ConnectionRefused {
            return Err(unreachable(last));
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
