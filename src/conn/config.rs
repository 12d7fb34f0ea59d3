//! What a connection's user declares, and how that becomes a wakeup, a spin
//! budget and a ring size.

use super::error::ConnConfigError;
use super::profile::MachineProfile;
use crate::config::WakeupKind;
use std::path::PathBuf;
use std::time::Duration;

/// What matters to the program, rather than the mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Intent {
    /// Lowest latency; a waiting side may burn a core (spin when the machine
    /// allows it, else hybrid with a long spin).
    LowestLatency,
    /// Low latency without burning a core for long: hybrid, spinning about
    /// twice a blocking wake's cost before sleeping.
    #[default]
    Balanced,
    /// Mostly idle connections: sleep at once (futex), smaller rings.
    IdleFriendly,
    /// The receiving side waits in an event loop (epoll, mio, tokio): eventfd.
    Pollable,
}

impl Intent {
    /// Every intent, in a stable order.
    pub const ALL: [Intent; 4] = [
        Intent::LowestLatency,
        Intent::Balanced,
        Intent::IdleFriendly,
        Intent::Pollable,
    ];

    /// Lower-case name, as accepted by [`str::parse`].
    pub fn name(self) -> &'static str {
        match self {
            Intent::LowestLatency => "lowest-latency",
            Intent::Balanced => "balanced",
            Intent::IdleFriendly => "idle-friendly",
            Intent::Pollable => "pollable",
        }
    }
}

impl std::fmt::Display for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown intent name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown intent {0:?}: expected one of lowest-latency, balanced, idle-friendly, pollable")]
pub struct ParseIntentError(String);

impl std::str::FromStr for Intent {
    type Err = ParseIntentError;

    /// Parses an intent's [`name`](Intent::name), ignoring ASCII case.
    ///
    /// ```
    /// use mempipe::conn::Intent;
    /// assert_eq!("idle-friendly".parse(), Ok(Intent::IdleFriendly));
    /// assert!("fast".parse::<Intent>().unwrap_err().to_string().contains("lowest-latency"));
    /// ```
    ///
    /// # Errors
    /// [`ParseIntentError`] for any other string; its message lists the names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseIntentError(s.to_owned()))
    }
}

/// Where the machine profile comes from.
#[derive(Debug, Clone)]
enum ProfileSource {
    /// [`MachineProfile::default_path`], when the file exists.
    Default,
    /// None: the documented defaults.
    Disabled,
    /// This one.
    Given(MachineProfile),
}

/// Configuration of a listener or a connecting side.
///
/// Defaults: [`Intent::Balanced`], messages up to 64 KiB, a 5 s connect and
/// handshake timeout, peer liveness checked every 50 ms while blocked, the
/// per-user rendezvous directory, only this user may connect, the machine
/// profile from its default location when present. A listener's own limits:
/// 64 handshakes in flight, 8 of them per user (local) or address (TCP), one
/// spinning connection per two CPUs, a client's spin budget at most 1 ms, the
/// descriptor limit raised at bind.
///
/// ```
/// use mempipe::conn::Intent;
/// use mempipe::ConnConfig;
/// use std::time::Duration;
/// let config = ConnConfig::new()
///     .intent(Intent::LowestLatency)
///     .max_message(1 << 20)
///     .connect_timeout(Duration::from_secs(10));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ConnConfig {
    pub(crate) intent: Intent,
    pub(crate) wakeup: Option<WakeupKind>,
    pub(crate) spin_budget: Option<Duration>,
    pub(crate) ring_capacity: Option<usize>,
    pub(crate) max_message: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) liveness_interval: Duration,
    pub(crate) allowed_uids: Vec<u32>,
    pub(crate) allowed_gid: Option<u32>,
    pub(crate) allow_any_user: bool,
    pub(crate) rendezvous_dir: Option<PathBuf>,
    pub(crate) tcp: Option<String>,
    pub(crate) plaintext_off_host: bool,
    pub(crate) max_handshakes: usize,
    pub(crate) max_handshakes_per_peer: usize,
    pub(crate) max_spinning: Option<usize>,
    pub(crate) max_spin_budget: Duration,
    pub(crate) raise_fd_limit: bool,
    pub(crate) names: Names,
    /// The cluster CA and this node's certificate, when given in code.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<super::tls::TlsConfig>,
    /// Listener: the address to accept TLS clients on.
    #[cfg(feature = "tls")]
    pub(crate) tls_tcp: Option<String>,
    /// Listener: whether `MEMPIPE_TLS_LISTEN` applies when `tls_tcp` is not
    /// given (not for a move's one-off listener).
    #[cfg(feature = "tls")]
    pub(crate) tls_listen_env: bool,
    profile: ProfileSource,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            intent: Intent::Balanced,
            wakeup: None,
            spin_budget: None,
            ring_capacity: None,
            max_message: 64 << 10,
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            liveness_interval: Duration::from_millis(50),
            allowed_uids: Vec::new(),
            allowed_gid: None,
            allow_any_user: false,
            rendezvous_dir: None,
            tcp: None,
            plaintext_off_host: false,
            max_handshakes: 64,
            max_handshakes_per_peer: 8,
            max_spinning: None,
            max_spin_budget: Duration::from_millis(1),
            raise_fd_limit: true,
            names: Names::FromEnvironment,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            tls_tcp: None,
            #[cfg(feature = "tls")]
            tls_listen_env: true,
            profile: ProfileSource::Default,
        }
    }
}

impl ConnConfig {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// What matters to this side; on a connecting side it decides the
    /// connection's wakeup and ring size.
    pub fn intent(mut self, intent: Intent) -> Self {
        self.intent = intent;
        self
    }

    /// Forces a wakeup strategy instead of deriving it from the intent. On a
    /// listener it overrides what connecting sides ask for.
    pub fn wakeup(mut self, kind: WakeupKind) -> Self {
        self.wakeup = Some(kind);
        self
    }

    /// Forces the hybrid spin budget instead of deriving it from the profile.
    pub fn spin_budget(mut self, budget: Duration) -> Self {
        self.spin_budget = Some(budget);
        self
    }

    /// Forces the ring capacity (each direction; rounded up to a power of two
    /// and to what `max_message` needs).
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = Some(bytes);
        self
    }

    /// Largest message either side may send (the smaller of the two sides'
    /// values applies), on every transport.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// How long [`connect`](crate::connect) may take in all: waiting for the
    /// listener to appear or to take the connection, connecting, and the
    /// handshake. It returns by then whatever the listener does.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a handshake may take, as a whole (a peer that spreads its
    /// bytes does not stretch it): on a listener, from a client's accept; on a
    /// connecting side, within the connect timeout.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How often a blocked call checks that the peer process is alive: the
    /// bound on how long a dead peer goes unnoticed. The listener's value applies.
    pub fn liveness_interval(mut self, interval: Duration) -> Self {
        self.liveness_interval = interval;
        self
    }

    /// Listener: also admits clients running as `uid` (checked with the
    /// kernel's peer credentials). Other users must reach the socket too: see
    /// [`rendezvous_dir`](Self::rendezvous_dir).
    pub fn allow_uid(mut self, uid: u32) -> Self {
        self.allowed_uids.push(uid);
        self
    }

    /// Listener: also admits clients whose primary group is `gid`.
    pub fn allow_gid(mut self, gid: u32) -> Self {
        self.allowed_gid = Some(gid);
        self
    }

    /// Listener: admits clients of any user.
    pub fn allow_any_user(mut self) -> Self {
        self.allow_any_user = true;
        self
    }

    /// The directory holding the rendezvous sockets, instead of the per-user
    /// one. Both sides must name the same directory, which must exist. A listener that admits
    /// other users needs one they can search (for example `/run/myservice`,
    /// mode 0755); its socket is then made connectable by everyone and the
    /// peer-credential check decides who stays.
    pub fn rendezvous_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rendezvous_dir = Some(dir.into());
        self
    }

    /// Listener: also accepts **plaintext** TCP connections on `addr`
    /// (`host:port`, port 0 for any free port).
    ///
    /// Plaintext TCP has no authentication and no encryption: whoever reaches
    /// the address may connect (the user checks of
    /// [`allow_uid`](Self::allow_uid) and the like apply to the rendezvous
    /// socket only), and on a loopback address that is **every local user**.
    /// An address other hosts can reach (anything but `127.0.0.0/8` and
    /// `::1`, including `0.0.0.0`) is refused at bind unless
    /// [`allow_plaintext_off_host`](Self::allow_plaintext_off_host) is given too.
    ///
    /// ```
    /// use mempipe::ConnConfig;
    /// let local = ConnConfig::new().plaintext_tcp("127.0.0.1:7000");
    /// let open = ConnConfig::new().plaintext_tcp("0.0.0.0:7000").allow_plaintext_off_host();
    /// # let _ = (local, open);
    /// ```
    pub fn plaintext_tcp(mut self, addr: impl Into<String>) -> Self {
        self.tcp = Some(addr.into());
        self
    }

    /// Allows plaintext TCP to and from other hosts: a listener's
    /// [`plaintext_tcp`](Self::plaintext_tcp) address, and a client's TCP
    /// address, may then be one that is not loopback. Anyone on the network
    /// path can then read, change or inject messages; use it only on a
    /// network you trust.
    pub fn allow_plaintext_off_host(mut self) -> Self {
        self.plaintext_off_host = true;
        self
    }

    /// Listener: how many handshakes may be in flight at once on each of its
    /// sockets, the rendezvous socket and TCP (default 64), so that TCP
    /// clients never hold back local ones. Each runs concurrently with the
    /// others, bounded as a whole by the
    /// [handshake timeout](Self::handshake_timeout); further clients wait in
    /// the kernel's backlog.
    pub fn max_handshakes(mut self, n: usize) -> Self {
        self.max_handshakes = n.max(1);
        self
    }

    /// Listener: how many of those may come from one other user (local
    /// clients, by peer credentials) or one IP address (TCP: an IPv4 address
    /// or an IPv6 /64) (default 8). A client beyond it is turned away at once
    /// with
    /// [`ConnectError::Busy`](crate::conn::ConnectError::Busy). The listener's own
    /// user is bound by [`max_handshakes`](Self::max_handshakes) only (its
    /// processes can do worse to the listener than hold handshakes).
    pub fn max_handshakes_per_peer(mut self, n: usize) -> Self {
        self.max_handshakes_per_peer = n.max(1);
        self
    }

    /// Listener: how many connections may use the spin wakeup at once, each
    /// of which keeps a core busy while it waits (default: one per two CPUs,
    /// none on one CPU; 0 allows none). A client asking for spin beyond it
    /// gets hybrid, and its [`Transport`](crate::conn::Transport) says so.
    pub fn max_spinning_connections(mut self, n: usize) -> Self {
        self.max_spinning = Some(n);
        self
    }

    /// Listener: the longest hybrid spin budget a client may ask for
    /// (default 1 ms); a longer one is cut to it.
    pub fn max_spin_budget(mut self, budget: Duration) -> Self {
        self.max_spin_budget = budget;
        self
    }

    /// Listener: whether [`Listener::bind`](crate::Listener::bind) raises this
    /// process's soft descriptor limit (`RLIMIT_NOFILE`) to its hard limit
    /// (default yes). A shared-memory connection holds 5 descriptors on the
    /// listener's side (each ring's wake socket pair, the client's pidfd), a
    /// TCP one 1; the common soft limit of 1024 would otherwise cap a server
    /// near 200 clients. Turn it off for a process that
    /// still uses `select(2)`, which cannot see descriptors above 1023.
    pub fn raise_fd_limit(mut self, raise: bool) -> Self {
        self.raise_fd_limit = raise;
        self
    }

    /// The spinning connections a listener allows.
    pub(crate) fn spinning_allowed(&self) -> usize {
        self.max_spinning
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(0, |n| n.get() / 2))
    }

    /// Uses `profile` instead of the one in the per-user location.
    pub fn machine_profile(mut self, profile: MachineProfile) -> Self {
        self.profile = ProfileSource::Given(profile);
        self
    }

    /// Ignores any machine profile: the documented defaults apply.
    pub fn without_machine_profile(mut self) -> Self {
        self.profile = ProfileSource::Disabled;
        self
    }

    /// Resolves the intent (and overrides, and the profile) into a choice.
    pub(crate) fn choose(&self) -> Choice {
        let (profile, source) = match &self.profile {
            ProfileSource::Disabled => (MachineProfile::default(), "defaults".to_owned()),
            ProfileSource::Given(p) => (p.clone(), profile_label(p, "given profile")),
            ProfileSource::Default => match MachineProfile::default_path() {
                Some(path) if path.exists() => match MachineProfile::load(&path) {
                    Ok(p) => {
                        let label = profile_label(&p, &format!("profile {}", path.display()));
                        (p, label)
                    }
                    Err(e) => (
                        MachineProfile::default(),
                        format!("defaults (profile {} unusable: {e})", path.display()),
                    ),
                },
                _ => (
                    MachineProfile::default(),
                    "defaults, no machine profile".into(),
                ),
            },
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let spin_viable = profile.spin_viable.unwrap_or(cores >= 2);
        let budget = self.spin_budget.unwrap_or_else(|| {
            profile.wake_cost.map_or(DEFAULT_SPIN, |c| {
                (c * 2).clamp(Duration::from_micros(2), Duration::from_micros(200))
            })
        });
        let (mut wakeup, mut spin) = match self.intent {
            Intent::LowestLatency if spin_viable => (WakeupKind::Spin, Duration::ZERO),
            Intent::LowestLatency => (WakeupKind::Hybrid, budget * 4),
            Intent::Balanced => (WakeupKind::Hybrid, budget),
            Intent::IdleFriendly => (WakeupKind::Futex, Duration::ZERO),
            Intent::Pollable => (WakeupKind::EventFd, Duration::ZERO),
        };
        if let Some(forced) = self.wakeup {
            wakeup = forced;
            spin = budget;
        }
        let base_ring = match self.intent {
            Intent::IdleFriendly => 256 << 10,
            _ => profile.stream_peak_ring.unwrap_or(1 << 20),
        };
        let capacity = self
            .ring_capacity
            .unwrap_or(base_ring)
            .max(ring_for(self.max_message))
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX);
        let why = format!(
            "intent {}{}; {source}",
            self.intent.name(),
            if self.wakeup.is_some() {
                ", wakeup forced"
            } else {
                ""
            }
        );
        Choice {
            wakeup,
            spin_budget: spin,
            capacity,
            max_message: self.max_message,
            why,
        }
    }
}

/// Hybrid spin budget without a measured wake cost.
const DEFAULT_SPIN: Duration = Duration::from_micros(20);

fn profile_label(p: &MachineProfile, what: &str) -> String {
    match &p.measured {
        Some(m) => format!("{what} ({m})"),
        None => what.to_owned(),
    }
}

/// Checks the geometry a configuration resolved to: the maximum message
/// first (the setting a user changes), then the ring it needs.
pub(crate) fn check_geometry(choice: &Choice) -> Result<(), ConnConfigError> {
    let max_ring = super::wire::MAX_RING;
    let max = max_ring / 2 - 8;
    if choice.max_message == 0 || choice.max_message as u64 > max {
        return Err(ConnConfigError::MaxMessage {
            value: choice.max_message as u64,
            max,
        });
    }
    if choice.capacity as u64 > max_ring {
        return Err(ConnConfigError::RingCapacity {
            value: choice.capacity as u64,
            max: max_ring,
        });
    }
    Ok(())
}

/// The smallest ring that carries `max_message`.
pub(crate) fn ring_for(max_message: usize) -> usize {
    (max_message.saturating_add(8).saturating_mul(2)).max(64)
}

/// A resolved transport choice.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub wakeup: WakeupKind,
    pub spin_budget: Duration,
    pub capacity: usize,
    pub max_message: usize,
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_map_to_wakeups_and_profile_sets_the_budget() {
        let base = ConnConfig::new().without_machine_profile();
        assert_eq!(
            base.clone().intent(Intent::Pollable).choose().wakeup,
            WakeupKind::EventFd
        );
        assert_eq!(
            base.clone().intent(Intent::IdleFriendly).choose().wakeup,
            WakeupKind::Futex
        );
        let c = base.choose();
        assert_eq!(
            (c.wakeup, c.spin_budget, c.capacity),
            (WakeupKind::Hybrid, DEFAULT_SPIN, 1 << 20)
        );
        let profile = MachineProfile {
            wake_cost: Some(Duration::from_micros(7)),
            stream_peak_ring: Some(256 << 10),
            spin_viable: Some(false),
            measured: None,
        };
        let p = ConnConfig::new().machine_profile(profile);
        let c = p.clone().choose();
        assert_eq!(
            (c.spin_budget, c.capacity),
            (Duration::from_micros(14), 256 << 10)
        );
        assert_eq!(
            p.intent(Intent::LowestLatency).choose().wakeup,
            WakeupKind::Hybrid
        );
        let big = ConnConfig::new()
            .without_machine_profile()
            .max_message(1 << 20)
            .choose();
        assert!(big.capacity >= 2 * ((1 << 20) + 8));
    }

    #[test]
    fn every_intent_parses_from_its_name_and_others_list_the_names() {
        for intent in Intent::ALL {
            assert_eq!(intent.name().parse(), Ok(intent));
            assert_eq!(intent.to_string().to_uppercase().parse(), Ok(intent));
        }
        let e = "fastest".parse::<Intent>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown intent \"fastest\": expected one of lowest-latency, balanced, idle-friendly, pollable"
        );
    }
}

/// The environment variable that selects the etcd service: its endpoints,
/// comma-separated (`http://10.0.0.1:2379,http://10.0.0.2:2379`).
pub const ETCD_ENV: &str = "MEMPIPE_ETCD";

/// Which name service a program uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Names {
    /// The `MEMPIPE_ETCD` environment variable when set, else [`Names::Local`].
    #[default]
    FromEnvironment,
    /// This host's rendezvous directory.
    Local,
    /// An etcd cluster at these endpoints (needs the `etcd` feature).
    Etcd(Vec<String>),
}

impl Names {
    /// The choice after consulting the environment.
    pub(crate) fn resolved(&self) -> Names {
        match self {
            Names::FromEnvironment => match std::env::var(ETCD_ENV) {
                Ok(v) if !v.trim().is_empty() => Names::Etcd(
                    v.split(',')
                        .map(|e| e.trim().to_owned())
                        .filter(|e| !e.is_empty())
                        .collect(),
                ),
                _ => Names::Local,
            },
            other => other.clone(),
        }
    }
}

impl ConnConfig {
    /// Which name service listeners register with and clients resolve
    /// through (default: [`Names::FromEnvironment`]).
    pub fn names(mut self, names: Names) -> Self {
        self.names = names;
        self
    }
}

#[cfg(feature = "tls")]
impl ConnConfig {
    /// Mutual TLS with this cluster CA and node certificate (feature `tls`):
    /// what a listener's [`tls_tcp`](Self::tls_tcp) address shows its
    /// clients, and what [`connect`](crate::connect) uses to reach a listener
    /// on another host by name. Without it, the files named by
    /// `MEMPIPE_TLS_CA`, `MEMPIPE_TLS_CERT` and `MEMPIPE_TLS_KEY` are used
    /// when set ([`TlsConfig::from_environment`](super::tls::TlsConfig::from_environment)).
    pub fn tls(mut self, tls: super::tls::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Listener: also accepts TCP clients on `addr` (`host:port`, port 0
    /// for any free port) **with mutual TLS** (feature `tls`): every client
    /// must show a certificate from the cluster CA, and learns this
    /// listener's; the mempipe handshake then runs inside the session, and
    /// [`Transport::peer_identity`](crate::conn::Transport::peer_identity)
    /// says who the peer is. Any address may be used, other hosts' reach
    /// included; `MEMPIPE_TLS_LISTEN` gives one when this is not called. A
    /// listener has one TCP address: this or
    /// [`plaintext_tcp`](Self::plaintext_tcp), not both.
    ///
    /// ```no_run
    /// use mempipe::conn::tls::TlsConfig;
    /// use mempipe::ConnConfig;
    /// let tls = TlsConfig::from_files("certs/ca.pem", "certs/node-a.pem", "certs/node-a.key")?;
    /// let config = ConnConfig::new().tls(tls).tls_tcp("10.0.0.1:7000");
    /// # let _ = config;
    /// # Ok::<(), mempipe::conn::tls::TlsError>(())
    /// ```
    pub fn tls_tcp(mut self, addr: impl Into<String>) -> Self {
        self.tls_tcp = Some(addr.into());
        self
    }

    /// The TLS configuration in effect: the one given, else the environment's.
    pub(crate) fn tls_config(&self) -> Result<Option<super::tls::TlsConfig>, super::tls::TlsError> {
        match &self.tls {
            Some(tls) => Ok(Some(tls.clone())),
            None => super::tls::TlsConfig::from_environment(),
        }
    }

    /// The listener's TLS address: the one given, else the environment's.
    pub(crate) fn tls_listen(&self) -> Option<String> {
        self.tls_tcp.clone().or_else(|| {
            if !self.tls_listen_env {
                return None;
            }
            std::env::var(super::tls::TLS_LISTEN_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
    }
}
