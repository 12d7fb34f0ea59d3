//! # mempipe
//!
//! Most programs want [`conn`]: a [`Listener`] bound to a name and clients that
//! [`connect`] to it, with a message stream each way over shared memory on one
//! host (TCP otherwise), the transport chosen from what the program declares
//! and from this machine's measured profile. The ring below is what a
//! shared-memory connection carries, for those who wire it by hand.
//!
//! A single-producer single-consumer ring of variable-length messages in memory
//! shared between two processes, built to cross cores at the cost of one
//! cache-line transfer per small message.
//!
//! * **Zero-copy write**: [`Producer::try_reserve`] lends a slice of the ring,
//!   [`WriteGrant::commit`] publishes it (or fewer bytes of it).
//! * **Safe copy-out read**: [`Consumer::recv`] copies the message out before the
//!   caller sees it, so the peer cannot change it afterwards. Zero-copy reads
//!   ([`Consumer::try_recv_grant`]) are an explicit opt-in whose in-place slice is behind
//!   an `unsafe` contract: the producer is trusted not to touch published records.
//! * **Pluggable waiting** ([`WakeupKind`]): spin, futex, eventfd, or hybrid
//!   (spin, then futex; never spins on a shared CPU). A send to a receiver that is
//!   not asleep makes no system call.
//! * **Hardened**: every word read from shared memory is validated; a corrupt ring
//!   is an error ([`Corruption`]), never a panic or an out-of-bounds access; a
//!   dead peer is reported within about [`Config::liveness_interval`], to a
//!   blocking call, a loop of short timed calls or a `try_*` loop alike;
//!   descriptors shared with the peer cannot make a call block; memory received
//!   from a peer must be sealed against truncation; a full filesystem is an
//!   error at creation ([`CreateError::NoSpace`]), not SIGBUS later.
//! * **Async** (feature `tokio`): `mempipe::asyncio` awaits connections and
//!   rings in both directions, every future cancel safe; plain epoll loops use
//!   [`Consumer::notify_fd`] / [`Producer::notify_fd`] with their `arm_notify`.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mempipe::{Config, Region, WakeupKind};
//!
//! // One side creates the region (anonymous here; see Region::create_named),
//! let region = Region::create_anonymous(&Config::new().capacity(64 << 10).wakeup(WakeupKind::Futex))?;
//! // and each process claims one end (in a real program the other end is in
//! // another process: pass it with Region::handoff or Region::send_over).
//! let mut producer = region.producer()?;
//! let mut consumer = region.consumer()?;
//!
//! // Zero-copy write: fill a slice of shared memory, then publish it.
//! let mut grant = producer.try_reserve(5)?;
//! grant.write_at(0, b"hello")?;
//! grant.commit();
//! producer.send(b"world")?;
//!
//! // Safe copy-out read.
//! let mut buf = Vec::new();
//! consumer.recv(&mut buf)?;
//! assert_eq!(buf, b"hello");
//! consumer.recv(&mut buf)?;
//! assert_eq!(buf, b"world");
//! # Ok(()) }
//! ```
//!
//! ## Layout and guarantees
//! Capacity is a power of two; messages are 0..=`max_message` bytes
//! (`max_message <= capacity/2 - 8`); every message is contiguous in the mapping
//! (a padding record fills the end of the ring when a message does not fit
//! there) and its payload starts 8-byte aligned. Positions are free-running
//! 64-bit counters. The fast path takes no lock, makes no allocation and no
//! system call.
// The library documents every public item (a lint of the library alone; the other
// lints are the workspace's, in Cargo.toml).
#![warn(missing_docs)]
// Every fallible public call says which errors it returns.
#![warn(clippy::missing_errors_doc)]
// Under loom only the ring, wakeup and endpoint code is built; some helpers of the
// real (mapped, timed) paths then have no caller.
#![cfg_attr(loom, allow(dead_code))]

#[cfg(all(feature = "tokio", not(loom)))]
pub mod asyncio;
mod config;
#[cfg(not(loom))]
pub mod conn;
mod counters;
mod deadline;
mod endpoint;
mod error;
mod handover;
mod layout;
mod platform;
#[cfg(not(loom))]
mod region;
pub(crate) mod ring;
pub(crate) mod wakeup;

/// Tests, loom models and the fuzz targets' entry points (feature `fuzzing`,
/// not for users): no user build compiles them.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod testing;

pub use config::{Config, ParseWakeupError, WakeupKind};
#[cfg(not(loom))]
pub use conn::{client::connect, config::ConnConfig, connection::Connection, listener::Listener};
pub use endpoint::{Consumer, Producer, ReadGrant, WriteGrant};
pub use error::{
    AttachError, ConfigError, Corruption, CreateError, GrantBoundsError, MessageLimit, NameError,
    OpenError, OsError, RecvError, RemoveError, SendError, Side,
};
#[cfg(not(loom))]
pub use region::{Handoff, Region};

/// Creates a ring in an anonymous region and claims both ends, for two threads
/// of this process (or to hand one end's region to a child first, use
/// [`Region::create_anonymous`]).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(64 << 10))?;
/// let consumer = std::thread::spawn(move || -> Result<u64, mempipe::RecvError> {
///     let (mut buf, mut sum) = (Vec::new(), 0);
///     loop {
///         match rx.recv(&mut buf) {
///             Ok(_) => sum += u64::from(buf[0]),
///             Err(e) if e.is_disconnected() => return Ok(sum),
///             Err(e) => return Err(e),
///         }
///     }
/// });
/// for i in 1..=10u8 {
///     tx.send(&[i])?;
/// }
/// drop(tx); // the consumer reads what was sent, then sees Disconnected
/// assert_eq!(consumer.join().unwrap()?, 55);
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`CreateError::InvalidConfig`] for a capacity or maximum message the ring
/// cannot have; [`CreateError::Os`] if a system call creating the region
/// fails. (The ends of a fresh region are free, so [`CreateError::Attach`]
/// does not occur.)
#[cfg(not(loom))]
pub fn channel(config: &Config) -> Result<(Producer, Consumer), CreateError> {
    let region = Region::create_anonymous(config)?;
    Ok((region.producer()?, region.consumer()?))
}
