//! Errors of binding, connecting and accepting. Sending and receiving on a
//! connection use [`SendError`](crate::SendError) and
//! [`RecvError`](crate::RecvError) on every transport, worded for rings and
//! connections alike.

use crate::error::{AttachError, CreateError, NameError, OpenError, OsError};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The accepted address forms, quoted by every address error.
const ADDRESS_FORMS: &str = "NAME or xio://NAME (pick the transport), shm://NAME (shared memory), \
     tcp://HOST:PORT or xio://HOST:PORT or HOST:PORT (plaintext TCP); \
     a NAME is 1-64 of A-Z a-z 0-9 . _ - in '/'-separated segments (app/db/primary), none starting with '.'";

/// An address that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad address {address:?}: {why}; accepted forms: {ADDRESS_FORMS}")]
pub struct AddressError {
    /// The address given.
    pub address: String,
    /// What is wrong with it.
    pub why: String,
}

/// The handshake with a peer failed: the peer is not a (compatible) mempipe
/// peer, or it broke the protocol. Nothing from it was used.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer's first bytes are not a mempipe hello.
    #[error("the peer is not a mempipe connection (bad magic bytes)")]
    BadMagic,
    /// The peer speaks another handshake version.
    #[error("handshake version {theirs} vs {ours} here: upgrade the older side")]
    VersionMismatch {
        /// The peer's version.
        theirs: u16,
        /// This library's version.
        ours: u16,
    },
    /// A field holds an impossible value.
    #[error("bad handshake field {field}: {value} ({why})")]
    BadField {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The peer sent fewer bytes than a hello holds, then closed.
    #[error("truncated handshake: {got} of {expected} bytes, then the peer closed")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The peer sent descriptors where none belong (they were closed unused).
    #[error("the peer sent {count} unexpected file descriptor(s); closed unused")]
    UnexpectedDescriptors {
        /// How many arrived.
        count: usize,
    },
    /// The peer did not complete the handshake in time.
    #[error("the peer did not complete the mempipe handshake within {0:?}")]
    Timeout(Duration),
    /// The rings the listener sent are unusable.
    #[error("the rings received from the listener are unusable: {0}")]
    Region(OpenError),
    /// A ring's end could not be claimed.
    #[error("could not claim a ring's end: {0}")]
    Attach(AttachError),
    /// The listener's rings differ from what its hello announced.
    #[error("the listener's handshake does not match what it sent: {0}")]
    Mismatch(String),
    /// The listener answered that the hello was unacceptable.
    #[error("the listener rejected this side's handshake (incompatible or invalid hello)")]
    Rejected,
    /// Reading or writing the socket failed.
    #[error("handshake I/O failed: {0}")]
    Io(io::Error),
}

// Conversions without `#[from]`: the inner error is part of the message, so
// it is not also reported as a source (error chains would print it twice).
impl From<OpenError> for HandshakeError {
    fn from(e: OpenError) -> Self {
        HandshakeError::Region(e)
    }
}

impl From<AttachError> for HandshakeError {
    fn from(e: AttachError) -> Self {
        HandshakeError::Attach(e)
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e)
    }
}

impl From<OsError> for HandshakeError {
    fn from(e: OsError) -> Self {
        // Keeps the failed call's name in the message ("sendmsg failed: ...").
        HandshakeError::Io(io::Error::new(e.source.kind(), e))
    }
}

/// A [`ConnConfig`](crate::ConnConfig) that no connection can have, refused
/// by [`Listener::bind`](crate::Listener::bind) and [`connect`](crate::connect)
/// before anything is created or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnConfigError {
    /// The maximum message is zero or larger than a connection carries.
    #[error("ConnConfig::max_message({value}) is out of range: a connection's messages are 1 to {max} bytes")]
    MaxMessage {
        /// The value given.
        value: u64,
        /// The largest maximum message a connection allows.
        max: u64,
    },
    /// The ring capacity is larger than a connection's ring may be.
    #[error("ConnConfig::ring_capacity({value}) is out of range: a connection's rings hold at most {max} bytes each")]
    RingCapacity {
        /// The capacity asked for (after rounding up to a power of two).
        value: u64,
        /// The largest ring capacity.
        max: u64,
    },
}

/// The rendezvous directory is missing, unsafe, or cannot be created or used.
#[derive(Debug, thiserror::Error)]
#[error("rendezvous directory {}: {why}; ConnConfig::rendezvous_dir names another", path.display())]
pub struct DirectoryError {
    /// The directory.
    pub path: PathBuf,
    /// What is wrong with it.
    pub why: String,
}

/// [`Listener::bind`](crate::Listener::bind) failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The name is not usable as a connection name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The configuration is not usable (for example a zero maximum message).
    #[error(transparent)]
    Config(#[from] ConnConfigError),
    /// A live listener holds the name.
    #[error("connection name {name:?} is in use by a running listener{}; stop it or pick another name", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse {
        /// The name.
        name: String,
        /// The listener's pid, as its lock file says.
        pid: Option<u32>,
    },
    /// The rendezvous directory is missing, unsafe, or cannot be created.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The plaintext TCP address is one other hosts can reach, and
    /// [`ConnConfig::allow_plaintext_off_host`](crate::ConnConfig::allow_plaintext_off_host)
    /// was not given.
    #[error("refusing plaintext TCP on {addr} ({ip}): other hosts can reach it, and plaintext TCP has neither authentication nor encryption; bind a loopback address (127.0.0.1 or ::1), or opt in with ConnConfig::allow_plaintext_off_host on a network you trust")]
    PlaintextOffHost {
        /// The address given.
        addr: String,
        /// The address it resolved to that is not loopback.
        ip: std::net::IpAddr,
    },
    /// The configured name service refused or could not register the name.
    #[error(transparent)]
    Names(#[from] NameServiceError),
    /// The TLS address cannot be served: no TLS configuration, an unusable
    /// one, or a plaintext TCP address given too.
    #[error("cannot serve TLS on {addr}: {why}")]
    Tls {
        /// The TLS address given.
        addr: String,
        /// What is missing or wrong, and what to do.
        why: String,
    },
    /// Listening on the TCP address failed.
    #[error("cannot listen on TCP address {addr}: {source}")]
    Tcp {
        /// The address given.
        addr: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// An operating-system call failed.
    #[error(transparent)]
    Os(#[from] OsError),
}

/// [`connect`](crate::connect) failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is malformed.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// No listener appeared under the name within the connect timeout.
    #[error("no listener named {name:?} at {} within {waited:?}; is the server running (as this user, with the same rendezvous directory)?", path.display())]
    NotFound {
        /// The name.
        name: String,
        /// The socket path tried.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
    /// A listener has the name, but took no connection within the connect
    /// timeout: its queue of pending connections stayed full.
    #[error("the listener named {name:?} at {} took no connection within {waited:?}: its queue of pending connections is full (it is overloaded or has stopped accepting); retry later, or give connect a longer timeout", path.display())]
    ListenerBusy {
        /// The name.
        name: String,
        /// The socket path.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
    /// The TCP address could not be reached within the connect timeout.
    #[error("cannot reach TCP address {addr}: {source}")]
    Unreachable {
        /// The address.
        addr: String,
        /// The last error.
        #[source]
        source: io::Error,
    },
    /// The TCP address is not a loopback address, and
    /// [`ConnConfig::allow_plaintext_off_host`](crate::ConnConfig::allow_plaintext_off_host)
    /// was not given.
    #[error("refusing plaintext TCP to {addr} ({ip}): not a loopback address, and plaintext TCP has neither authentication nor encryption; opt in with ConnConfig::allow_plaintext_off_host on a network you trust")]
    PlaintextOffHost {
        /// The address given.
        addr: String,
        /// The address it resolved to that is not loopback.
        ip: std::net::IpAddr,
    },
    /// The listener refused this user.
    #[error("the listener (pid {listener_pid}) refused uid {uid}: only its own user, or the users and group it allows, may connect")]
    Refused {
        /// The listener's pid.
        listener_pid: u32,
        /// This side's uid, as the listener saw it.
        uid: u32,
    },
    /// The listener turned this client away: too many handshakes from this
    /// user (or address) were in flight.
    #[error("the listener (pid {listener_pid}) turned this client away: too many handshakes from this user or address are in flight there; retry later")]
    Busy {
        /// The listener's pid.
        listener_pid: u32,
    },
    /// The listener is out of resources (file descriptors or memory) and
    /// could not take this connection.
    #[error("the listener (pid {listener_pid}) is out of resources (file descriptors or memory) and turned this client away; retry later, or raise the listener's limits (ulimit -n)")]
    ListenerOutOfResources {
        /// The listener's pid.
        listener_pid: u32,
    },
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The name service could not resolve the name: not registered within
    /// the connect timeout, or the service unreachable (naming its endpoints).
    #[error(transparent)]
    Names(#[from] NameServiceError),
    /// The listener runs on another host, and this side can reach it only
    /// with TLS, which is not configured (or it registered no TCP address,
    /// or shared memory was required).
    #[error("the listener named {name:?} runs on another host ({host}, TCP {}): {why}", if .addrs.is_empty() { "none".to_owned() } else { .addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ") })]
    OtherHost {
        /// The name.
        name: String,
        /// The listener's host.
        host: super::host::HostId,
        /// The TCP addresses it registered.
        addrs: Vec<std::net::SocketAddr>,
        /// What it takes to reach it.
        why: String,
    },
    /// The TLS session with the listener failed or was refused: by this side
    /// (the listener's certificate), or by the listener (this side's).
    #[cfg(feature = "tls")]
    #[error("TLS with {addr}: {source}")]
    Tls {
        /// The listener's address.
        addr: String,
        /// Why.
        #[source]
        source: super::tls::TlsError,
    },
    /// The requested configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConnConfigError),
    /// The rendezvous directory is unusable.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl ConnectError {
    /// No listener answered within the connect timeout (by name or on TCP):
    /// the server is not running yet, or not reachable; retrying may help.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ConnectError::NotFound { .. }
                | ConnectError::Unreachable { .. }
                | ConnectError::Names(
                    NameServiceError::NotFound { .. } | NameServiceError::Unreachable { .. }
                )
        )
    }
}

/// [`Listener::accept`](crate::Listener::accept) could not establish one
/// connection. The listener itself is unaffected: call `accept` again.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// No client is waiting ([`Listener::try_accept`](crate::Listener::try_accept)).
    #[error("no client is waiting to connect")]
    NoPending,
    /// No client connected within the timeout.
    #[error("no client connected in time")]
    Timeout,
    /// A client of a user that is not allowed was turned away (and told why).
    #[error("refused a client of uid {uid} (gid {gid}, pid {pid}): not this listener's user and not allowed by its configuration")]
    Refused {
        /// The client's uid.
        uid: u32,
        /// The client's gid.
        gid: u32,
        /// The client's pid.
        pid: u32,
    },
    /// A client broke the handshake; it was dropped.
    #[error("handshake with {peer} failed: {source}")]
    Handshake {
        /// Who: "pid N" or a socket address.
        peer: String,
        /// What went wrong.
        #[source]
        source: HandshakeError,
    },
    /// A client was turned away (and told so): its user, or its address on
    /// TCP, already had the most handshakes in flight that the listener allows
    /// ([`ConnConfig::max_handshakes_per_peer`](crate::ConnConfig::max_handshakes_per_peer)).
    #[error(
        "turned away {peer}: it already has {in_flight} handshakes in flight (the per-peer limit)"
    )]
    Busy {
        /// Who: "local pid N (uid U)" or a socket address.
        peer: String,
        /// Its handshakes in flight.
        in_flight: usize,
    },
    /// The listener ran out of resources (file descriptors, memory): a client
    /// was turned away with a typed reply, or accepting pauses for a while.
    #[error("out of resources: {what}; the listener keeps serving: raise its descriptor limit (ulimit -n) or serve fewer clients")]
    OutOfResources {
        /// What ran out, and what was done about it.
        what: String,
    },
    /// A TLS client was refused (its certificate, a plaintext client, a
    /// stall) or its session failed; it was dropped.
    #[cfg(feature = "tls")]
    #[error("TLS client {peer}: {source}")]
    Tls {
        /// Its socket address.
        peer: String,
        /// Why.
        #[source]
        source: super::tls::TlsError,
    },
    /// The rings for a client could not be created.
    #[error("creating a connection's rings failed: {0}")]
    Create(#[from] CreateError),
    /// An operating-system call failed.
    #[error(transparent)]
    Os(#[from] OsError),
}

impl AcceptError {
    /// No client came: none was waiting ([`Listener::try_accept`](crate::Listener::try_accept))
    /// or none connected in time ([`Listener::accept_timeout`](crate::Listener::accept_timeout)).
    pub fn is_timeout(&self) -> bool {
        matches!(self, AcceptError::NoPending | AcceptError::Timeout)
    }

    /// One client failed or was turned away (refused, busy, a broken or late
    /// handshake, no rings or descriptors for it): log it and accept again.
    /// A server loop that stops on any error lets one hostile client end it.
    ///
    /// # Examples
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use mempipe::{ConnConfig, Listener};
    /// let listener = Listener::bind("orders", &ConnConfig::default())?;
    /// loop {
    ///     let conn = match listener.accept() {
    ///         Ok(conn) => conn,
    ///         Err(e) if e.is_per_client() => {
    ///             eprintln!("{e}"); // the listener keeps serving
    ///             continue;
    ///         }
    ///         Err(e) => return Err(e.into()),
    ///     };
    ///     // serve `conn`
    /// #   drop(conn);
    /// }
    /// # }
    /// ```
    pub fn is_per_client(&self) -> bool {
        matches!(
            self,
            AcceptError::Refused { .. }
                | AcceptError::Handshake { .. }
                | AcceptError::Busy { .. }
                | AcceptError::OutOfResources { .. }
                | AcceptError::Create(_)
        ) || self.is_tls()
    }

    #[cfg(feature = "tls")]
    fn is_tls(&self) -> bool {
        matches!(self, AcceptError::Tls { .. })
    }

    #[cfg(not(feature = "tls"))]
    fn is_tls(&self) -> bool {
        false
    }
}

/// What can go wrong with a name.
#[derive(Debug, thiserror::Error)]
pub enum NameServiceError {
    /// The name is not of the accepted form.
    #[error("invalid name {name:?}: {why} (segments of letters, digits, '.', '_', '-', separated by '/')")]
    Invalid {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// Another live listener holds the name.
    #[error("the name {name:?} is taken by a live listener (pid {pid} on host {host}); stop it or pick another name")]
    Taken {
        /// The name.
        name: String,
        /// The holder's pid.
        pid: u32,
        /// The holder's host.
        host: super::host::HostId,
    },
    /// Nothing registered the name within the time given.
    #[error("no listener registered {name:?} within {waited:?} ({service}); is the server running and using the same name service?")]
    NotFound {
        /// The name.
        name: String,
        /// How long it waited.
        waited: Duration,
        /// Which service was asked.
        service: String,
    },
    /// The name service could not be reached within the time given.
    #[error("name service unreachable at {endpoints:?} within {waited:?}: {why}; check the endpoints (MEMPIPE_ETCD or ConnConfig::names) and that etcd runs")]
    Unreachable {
        /// The endpoints tried.
        endpoints: Vec<String>,
        /// How long it tried.
        waited: Duration,
        /// The last error.
        why: String,
    },
    /// A registration read from the service is malformed (written by
    /// something else, or damaged).
    #[error("the registration of {name:?} is malformed: {why}")]
    Malformed {
        /// The name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The etcd service was configured but this build lacks the `etcd` feature.
    #[error("the etcd name service was asked for ({endpoints}) but mempipe was built without its `etcd` feature")]
    NotBuilt {
        /// The endpoints configured.
        endpoints: String,
    },
    /// A file-system call of the local service failed.
    #[error("{op} failed: {source}")]
    Os {
        /// The call.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
