//! Connections by name: a message stream each way between two processes,
//! over shared memory when both run on this host and over TCP otherwise.
//!
//! A server [`Listener::bind`]s a name and [`accept`](Listener::accept)s
//! clients; a client [`connect`]s to the name (or a TCP address) and waits
//! for the server to appear. On one host the listener creates two rings in
//! anonymous sealed memory per client and passes them over a UNIX socket, so
//! no name is left in `/dev/shm` by any crash and every wakeup (eventfd too)
//! works. Who may connect is checked with the kernel's peer credentials: by
//! default only the listener's own user.
//!
//! The program declares what it needs ([`Intent`]); the library picks the
//! wakeup, spin budget and ring size from it, using this machine's measured
//! [`MachineProfile`] when there is one. [`Connection::transport`] says what
//! was chosen and why.

mod address;
pub(crate) mod byte_stream;
mod client;
mod config;
pub(crate) mod connection;
mod error;
pub(crate) mod grant;
mod io;
mod listener;
mod profile;
mod rendezvous;
pub(crate) mod tcp;
mod transport;
pub(crate) mod wire;

pub use address::{Address, IntoAddress};
pub use client::connect;
pub use config::{ConnConfig, Intent};
pub use connection::{Connection, RecvHalf, SendHalf};
pub use error::{
    AcceptError, AddressError, BindError, ConnectError, HandshakeError, ADDRESS_FORMS,
};
pub use grant::SendGrant;
pub use listener::Listener;
pub use profile::{MachineProfile, ProfileError};
pub use transport::{Transport, TransportKind};
