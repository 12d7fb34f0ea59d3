//! Connections by name: a message stream each way between two processes,
//! over shared memory when both run on this host and over TCP otherwise.
//!
//! A server [`Listener::bind`](crate::Listener::bind)s a name and
//! [`accept`](crate::Listener::accept)s clients; a client
//! [`connect`](crate::connect)s to the name (or a TCP address) and waits
//! for the server to appear. On one host the listener creates two rings in
//! anonymous sealed memory per client and passes them over a UNIX socket, so
//! no name is left in `/dev/shm` by any crash and every wakeup (eventfd too)
//! works. Who may connect by name is checked with the kernel's peer
//! credentials: by default only the listener's own user. Plaintext TCP
//! ([`ConnConfig::plaintext_tcp`](crate::ConnConfig::plaintext_tcp)) has no credentials: whoever reaches the
//! address connects, every local user on loopback.
//!
//! The program declares what it needs ([`Intent`]); the library picks the
//! wakeup, spin budget and ring size from it, using this machine's measured
//! [`MachineProfile`] when there is one.
//! [`Connection::transport`](crate::Connection::transport) says what was
//! chosen and why.

mod address;
pub(crate) mod byte_stream;
pub(crate) mod byte_view;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod connection;
mod error;
pub mod flows;
pub(crate) mod grant;
mod host;
pub(crate) mod io;
pub(crate) mod listener;
pub mod names;
mod profile;
pub(crate) mod rendezvous;
pub(crate) mod stream;
pub(crate) mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
pub(crate) mod wire;

// `connect`, `ConnConfig`, `Connection` and `Listener`, what every connection
// user names, have one public path: the crate root's.
pub use address::{Address, IntoAddress};
/// A move's joining side connects as a client does (as `crate::connect`).
#[cfg(feature = "tls")]
pub(crate) use client::connect_tls_to;
pub use config::{Intent, ParseIntentError};
pub use connection::MigrateError;
pub use connection::{RecvHalf, SendHalf};
pub use error::{
    AcceptError, AddressError, BindError, ConnConfigError, ConnectError, DirectoryError,
    HandshakeError,
};
pub use grant::SendGrant;
pub use profile::{MachineProfile, ProfileError};
pub use transport::{Transport, TransportKind};
