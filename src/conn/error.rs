//! Errors of binding, connecting and accepting. Sending and receiving on a
//! connection use the ring's [`SendError`](crate::SendError) and
//! [`RecvError`](crate::RecvError) on every transport.

use crate::error::{AttachError, CreateError, OpenError};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// The accepted address forms, quoted by every address error.
pub const ADDRESS_FORMS: &str =
    "NAME or xio://NAME (pick the transport), shm://NAME (shared memory), \
     tcp://HOST:PORT (TCP), xio://HOST:PORT (TCP, upgraded to shared memory on the same host); \
     a NAME is 1-64 of A-Z a-z 0-9 . _ - not starting with '.'";

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

impl From<crate::error::OsError> for HandshakeError {
    fn from(e: crate::error::OsError) -> Self {
        // Keeps the failed call's name in the message ("sendmsg failed: ...").
        HandshakeError::Io(io::Error::new(e.source.kind(), e))
    }
}

/// [`Listener::bind`](crate::Listener::bind) failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The name is not usable.
    #[error("invalid connection name {name:?}: {why}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it was refused.
        why: String,
    },
    /// The configuration is not usable (for example a zero maximum message).
    #[error("invalid listener configuration: {0}")]
    Config(String),
    /// A live listener holds the name.
    #[error("connection name {name:?} is in use by a running listener{}; stop it or pick another name", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse {
        /// The name.
        name: String,
        /// The listener's pid, as its lock file says.
        pid: Option<u32>,
    },
    /// The rendezvous directory is missing, unsafe, or cannot be created.
    #[error("rendezvous directory {}: {why}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The configured name service refused or could not register the name.
    #[error(transparent)]
    Names(#[from] super::names::NameError),
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
    #[error("{op} failed: {source}")]
    Os {
        /// The call that failed.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
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
    /// The TCP address could not be reached within the connect timeout.
    #[error("cannot reach TCP address {addr}: {source}")]
    Unreachable {
        /// The address.
        addr: String,
        /// The last error.
        #[source]
        source: io::Error,
    },
    /// The listener refused this user.
    #[error("the listener (pid {listener_pid}) refused uid {uid}: only its own user, or the users and group it allows, may connect")]
    Refused {
        /// The listener's pid.
        listener_pid: u32,
        /// This side's uid, as the listener saw it.
        uid: u32,
    },
    /// The handshake failed.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The requested configuration is not usable.
    #[error("invalid connection configuration: {0}")]
    Config(String),
    /// The rendezvous directory is unusable.
    #[error("rendezvous directory {}: {why}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
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
    /// The rings for a client could not be created.
    #[error("creating a connection's rings failed: {0}")]
    Create(#[from] CreateError),
    /// An operating-system call failed.
    #[error("{op} failed: {source}")]
    Os {
        /// The call that failed.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}
