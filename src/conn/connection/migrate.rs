//! A live switch of a connection's transport (shared memory ⇄ TCP) while
//! messages flow, with nothing lost, duplicated or reordered.
//!
//! The hand-over, per direction (see docs/design.md, "Moving a connection"):
//!
//! 1. The initiator's sending half binds a one-off listener (a random name;
//!    loopback TCP, or the rendezvous directory for shared memory) and sends
//!    a *proposal* control record on the old transport: where, and a random
//!    token.
//! 2. The peer's receiving half reads the proposal in order with the
//!    messages, connects, and sends the token as the new leg's first message.
//!    It keeps the new leg pending and goes on reading the old transport.
//! 3. The initiator accepts the leg whose first message is the token, hands
//!    the new leg's receiving side to its own receiving half (crate-internal
//!    state, [`Switch`]), and closes the old transport's sending direction:
//!    that close is the marker. Its later sends go on the new leg.
//! 4. The peer's receiving half reads the old transport to its end (the
//!    marker), then reads the new leg; it hands the new leg's sending side to
//!    its own sending half, whose next send closes the old direction (the
//!    reverse marker) and goes on the new leg.
//! 5. The initiator's receiving half reads the old transport to that end,
//!    then the new leg.
//!
//! Nothing reaches the new leg of a direction before its old leg is closed,
//! and a receiver reads the new leg only after the old one's end: order holds.
//! A peer that does not join in time gets an *abort* record; the flow stays
//! on the old transport.
//!
//! A new TCP leg speaks mutual TLS whenever the flow has a TLS configuration
//! (feature `tls`: the one its connection was made with, else
//! `MEMPIPE_TLS_*`): the one-off listener serves TLS, and the proposal says
//! so and names the certificate the peer must find there. The peer joins
//! with its own configuration, both sides verifying the other's certificate
//! against their CA; a peer without one does not join. Without TLS on
//! either side the leg is plaintext TCP.

use super::{Connection, RecvInner, SendInner};
use crate::conn::{Transport, TransportKind};
use crate::error::{RecvError, SendError};
use crate::handover::LegQueue;
use crate::ConnConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Control record: a proposal to move (token, kind, where).
const OP_PROPOSE: u8 = 1;
/// Control record: the proposal with this token is withdrawn.
const OP_ABORT: u8 = 2;
const KIND_SHM: u8 = 1;
/// Plaintext TCP.
const KIND_TCP: u8 = 2;
/// TCP with mutual TLS: the listener's certificate name (a length byte, then
/// the name) comes before the address.
const KIND_TLS: u8 = 3;
/// Random token naming one move.
pub(crate) type Token = [u8; 16];

/// Why a move failed. The connection stays on its old transport and works
/// (except after [`Send`](MigrateError::Send), which is the connection's own error).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The new transport could not be set up here (the listener for it; for
    /// TLS, [`BindError::Tls`](crate::conn::BindError::Tls) when this side's
    /// TLS configuration is unusable, or unknown on a connection that runs
    /// on TLS, which never moves to plaintext).
    #[error("could not set up the new {kind:?} transport: {source}; the connection stays on the old one")]
    Setup {
        /// The transport asked for.
        kind: TransportKind,
        /// What failed.
        #[source]
        source: crate::conn::BindError,
    },
    /// The peer did not join the new transport in time: it cannot reach it
    /// (another host for shared memory, a refused or unroutable address), it
    /// cannot speak the new leg's security (no TLS configuration for a TLS
    /// leg; a TLS configuration for a plaintext one), it is not receiving, or
    /// it is moving itself. Retry later, or with a longer timeout.
    #[error("the peer did not join the new {kind:?} transport within {waited:?} (unreachable, without the new leg's TLS or with TLS for a plaintext leg, not receiving, or moving itself); the connection stays on the old one")]
    Timeout {
        /// The transport asked for.
        kind: TransportKind,
        /// How long this side waited.
        waited: Duration,
    },
    /// The peer tried to join but the new leg's TLS session failed (feature
    /// `tls`): its certificate is from another CA, expired or missing, or it
    /// refused this side's certificate. `source` is the last such refusal
    /// (`AcceptError::Tls`, whose `TlsError` says why). Reported once the
    /// timeout has passed without a good join.
    #[error("the new {kind:?} transport's TLS session with the peer failed within {waited:?}: {source}; the connection stays on the old one")]
    Refused {
        /// The transport asked for.
        kind: TransportKind,
        /// How long this side waited.
        waited: Duration,
        /// The refusal.
        #[source]
        source: crate::conn::AcceptError,
    },
    /// A move of this connection is already under way (from another thread).
    #[error("a move of this connection is already under way")]
    InProgress,
    /// The old transport failed while asking the peer (the peer closed,
    /// died, or the transport broke): the connection's own error.
    #[error("the connection failed while moving: {0}")]
    Send(#[from] SendError),
}

/// State both halves of one connection share for a move: the half that
/// learns of a new leg hands the other half its side (see [`LegQueue`]).
#[derive(Default)]
pub(crate) struct Switch {
    /// Legs the sending half has to follow (the peer's moves, joined).
    send_legs: LegQueue<Leg<SendInner>>,
    /// Legs the receiving half reads after the current one ends (this side's moves).
    recv_legs: LegQueue<Leg<RecvInner>>,
    /// This side's sending half is moving (proposed, waiting for the peer).
    moving: AtomicBool,
    /// The TLS configuration the connection was made with, if any: what a
    /// new TCP leg uses (feature `tls`).
    #[cfg(feature = "tls")]
    tls: std::sync::OnceLock<crate::conn::tls::TlsConfig>,
}

/// One side of a new leg and what it runs on.
pub(crate) type Leg<T> = (T, Arc<Transport>);

impl Switch {
    #[inline(always)]
    pub(crate) fn send_ready(&self) -> bool {
        self.send_legs.is_ready()
    }

    /// The oldest leg this side's own moves queued for its receiving half.
    pub(crate) fn take_recv(&self) -> Option<Leg<RecvInner>> {
        match self.recv_legs.is_ready() {
            true => self.recv_legs.take_one(),
            false => None,
        }
    }

    /// Queues a leg this side's own move made for its receiving half.
    pub(crate) fn put_recv(&self, leg: Leg<RecvInner>) {
        self.recv_legs.put(leg);
    }

    /// Queues the sending side of a leg the receiving half joined.
    #[cfg(feature = "tokio")]
    pub(crate) fn put_send(&self, leg: Leg<SendInner>) {
        self.send_legs.put(leg);
    }

    /// Every leg queued for the sending half, oldest first.
    #[cfg(feature = "tokio")]
    pub(crate) fn take_send(&self) -> std::collections::VecDeque<Leg<SendInner>> {
        self.send_legs.take_all()
    }

    /// Whether this side's sending half is moving (a peer's proposal then
    /// waits out: one move at a time).
    pub(crate) fn is_moving(&self) -> bool {
        self.moving.load(Ordering::Acquire)
    }

    /// Marks this side as moving; `None` when a move is already under way.
    /// The mark is cleared when the guard is dropped.
    pub(crate) fn start_move(self: &Arc<Self>) -> Option<MoveGuard> {
        match self.moving.swap(true, Ordering::AcqRel) {
            true => None,
            false => Some(MoveGuard(self.clone())),
        }
    }

    /// The flow's TLS configuration: the one its connection was made with,
    /// else the environment's (`MEMPIPE_TLS_*`).
    #[cfg(feature = "tls")]
    fn tls(&self) -> Result<Option<crate::conn::tls::TlsConfig>, crate::conn::tls::TlsError> {
        match self.tls.get() {
            Some(tls) => Ok(Some(tls.clone())),
            None => crate::conn::tls::TlsConfig::from_environment(),
        }
    }

    /// Whether this side has a TLS configuration (an unusable one counts:
    /// it must not be downgraded to plaintext).
    #[cfg(feature = "tls")]
    fn has_tls(&self) -> bool {
        !matches!(self.tls(), Ok(None))
    }

    #[cfg(not(feature = "tls"))]
    fn has_tls(&self) -> bool {
        false
    }
}

/// This side's move is under way while it lives (see [`Switch::start_move`]).
pub(crate) struct MoveGuard(Arc<Switch>);

impl Drop for MoveGuard {
    fn drop(&mut self) {
        self.0.moving.store(false, Ordering::Release);
    }
}

#[cfg(feature = "tls")]
impl Connection {
    /// Keeps the TLS configuration this connection was made with, for a
    /// later move to TCP (the first one given stays).
    pub(crate) fn remember_tls(&mut self, tls: Option<crate::conn::tls::TlsConfig>) {
        if let Some(tls) = tls {
            let _ = self.tx.switch.tls.set(tls);
        }
    }
}

/// A random token (the standard library's per-process random hash keys,
/// mixed with the time and a counter).
fn token() -> Token {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A control record, decoded from untrusted bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    Propose {
        token: Token,
        kind: TransportKind,
        at: String,
        /// TCP with mutual TLS: the name the listener's certificate carries.
        tls: Option<String>,
    },
    Abort {
        token: Token,
    },
}

impl Control {
    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Control::Propose {
                token,
                kind,
                at,
                tls,
            } => {
                let mut v = vec![OP_PROPOSE];
                v.extend_from_slice(token);
                match (kind, tls) {
                    (TransportKind::SharedMemory, _) => v.push(KIND_SHM),
                    (TransportKind::Tcp, None) => v.push(KIND_TCP),
                    (TransportKind::Tcp, Some(name)) => {
                        // A DNS name is at most 253 bytes (checked before a
                        // proposal is made; cut here only as a last resort).
                        let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
                        v.push(KIND_TLS);
                        v.push(name.len() as u8);
                        v.extend_from_slice(name);
                    }
                }
                v.extend_from_slice(at.as_bytes());
                v
            }
            Control::Abort { token } => {
                let mut v = vec![OP_ABORT];
                v.extend_from_slice(token);
                v
            }
        }
    }

    /// Decodes a peer's control record.
    ///
    /// # Errors
    /// [`RecvError::Corrupted`] for anything that is not a well-formed record.
    pub(crate) fn decode(b: &[u8]) -> Result<Control, RecvError> {
        let bad = |why: &str| {
            RecvError::Corrupted(crate::error::Corruption::new(format!(
                "control record of {} bytes: {why}",
                b.len()
            )))
        };
        let token: Token = b
            .get(1..17)
            .and_then(|t| t.try_into().ok())
            .ok_or_else(|| bad("shorter than its token"))?;
        match b[0] {
            OP_ABORT if b.len() == 17 => Ok(Control::Abort { token }),
            OP_PROPOSE if b.len() > 18 => {
                let utf8 = |bytes: &[u8], what: &str| {
                    std::str::from_utf8(bytes)
                        .map(str::to_owned)
                        .map_err(|_| bad(&format!("the {what} is not UTF-8")))
                };
                let (kind, tls, rest) = match b[17] {
                    KIND_SHM => (TransportKind::SharedMemory, None, &b[18..]),
                    KIND_TCP => (TransportKind::Tcp, None, &b[18..]),
                    KIND_TLS => {
                        let len = usize::from(b[18]);
                        let name = b
                            .get(19..19 + len)
                            .filter(|n| !n.is_empty())
                            .ok_or_else(|| bad("no certificate name, or one cut short"))?;
                        (
                            TransportKind::Tcp,
                            Some(utf8(name, "name")?),
                            &b[19 + len..],
                        )
                    }
                    _ => return Err(bad("unknown transport kind")),
                };
                if rest.is_empty() {
                    return Err(bad("no address"));
                }
                let at = utf8(rest, "address")?;
                Ok(Control::Propose {
                    token,
                    kind,
                    at,
                    tls,
                })
            }
            _ => Err(bad("unknown operation or wrong length")),
        }
    }
}

/// The peer's proposal, joined: the new leg, not yet in use.
pub(crate) struct Pending {
    token: Token,
    conn: Box<Connection>,
}

impl Pending {
    /// The token of the proposal this leg joined.
    #[cfg(feature = "tokio")]
    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// The new leg.
    #[cfg(feature = "tokio")]
    pub(crate) fn into_conn(self) -> Connection {
        *self.conn
    }
}

/// The record that withdraws the proposal with `token`.
pub(crate) fn abort_record(token: Token) -> Vec<u8> {
    Control::Abort { token }.encode()
}

/// The initiator's side of a move before the peer joins: the one-off
/// listener for the new leg, and the token that names the move.
pub(crate) struct Offer {
    listener: crate::Listener,
    token: Token,
    kind: TransportKind,
    at: String,
    /// The name on this side's certificate when the leg speaks TLS.
    tls: Option<String>,
    /// The old leg: a client of a TLS leg must be the peer it verified.
    old: Arc<Transport>,
}

/// How long one accept waits before a cancellable accept looks at its flag.
const ACCEPT_SLICE: Duration = Duration::from_millis(50);

impl Offer {
    /// Binds the one-off listener for a move to `to`: TCP on loopback (or on
    /// `local_ip`, the current TCP leg's address), mutual TLS when the flow
    /// has TLS configured; or a rendezvous socket for shared memory.
    ///
    /// # Errors
    /// [`MigrateError::Setup`] when the listener cannot be bound, or the
    /// flow runs on TLS and no TLS configuration is known here.
    pub(crate) fn bind(
        to: TransportKind,
        switch: &Switch,
        old: &Arc<Transport>,
        local_ip: Option<std::net::IpAddr>,
        timeout: Duration,
    ) -> Result<Offer, MigrateError> {
        let token = token();
        let name = format!("mempipe-move-{}", hex(&token[..8]));
        // A one-off listener: never registered with a cluster name service.
        #[allow(unused_mut)]
        let mut config = ConnConfig::new()
            .max_message(old.max_message())
            .handshake_timeout(timeout)
            .names(crate::conn::names::Names::Local);
        // Nor does it take the service's TLS address from the environment.
        #[cfg(feature = "tls")]
        {
            config.tls_listen_env = false;
        }
        let mut tls = None;
        if to == TransportKind::Tcp {
            let addr = match local_ip {
                Some(ip) => std::net::SocketAddr::new(ip, 0).to_string(),
                None => "127.0.0.1:0".to_owned(),
            };
            (config, tls) = tcp_door(switch, old, config, addr)?;
        }
        let listener = crate::Listener::bind(&name, &config)
            .map_err(|source| MigrateError::Setup { kind: to, source })?;
        let at = match to {
            TransportKind::Tcp => listener
                .tcp_addr()
                .map(|a| a.to_string())
                .unwrap_or_default(),
            TransportKind::SharedMemory => listener.path().to_string_lossy().into_owned(),
        };
        Ok(Offer {
            listener,
            token,
            kind: to,
            at,
            tls,
            old: old.clone(),
        })
    }

    /// The token naming this move.
    pub(crate) fn token(&self) -> Token {
        self.token
    }

    /// The proposal record to send on the current transport.
    pub(crate) fn proposal(&self) -> Vec<u8> {
        Control::Propose {
            token: self.token,
            kind: self.kind,
            at: self.at.clone(),
            tls: self.tls.clone(),
        }
        .encode()
    }

    /// Accepts the leg whose first message is the token, until `timeout`
    /// after `start` (or, when `cancel` is given, until it is set: it is
    /// looked at every [`ACCEPT_SLICE`]). Blocks. The listener is closed on
    /// return.
    ///
    /// # Errors
    /// [`MigrateError::Refused`] when no peer joined and a TLS session on
    /// the new leg failed meanwhile; otherwise [`MigrateError::Timeout`].
    pub(crate) fn accept(
        self,
        start: Instant,
        timeout: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<Connection, MigrateError> {
        // The last TLS session that failed on the new leg, if any.
        let mut refused = None;
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() || cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
                let waited = start.elapsed();
                return Err(match refused {
                    Some(source) => MigrateError::Refused {
                        kind: self.kind,
                        waited,
                        source,
                    },
                    None => MigrateError::Timeout {
                        kind: self.kind,
                        waited,
                    },
                });
            }
            let wait = match cancel {
                Some(_) => left.min(ACCEPT_SLICE),
                None => left,
            };
            let mut conn = match self.listener.accept_timeout(wait) {
                Ok(conn) => conn,
                Err(e) => {
                    if is_tls_refusal(&e) {
                        refused = Some(e);
                    }
                    continue;
                }
            };
            if !same_peer(&self.old, conn.transport()) {
                continue;
            }
            let mut first = [0u8; 16];
            match conn.recv_into_timeout(&mut first, timeout.saturating_sub(start.elapsed())) {
                Ok(16) if first == self.token => return Ok(conn),
                _ => continue,
            }
        }
    }
}

/// The one-off listener's TCP address: mutual TLS when the flow has a
/// TLS configuration (and the name its certificate carries, for the
/// proposal), else plaintext.
#[cfg(feature = "tls")]
fn tcp_door(
    switch: &Switch,
    transport: &Transport,
    config: ConnConfig,
    addr: String,
) -> Result<(ConnConfig, Option<String>), MigrateError> {
    let setup = |why: String| MigrateError::Setup {
        kind: TransportKind::Tcp,
        source: crate::conn::BindError::Tls {
            addr: addr.clone(),
            why,
        },
    };
    match switch.tls().map_err(|e| setup(e.to_string()))? {
        Some(tls) => {
            // A DNS name (ASCII, at most 253 bytes) fits the proposal's
            // length byte whole.
            let name = tls
                .name()
                .filter(|n| n.is_ascii() && n.len() <= usize::from(u8::MAX))
                .ok_or_else(|| {
                    setup(
                        "this node's certificate carries no DNS name (ASCII, at most 255 bytes) for the peer to expect"
                            .into(),
                    )
                })?
                .to_owned();
            Ok((config.tls(tls).tls_tcp(addr), Some(name)))
        }
        None if transport.is_tls() => Err(setup(
            "the connection runs on TLS but its TLS configuration is not known here (a \
             connection made with Connection::over_tls): set MEMPIPE_TLS_CA, \
             MEMPIPE_TLS_CERT and MEMPIPE_TLS_KEY; a move never falls back to plaintext"
                .into(),
        )),
        None => Ok((config.plaintext_tcp(addr).allow_plaintext_off_host(), None)),
    }
}

#[cfg(not(feature = "tls"))]
fn tcp_door(
    _switch: &Switch,
    _transport: &Transport,
    config: ConnConfig,
    addr: String,
) -> Result<(ConnConfig, Option<String>), MigrateError> {
    Ok((config.plaintext_tcp(addr).allow_plaintext_off_host(), None))
}

/// Joins a proposed leg: connects, and sends the token first. `None` when
/// it cannot (unreachable, refused, too slow, or TLS asked for and this side
/// has none, or plaintext asked for and this side has TLS): the proposer
/// then times out and the flow stays where it is.
///
/// `tls` is the name the proposer's certificate carries when the leg speaks
/// TLS; on a connection that runs on TLS already it must be one of the
/// peer's verified names.
#[allow(clippy::too_many_arguments)]
pub(crate) fn join(
    kind: TransportKind,
    at: &str,
    tls: Option<&str>,
    token: Token,
    max_message: usize,
    timeout: Duration,
    switch: &Switch,
    transport: &Transport,
) -> Option<Pending> {
    let config = ConnConfig::new()
        .max_message(max_message)
        .connect_timeout(timeout)
        .handshake_timeout(timeout)
        .names(crate::conn::names::Names::Local);
    let mut conn = match (kind, tls) {
        (TransportKind::Tcp, Some(name)) => join_tls(at, name, &config, switch, transport)?,
        // No downgrade: a side with TLS joins TLS legs only.
        (TransportKind::Tcp, None) if switch.has_tls() || transport.is_tls() => return None,
        (TransportKind::Tcp, None) => crate::connect(
            crate::conn::Address::Tcp(at.to_owned()),
            &config.allow_plaintext_off_host(),
        )
        .ok()?,
        (TransportKind::SharedMemory, _) => {
            let path = std::path::Path::new(at);
            // The listener's socket is `<dir>/<name>.sock`.
            let name = path
                .file_name()?
                .to_str()?
                .strip_suffix(".sock")?
                .to_owned();
            let dir = path.parent()?;
            crate::connect(crate::conn::Address::Shm(name), &config.rendezvous_dir(dir)).ok()?
        }
    };
    conn.send_timeout(&token, timeout).ok()?;
    Some(Pending {
        token,
        conn: Box::new(conn),
    })
}

/// Whether a failed accept on the new leg was a TLS session that failed.
fn is_tls_refusal(e: &crate::conn::AcceptError) -> bool {
    #[cfg(feature = "tls")]
    return matches!(e, crate::conn::AcceptError::Tls { .. });
    #[cfg(not(feature = "tls"))]
    {
        let _ = e;
        false
    }
}

/// Whether a client of the new leg may be the peer: when both legs run on
/// TLS, its verified identity must be the old leg's.
fn same_peer(old: &Transport, new: &Transport) -> bool {
    #[cfg(feature = "tls")]
    return match (&old.identity, &new.identity) {
        (Some(old), Some(new)) => old == new,
        _ => true,
    };
    #[cfg(not(feature = "tls"))]
    {
        let _ = (old, new);
        true
    }
}

/// Joins a TLS leg at `at` (an IP address and port) whose certificate must
/// carry `name`, with this side's own TLS configuration: mutual verification
/// against its CA.
#[cfg(feature = "tls")]
fn join_tls(
    at: &str,
    name: &str,
    config: &ConnConfig,
    switch: &Switch,
    transport: &Transport,
) -> Option<Connection> {
    if transport
        .identity
        .as_ref()
        .is_some_and(|peer| !peer.names.iter().any(|n| n == name))
    {
        // Not the certificate of the peer this connection runs with.
        return None;
    }
    let tls = switch.tls().ok()??;
    let addr: std::net::SocketAddr = at.parse().ok()?;
    crate::conn::connect_tls_to(addr, name, &tls, config).ok()
}

#[cfg(not(feature = "tls"))]
fn join_tls(_: &str, _: &str, _: &ConnConfig, _: &Switch, _: &Transport) -> Option<Connection> {
    None
}

/// How long a receiving half gives a proposed leg to connect.
pub(crate) const JOIN_TIMEOUT: Duration = Duration::from_secs(2);

impl super::RecvHalf {
    /// Handles a control record read from the current transport.
    #[cold]
    pub(crate) fn on_control(&mut self, payload: &[u8]) -> Result<(), RecvError> {
        match Control::decode(payload)? {
            Control::Propose {
                token,
                kind,
                at,
                tls,
            } => {
                // One move at a time: while this side proposes one, or a
                // proposal is pending, the peer's waits out (it times out).
                if self.pending.is_some() || self.switch.is_moving() {
                    return Ok(());
                }
                let max = self.transport.max_message();
                self.pending = join(
                    kind,
                    &at,
                    tls.as_deref(),
                    token,
                    max,
                    JOIN_TIMEOUT,
                    &self.switch,
                    &self.transport,
                );
            }
            Control::Abort { token } => {
                if self.pending.as_ref().is_some_and(|p| p.token == token) {
                    self.pending = None;
                }
            }
        }
        Ok(())
    }

    /// The current transport ended (`Disconnected`): moves to the next leg
    /// when there is one. Returns whether it did.
    #[cold]
    pub(crate) fn next_leg(&mut self) -> bool {
        // This side's own move: the leg its sending half accepted.
        if let Some((inner, transport)) = self.switch.take_recv() {
            self.inner = inner;
            self.transport = transport;
            self.attach_counters();
            return true;
        }
        // The peer's move, joined here: the sending side follows at its next call.
        if let Some(p) = self.pending.take() {
            let (tx, rx) = p.conn.split();
            self.switch.send_legs.put((tx.inner, tx.transport));
            self.inner = rx.inner;
            self.transport = rx.transport;
            self.attach_counters();
            return true;
        }
        false
    }
}

impl super::SendHalf {
    /// Moves this connection to `to` while messages flow: this direction at
    /// once (the call returns when it has moved), the peer's direction at the
    /// peer's next send. No message is lost, duplicated or reordered; the
    /// peer needs nothing but to keep receiving (its receiving half joins).
    ///
    /// Moving to shared memory needs both processes on one host and user;
    /// moving to TCP uses loopback from shared memory and the current local
    /// address from TCP.
    ///
    /// **TLS** (feature `tls`): when the flow has a TLS configuration (the
    /// `ConnConfig::tls` its connection was made or accepted with, else
    /// `MEMPIPE_TLS_CA`/`_CERT`/`_KEY`), the new TCP leg speaks mutual TLS
    /// 1.3: the peer joins with its own configuration, each side verifies
    /// the other's certificate against its cluster CA, and the new
    /// [`Transport`] names the peer's verified identity. A peer without
    /// TLS, or whose certificate (or CA) does not match, does not join: the
    /// move fails and the flow stays where it was. A side with TLS never
    /// joins a plaintext leg, and a connection running on TLS never moves to
    /// plaintext. Without TLS on either side (or without the feature), the
    /// new TCP leg is plaintext, as a loopback or trusted-network leg.
    ///
    /// The peer's receiving half must be reading (its own thread, or a loop
    /// that receives) for the move to complete; a peer that cannot join
    /// within `timeout` leaves the connection where it was.
    ///
    /// This is what an operator's move request calls: whoever takes such a
    /// request from a flow's stats slot calls this on the thread that owns
    /// the sending half (for example before its next send).
    ///
    /// # Errors
    /// [`MigrateError::Timeout`] when the peer did not join (the connection
    /// stays on the old transport); [`MigrateError::Refused`] when it tried
    /// but the new leg's TLS session failed (the connection stays too);
    /// [`MigrateError::Setup`] when the new transport could not be set up
    /// here; [`MigrateError::InProgress`]; [`MigrateError::Send`] when the
    /// connection itself failed.
    pub fn migrate(&mut self, to: TransportKind, timeout: Duration) -> Result<(), MigrateError> {
        self.follow()?;
        let Some(_moving) = self.switch.start_move() else {
            return Err(MigrateError::InProgress);
        };
        self.migrate_inner(to, timeout)
    }

    fn migrate_inner(&mut self, to: TransportKind, timeout: Duration) -> Result<(), MigrateError> {
        let start = Instant::now();
        let local_ip = match &self.inner {
            SendInner::Tcp(t) => t.stream().local_addr().ok().map(|a| a.ip()),
            SendInner::Shm(_) => None,
        };
        let offer = Offer::bind(to, &self.switch, &self.transport, local_ip, timeout)?;
        let token = offer.token();
        self.send_control(&offer.proposal())?;
        let conn = match offer.accept(start, timeout, None) {
            Ok(conn) => conn,
            Err(e) => {
                self.send_control(&abort_record(token))?;
                return Err(e);
            }
        };
        let (tx, rx) = conn.split();
        // The receiving half gets its leg before the marker can make the
        // peer move its direction.
        self.switch.put_recv((rx.inner, rx.transport));
        // Dropping the old sending side closes it: the marker.
        self.inner = tx.inner;
        self.transport = tx.transport;
        self.attach_counters();
        Ok(())
    }

    fn send_control(&mut self, payload: &[u8]) -> Result<(), SendError> {
        let wait = crate::deadline::Deadline::Forever;
        match &mut self.inner {
            SendInner::Shm(p) => p.send_control_by(payload, wait),
            SendInner::Tcp(t) => t.send_control(payload, wait),
        }
    }

    /// Follows a move the receiving half joined: the old direction closes
    /// (the marker) and later sends go on the new leg.
    #[cold]
    pub(crate) fn follow(&mut self) -> Result<(), SendError> {
        // Legs this half never sent on close at once, in order: the peer
        // reads each to its (empty) end and goes on to the next.
        for (inner, transport) in self.switch.send_legs.take_all() {
            self.inner = inner;
            self.transport = transport;
            self.attach_counters();
        }
        Ok(())
    }
}

impl Connection {
    /// Moves this connection to `to` while messages flow; see
    /// [`SendHalf::migrate`](crate::conn::SendHalf::migrate).
    ///
    /// With both halves in one thread, the peer must keep receiving while
    /// this call waits for it to join (at most `timeout`).
    ///
    /// # Errors
    /// As [`SendHalf::migrate`](crate::conn::SendHalf::migrate).
    pub fn migrate(&mut self, to: TransportKind, timeout: Duration) -> Result<(), MigrateError> {
        self.sender().migrate(to, timeout)
    }
}

/// How long a move asked for by an operator (`mempipe move`) waits for the
/// peer to join before the flow stays where it is.
const MOVE_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl super::SendHalf {
    /// After a leg change: the new ring counts into the flow's slot too, and
    /// the slot says which transport the flow runs on now.
    pub(crate) fn attach_counters(&mut self) {
        if let (Some(c), SendInner::Shm(p)) = (self.counters, &mut self.inner) {
            p.set_counters(c);
        }
        if let Some(flow) = &self.flow {
            crate::conn::flows::publish::moved(flow, &self.transport);
        }
    }

    /// Serves an operator's move request (`mempipe move`) if one is pending:
    /// one relaxed load of a line only such requests write.
    #[inline]
    pub(crate) fn check_move_request(&mut self) {
        let Some(flow) = &self.flow else { return };
        if let Some(target) = flow.take_move_request() {
            let flow = flow.clone();
            self.serve_move_request(&flow, target);
        }
    }

    /// Moves as asked and answers in the slot: done, or failed (the flow
    /// stays on its transport, working).
    #[cold]
    fn serve_move_request(
        &mut self,
        flow: &crate::conn::flows::registry::FlowSlot,
        target: crate::conn::flows::MoveTarget,
    ) {
        use crate::conn::flows::{MoveOutcome, MoveTarget};
        let to = match target {
            MoveTarget::SharedMemory => TransportKind::SharedMemory,
            MoveTarget::Tcp => TransportKind::Tcp,
        };
        let outcome = if self.transport.kind == to {
            MoveOutcome::Done
        } else {
            match self.migrate(to, MOVE_REQUEST_TIMEOUT) {
                Ok(()) => MoveOutcome::Done,
                Err(_) => MoveOutcome::Failed,
            }
        };
        flow.answer_move(outcome);
    }
}

impl super::RecvHalf {
    /// After a leg change: the new ring counts into the flow's slot too.
    pub(crate) fn attach_counters(&mut self) {
        if let (Some(c), RecvInner::Shm(consumer)) = (self.counters, &mut self.inner) {
            consumer.set_counters(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_records_round_trip_and_refuse_garbage() {
        let p = Control::Propose {
            token: [7; 16],
            kind: TransportKind::Tcp,
            at: "127.0.0.1:9".into(),
            tls: None,
        };
        assert_eq!(Control::decode(&p.encode()).unwrap(), p);
        let a = Control::Abort { token: [1; 16] };
        assert_eq!(Control::decode(&a.encode()).unwrap(), a);
        for bad in [&[][..], &[1], &[9; 20], &[2; 18], &[1; 18]] {
            assert!(matches!(Control::decode(bad), Err(RecvError::Corrupted(_))));
        }
        let mut p = p.encode();
        p[17] = 9;
        assert!(Control::decode(&p).is_err());
    }

    #[test]
    fn tls_proposals_carry_the_certificate_name_and_refuse_garbage() {
        let p = Control::Propose {
            token: [3; 16],
            kind: TransportKind::Tcp,
            at: "10.0.0.1:7000".into(),
            tls: Some("node-a".into()),
        };
        let wire = p.encode();
        assert_eq!(wire[17], KIND_TLS);
        assert_eq!(Control::decode(&wire).unwrap(), p);
        // A shared-memory proposal never carries a name.
        let shm = Control::Propose {
            token: [3; 16],
            kind: TransportKind::SharedMemory,
            at: "/run/x.sock".into(),
            tls: Some("ignored".into()),
        };
        match Control::decode(&shm.encode()).unwrap() {
            Control::Propose { tls, kind, .. } => {
                assert_eq!((tls, kind), (None, TransportKind::SharedMemory))
            }
            other => panic!("{other:?}"),
        }
        let head = |rest: &[u8]| {
            let mut v = vec![OP_PROPOSE];
            v.extend_from_slice(&[3; 16]);
            v.push(KIND_TLS);
            v.extend_from_slice(rest);
            v
        };
        for bad in [
            head(&[0, b'1', b':', b'2']), // an empty name
            head(&[200, b'n', b'a']),     // a name cut short
            head(&[2, b'n', b'a']),       // no address
            head(&[2, 0xff, 0xfe, b'1']), // a name that is not UTF-8
            head(&[1, b'n', 0xff, 0xfe]), // an address that is not UTF-8
        ] {
            assert!(
                matches!(Control::decode(&bad), Err(RecvError::Corrupted(_))),
                "{bad:?}"
            );
        }
    }
}
