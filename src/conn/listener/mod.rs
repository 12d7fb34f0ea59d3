//! The listening side: a rendezvous socket (and optionally a TCP socket);
//! every accepted client gets its own connection.

mod drive;
mod handshake;
mod hello;
mod registration;
mod resources;
#[cfg(feature = "tls")]
mod tls_client;

use super::config::{check_geometry, ConnConfig};
use super::connection::Connection;
use super::error::{AcceptError, BindError, DirectoryError};
use super::rendezvous::{self, Bound};
use super::wire;
use crate::error::OsError;
use handshake::{PeerKey, Pending, Policy, Spinning};
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{PollFd, PollFlags};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A named service that clients [`connect`](crate::connect) to.
///
/// Bound to a name in the rendezvous directory (see
/// [`ConnConfig::rendezvous_dir`]): a name left by a killed listener is taken
/// over, a live listener's name is refused ([`BindError::InUse`]). Optionally
/// also listens on plaintext TCP ([`ConnConfig::plaintext_tcp`]), or on TCP
/// with mutual TLS (`ConnConfig::tls_tcp`, feature `tls`): a TLS client's
/// handshake, the TLS one and then the mempipe one inside it, is driven the
/// same way, off the accept path under one deadline, and a refused client
/// (unknown CA, expired or not-yet-valid certificate, none, a plaintext
/// client, a stall) is a typed error for that client only.
///
/// **Handshakes run concurrently, off the accept path.** Each client's
/// handshake is a small state machine that moves whenever its socket has
/// something to read, and never waits on it: a client that sends nothing, or
/// its hello one byte at a time, holds only its own socket, never another
/// client's accept. One deadline ([`ConnConfig::handshake_timeout`], from the
/// moment the client is accepted) bounds the whole handshake, however its
/// bytes arrive. At most [`ConnConfig::max_handshakes`] are in flight on each
/// socket (the rest wait in the kernel's backlog; TCP clients never take a
/// local client's place), at most
/// [`ConnConfig::max_handshakes_per_peer`] of them from one other user
/// (local clients; the listener's own user is bound by the first limit only)
/// or one IP address (TCP: IPv4, or an IPv6 /64); a client beyond that is
/// turned away at once with a typed reply. Handshakes move inside [`accept`](Self::accept)
/// and its forms (and the async listener's, with the `tokio` feature,
/// which never block), so a server that does not accept leaves clients in the
/// backlog, as with any socket. Each call returns one finished client: a
/// connection, or the error for one client that failed or was turned away
/// (the listener keeps serving).
///
/// **Liveness from the first byte.** For a local client the listener takes
/// the connecting process's pidfd from the socket and watches it for the
/// connection's whole life, attached or not: a client that takes its rings
/// and exits (or never claims them) gives
/// [`RecvError::PeerDied`](crate::RecvError::PeerDied) within the liveness
/// interval; one that acknowledges without claiming its ends is dropped.
///
/// **The listener decides the wakeup.** A client asks; the listener grants
/// spin only within [`ConnConfig::max_spinning_connections`] (otherwise
/// hybrid, and [`Connection::transport`] says so), and a hybrid spin budget
/// up to [`ConnConfig::max_spin_budget`].
///
/// **Out of descriptors.** [`bind`](Self::bind) raises the soft descriptor
/// limit to the hard one ([`ConnConfig::raise_fd_limit`]); a shared-memory
/// connection holds 5 descriptors on the listener's side (each ring's wake
/// socket pair and the client's pidfd; the rings' memory descriptors are
/// closed once sent), a TCP one 1. When
/// the limit is reached anyway, a client is turned away with a typed reply
/// ([`ConnectError::ListenerOutOfResources`](crate::conn::ConnectError::ListenerOutOfResources)),
/// using a descriptor kept in reserve; if even that is gone, accepting pauses
/// (100 ms, doubling to 1 s) instead of failing at once on every call.
///
/// After its handshake a connection is independent of the listener (dropping
/// the listener closes no connection). The listener is pollable ([`AsFd`]:
/// readable while a client is ready to be taken or a handshake can move), for
/// event loops; call [`try_accept`](Self::try_accept) when it is.
///
/// On TCP no peer credentials exist: a listener given a TCP address serves
/// whoever reaches it, on a loopback address every local user (bind it to an
/// address only trusted peers can reach). A TCP client stays on TCP: the
/// listener never offers it the rendezvous socket, nor tells it this host's
/// boot id.
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
    policy: Policy,
    /// Everything the listener waits on: both listening sockets, every
    /// handshake's socket, the deadline timer and the ready flag.
    epoll: OwnedFd,
    /// Fires at the earliest handshake deadline (or the end of a pause).
    timer: OwnedFd,
    /// Readable while a finished client waits to be taken.
    ready: OwnedFd,
    state: Mutex<State>,
    /// The name in a cluster name service, while this listener lives.
    _registered: Option<super::names::NameHold>,
    /// The listener's slot in this process's stats file.
    _flow: Option<super::flows::registry::FlowSlot>,
}

/// Epoll keys; a handshake's key is its number, from [`FIRST_CLIENT`] up.
const KEY_UNIX: u64 = 0;
const KEY_TCP: u64 = 1;
const KEY_TIMER: u64 = 2;
const KEY_READY: u64 = 3;
const FIRST_CLIENT: u64 = 16;

/// What accepting changes, under the listener's lock.
struct State {
    pending: HashMap<u64, Pending>,
    next_key: u64,
    per_peer: HashMap<PeerKey, usize>,
    /// Finished clients (connections or errors), oldest first.
    done: VecDeque<Result<Connection, AcceptError>>,
    /// Whether the ready flag is set.
    flagged: bool,
    spinning: Spinning,
    /// A descriptor kept in reserve for turning clients away.
    spare: Option<OwnedFd>,
    /// Whether each listening socket (UNIX, TCP) is in the epoll set's interest.
    listening: [bool; 2],
    /// Out of descriptors with none in reserve: accepting resumes then.
    paused_until: Option<Instant>,
    pause: Duration,
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
    /// and the TCP address if the configuration names one. Raises the soft
    /// descriptor limit unless [`ConnConfig::raise_fd_limit`] says not to.
    ///
    /// # Errors
    /// [`BindError::InvalidName`]; [`BindError::Config`] for a maximum message
    /// no ring can carry; [`BindError::InUse`] when a live listener
    /// holds the name; [`BindError::Directory`] when the rendezvous directory
    /// is unsafe or missing; [`BindError::Tcp`]; [`BindError::Os`];
    /// [`BindError::Names`] when a cluster name service is configured and the
    /// name is taken there or the service is unreachable.
    pub fn bind(name: &str, config: &ConnConfig) -> Result<Listener, BindError> {
        super::address::check_name(name)?;
        let choice = config.choose();
        check_geometry(&choice)?;
        if config.raise_fd_limit {
            resources::raise_fd_limit();
        }
        let dir = rendezvous::prepare_dir(config.rendezvous_dir.as_deref())
            .map_err(|(path, why)| DirectoryError { path, why })?;
        let others = config.allow_any_user
            || !config.allowed_uids.is_empty()
            || config.allowed_gid.is_some();
        let bound = rendezvous::bind(&dir, name, others)?;
        let door = tcp_door(config)?;
        let tcp = match &door {
            Some((addr, tls)) => {
                let err = |source| BindError::Tcp {
                    addr: addr.clone(),
                    source,
                };
                let targets = if tls.is_some() {
                    // Mutual TLS: any address, other hosts' too.
                    std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
                        .map_err(err)?
                        .collect()
                } else {
                    super::address::plaintext_targets(addr, config.plaintext_off_host)
                        .map_err(|refusal| BindError::from_refusal(addr, refusal))?
                };
                let listener = TcpListener::bind(&targets[..]).map_err(err)?;
                listener.set_nonblocking(true).map_err(err)?;
                Some(listener)
            }
            None => None,
        };
        let tls = door.and_then(|(_, tls)| tls);
        let os = |op| move |e: rustix::io::Errno| BindError::Os(OsError::new(op, e));
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(os("epoll_create"))?;
        let timer = rustix::time::timerfd_create(
            rustix::time::TimerfdClockId::Monotonic,
            rustix::time::TimerfdFlags::CLOEXEC | rustix::time::TimerfdFlags::NONBLOCK,
        )
        .map_err(os("timerfd_create"))?;
        let ready = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map_err(os("eventfd"))?;
        let mut watched: Vec<(BorrowedFd<'_>, u64)> = vec![
            (bound.socket.as_fd(), KEY_UNIX),
            (timer.as_fd(), KEY_TIMER),
            (ready.as_fd(), KEY_READY),
        ];
        if let Some(t) = &tcp {
            watched.push((t.as_fd(), KEY_TCP));
        }
        for (fd, key) in watched {
            epoll::add(&epoll, fd, EventData::new_u64(key), EventFlags::IN)
                .map_err(os("epoll_ctl"))?;
        }
        let policy = Policy {
            config: config.clone(),
            choice,
            boot_id: wire::boot_id(),
            uid: rustix::process::getuid().as_raw(),
            #[cfg(feature = "tls")]
            tls: tls.clone(),
        };
        let tcp_addr = tcp.as_ref().and_then(|t| t.local_addr().ok());
        let registered = registration::register_listener(
            name,
            config,
            tcp_addr,
            tls.as_ref().and_then(TcpTls::name),
            &bound.path,
            &policy.choice,
        )?;
        Ok(Listener {
            _registered: registered,
            _flow: super::flows::publish::listener(name, tcp_addr),
            name: name.to_owned(),
            bound,
            tcp,
            policy,
            epoll,
            timer,
            ready,
            state: Mutex::new(State {
                pending: HashMap::new(),
                next_key: FIRST_CLIENT,
                per_peer: HashMap::new(),
                done: VecDeque::new(),
                flagged: false,
                spinning: Spinning::default(),
                spare: resources::spare(),
                listening: [true; 2],
                paused_until: None,
                pause: drive::FIRST_PAUSE,
            }),
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

    /// Waits for a client whose handshake completes, moving every handshake in
    /// flight meanwhile.
    ///
    /// # Errors
    /// For one client only (the listener keeps serving; call again):
    /// [`AcceptError::Refused`] for a user that is not allowed,
    /// [`AcceptError::Busy`] for a user or address over its handshake limit,
    /// [`AcceptError::Handshake`] for a client that breaks the protocol or
    /// misses its deadline, [`AcceptError::Create`] when its rings cannot be
    /// created, [`AcceptError::OutOfResources`] when descriptors ran out;
    /// [`AcceptError::Os`] when accepting itself fails.
    pub fn accept(&self) -> Result<Connection, AcceptError> {
        self.accept_until(None, false)
    }

    /// Moves the handshakes in flight and returns a finished client, without
    /// waiting.
    ///
    /// # Errors
    /// [`AcceptError::NoPending`] when no client is ready; otherwise as
    /// [`accept`](Self::accept).
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
        loop {
            if let Some(finished) = self.step() {
                return finished;
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
            let mut fds = [PollFd::new(&self.epoll, PollFlags::IN)];
            match rustix::event::poll(&mut fds, ts.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(AcceptError::Os(OsError::new("poll", e))),
            }
        }
    }

    /// Moves what can move now; the oldest finished client, if any.
    fn step(&self) -> Option<Result<Connection, AcceptError>> {
        let mut state = self.lock();
        self.drive(&mut state);
        let finished = state.done.pop_front();
        self.flag(&mut state);
        finished.map(|r| {
            r.map(|mut conn| {
                // What a later move to TCP uses: the listener's TLS.
                #[cfg(feature = "tls")]
                conn.remember_tls(
                    self.policy
                        .tls
                        .clone()
                        .or_else(|| self.policy.config.tls.clone()),
                );
                conn.publish(super::flows::publish::connection(
                    &self.name,
                    super::flows::publish::End::Server,
                    conn.transport(),
                    None,
                ));
                conn
            })
        })
    }

    /// Whether something the listener waits on is ready now.
    #[cfg(feature = "tokio")]
    pub(crate) fn has_events(&self) -> bool {
        let mut fds = [PollFd::new(&self.epoll, PollFlags::IN)];
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves consistent state behind (every
        // change is one insertion or removal): keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the ready flag while finished clients wait, clears it otherwise.
    fn flag(&self, state: &mut State) {
        let want = !state.done.is_empty();
        if want == state.flagged {
            return;
        }
        if want {
            let _ = rustix::io::write(&self.ready, &1u64.to_ne_bytes());
        } else {
            let mut count = [0u8; 8];
            let _ = rustix::io::read(&self.ready, &mut count);
        }
        state.flagged = want;
    }
}

impl AsFd for Listener {
    /// An epoll descriptor, readable while a finished client waits to be
    /// taken, a client waits to be accepted, or a handshake can move (call
    /// [`Listener::try_accept`] then; it may find nothing finished yet).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

/// The TLS configuration of a listener's TCP address (nothing without the
/// `tls` feature).
#[cfg(feature = "tls")]
type TcpTls = super::tls::TlsConfig;
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum TcpTls {}

#[cfg(not(feature = "tls"))]
impl TcpTls {
    fn name(&self) -> Option<&str> {
        match *self {}
    }
}

/// The listener's TCP address, if any, and its TLS configuration when it
/// speaks TLS.
#[cfg(feature = "tls")]
fn tcp_door(config: &ConnConfig) -> Result<Option<(String, Option<TcpTls>)>, BindError> {
    let Some(addr) = config.tls_listen() else {
        return Ok(config.tcp.clone().map(|addr| (addr, None)));
    };
    let refuse = |why: String| BindError::Tls {
        addr: addr.clone(),
        why,
    };
    if let Some(plain) = &config.tcp {
        return Err(refuse(format!(
            "plaintext TCP on {plain} is configured too; a listener has one TCP address"
        )));
    }
    let tls = config
        .tls_config()
        .map_err(|e| refuse(e.to_string()))?
        .ok_or_else(|| {
            refuse(format!(
                "no TLS configuration: give ConnConfig::tls, or set {}, {} and {}",
                super::tls::TLS_CA_ENV,
                super::tls::TLS_CERT_ENV,
                super::tls::TLS_KEY_ENV
            ))
        })?;
    if tls.name().is_none() {
        return Err(refuse(
            "this node's certificate carries no DNS name for clients to expect".into(),
        ));
    }
    Ok(Some((addr, Some(tls))))
}

#[cfg(not(feature = "tls"))]
fn tcp_door(config: &ConnConfig) -> Result<Option<(String, Option<TcpTls>)>, BindError> {
    Ok(config.tcp.clone().map(|addr| (addr, None)))
}
