//! The connecting side.

use super::address::{Address, IntoAddress};
use super::config::{Choice, ConnConfig};
use super::connection::Connection;
use super::error::{ConnectError, HandshakeError};
use super::rendezvous;
use super::tcp::TcpShared;
use super::transport::Transport;
use super::wire::{self, ClientHello, ServerHello, Status, SERVER_HELLO_LEN};
use crate::region::Region;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Connects to a listener: by name on this host (shared memory), or by TCP
/// address (see [`Address`] for the forms). Waits up to
/// [`ConnConfig::connect_timeout`] for the listener to appear, so a client may
/// start before its server.
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
/// listener answered in time; [`ConnectError::Refused`] when the listener does
/// not admit this user; [`ConnectError::Handshake`] when the peer is not a
/// compatible listener; [`ConnectError::Config`]; [`ConnectError::Directory`].
pub fn connect(address: impl IntoAddress, config: &ConnConfig) -> Result<Connection, ConnectError> {
    let address = address.into_address()?;
    let choice = config.choose();
    if let Err(e) = wire::check_geometry(choice.capacity as u64, choice.max_message as u64) {
        return Err(ConnectError::Config(e.to_string()));
    }
    let deadline = Instant::now() + config.connect_timeout;
    match &address {
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
            let expect = Expect {
                pid: None,
                uid: owner,
            };
            connect_local(&path, name, config, &choice, deadline, expect)
        }
        Address::Tcp(addr) => connect_tcp(addr, config, &choice, deadline, false),
        Address::AutoTcp(addr) => connect_tcp(addr, config, &choice, deadline, true),
    }
}

fn hello(choice: &Choice, via: u8, flags: u32) -> ClientHello {
    ClientHello {
        via,
        wakeup: Some(choice.wakeup),
        flags,
        pid: std::process::id(),
        max_message: choice.max_message as u64,
        capacity: choice.capacity as u64,
        spin_budget_ns: choice.spin_budget.as_nanos() as u64,
        boot_id: wire::boot_id(),
    }
}

/// Reads a server hello (fixed part and path).
fn read_reply(socket: impl AsFd, timeout: Duration) -> Result<ServerHello, HandshakeError> {
    let mut fixed = [0u8; SERVER_HELLO_LEN];
    super::io::read_exact(&socket, &mut fixed, timeout)?;
    let (mut reply, path_len) = ServerHello::decode_fixed(&fixed)?;
    let mut path = vec![0u8; path_len];
    super::io::read_exact(&socket, &mut path, timeout)?;
    reply.path = path;
    Ok(reply)
}

fn refused_or_rejected(reply: &ServerHello) -> Option<ConnectError> {
    match reply.status {
        Status::Refused => Some(ConnectError::Refused {
            listener_pid: reply.pid,
            uid: reply.detail,
        }),
        Status::BadHello => Some(HandshakeError::Rejected.into()),
        Status::Busy => Some(ConnectError::Busy {
            listener_pid: reply.pid,
        }),
        Status::OutOfResources => Some(ConnectError::ListenerOutOfResources {
            listener_pid: reply.pid,
        }),
        _ => None,
    }
}

/// Who the listener must be (by its socket's peer credentials).
#[derive(Clone, Copy)]
struct Expect {
    pid: Option<u32>,
    uid: Option<u32>,
}

/// Connects on the rendezvous socket at `path`, retrying until `deadline`
/// while nobody listens there.
fn connect_local(
    path: &Path,
    name: &str,
    config: &ConnConfig,
    choice: &Choice,
    deadline: Instant,
    expect: Expect,
) -> Result<Connection, ConnectError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let stream = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                let now = Instant::now();
                if now >= deadline {
                    return Err(ConnectError::NotFound {
                        name: name.to_owned(),
                        path: path.to_owned(),
                        waited: now - start,
                    });
                }
                std::thread::sleep(pause.min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(ConnectError::Directory {
                    path: path.parent().map(PathBuf::from).unwrap_or_default(),
                    why: format!("connecting to {} failed: {e}", path.display()),
                })
            }
        }
    };
    let timeout = config.handshake_timeout;
    let io = |e: std::io::Error| ConnectError::Handshake(e.into());
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    if expect.pid.is_some() || expect.uid.is_some() {
        let cred = rustix::net::sockopt::socket_peercred(&stream).map_err(|e| io(e.into()))?;
        let (pid, uid) = (cred.pid.as_raw_nonzero().get() as u32, cred.uid.as_raw());
        if expect.pid.is_some_and(|want| want != pid) {
            return Err(HandshakeError::Mismatch(format!(
                "the rendezvous socket belongs to pid {pid}, the TCP listener is pid {}",
                expect.pid.unwrap_or_default()
            ))
            .into());
        }
        if expect.uid.is_some_and(|want| want != uid) {
            return Err(HandshakeError::Mismatch(format!(
                "the listener runs as uid {uid}, not as this user: refusing a socket in the \
                 per-user directory that another user put there"
            ))
            .into());
        }
    }
    // A listener that refuses this user answers without reading the hello and
    // closes: the write may fail while the refusal waits to be read.
    let sent = super::io::write_all(&stream, &hello(choice, wire::VIA_UNIX, 0).encode());
    let reply = match (read_reply(&stream, timeout), sent) {
        (Ok(reply), _) => reply,
        (Err(_), Err(write_error)) => return Err(write_error.into()),
        (Err(e), Ok(())) => return Err(e.into()),
    };
    if let Some(e) = refused_or_rejected(&reply) {
        return Err(e);
    }
    if reply.status != Status::Accepted {
        return Err(HandshakeError::BadField {
            field: "status",
            value: 3,
            why: "an upgrade offered on the rendezvous socket",
        }
        .into());
    }
    wire::check_geometry(reply.capacity, reply.max_message)?;
    let wakeup = reply.wakeup.ok_or(HandshakeError::BadField {
        field: "wakeup",
        value: 0,
        why: "shared memory needs a wakeup",
    })?;
    let to_them = Region::recv_from(&stream).map_err(HandshakeError::from)?;
    let to_us = Region::recv_from(&stream).map_err(HandshakeError::from)?;
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
    super::io::write_all(&stream, &[1])?;
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
    deadline: Instant,
    may_upgrade: bool,
) -> Result<Connection, ConnectError> {
    let stream = tcp_stream(addr, deadline)?;
    let timeout = config.handshake_timeout;
    let io = |e: std::io::Error| ConnectError::Handshake(e.into());
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let flags = if may_upgrade {
        wire::FLAG_MAY_UPGRADE
    } else {
        0
    };
    super::io::write_all(&stream, &hello(choice, wire::VIA_TCP, flags).encode())?;
    let reply = read_reply(&stream, timeout)?;
    if let Some(e) = refused_or_rejected(&reply) {
        return Err(e);
    }
    if reply.status == Status::Upgrade {
        drop(stream);
        let path = PathBuf::from(std::ffi::OsStr::new(
            std::str::from_utf8(&reply.path).map_err(|_| HandshakeError::BadField {
                field: "path",
                value: reply.path.len() as u64,
                why: "not UTF-8",
            })?,
        ));
        let expect = Expect {
            pid: Some(reply.pid),
            uid: None,
        };
        return match connect_local(&path, addr, config, choice, deadline, expect) {
            Ok(conn) => Ok(conn),
            // Same kernel, but the socket is out of reach (another mount
            // namespace, another user's directory): stay on TCP.
            Err(ConnectError::NotFound { .. } | ConnectError::Directory { .. }) => {
                connect_tcp(addr, config, choice, deadline, false)
            }
            Err(e) => Err(e),
        };
    }
    let same_host = reply.boot_id == wire::boot_id() && reply.boot_id != [0; 16];
    let max = reply.max_message as usize;
    if max > choice.max_message {
        return Err(HandshakeError::BadField {
            field: "max_message",
            value: reply.max_message,
            why: "above what this side asked for",
        }
        .into());
    }
    stream.set_read_timeout(None).map_err(io)?;
    stream.set_write_timeout(None).map_err(io)?;
    let liveness = Duration::from_nanos(reply.liveness_ns);
    let shared = TcpShared::new(stream, reply.pid, same_host, max, liveness);
    let why = match (may_upgrade, same_host) {
        (false, _) => "tcp:// address".to_owned(),
        (true, true) => "listener on this host offered no shared memory".to_owned(),
        (true, false) => "listener on another host".to_owned(),
    };
    Ok(Connection::tcp(
        shared,
        Transport::tcp(max, addr.to_owned(), why),
    ))
}

/// Connects a TCP socket, retrying refused connections until `deadline`.
fn tcp_stream(addr: &str, deadline: Instant) -> Result<TcpStream, ConnectError> {
    let unreachable = |source| ConnectError::Unreachable {
        addr: addr.to_owned(),
        source,
    };
    let mut pause = Duration::from_millis(1);
    loop {
        let targets: Vec<_> = addr.to_socket_addrs().map_err(unreachable)?.collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for target in &targets {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100));
            match TcpStream::connect_timeout(target, left) {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        let now = Instant::now();
        if now >= deadline || last.kind() != std::io::ErrorKind::ConnectionRefused {
            return Err(unreachable(last));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
