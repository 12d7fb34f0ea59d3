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
//!   ([`Consumer::try_read`]) are an explicit opt-in whose in-place slice is behind
//!   an `unsafe` contract: the producer is trusted not to touch published records.
//! * **Pluggable waiting** ([`WakeupKind`]): spin, futex, eventfd, or hybrid
//!   (spin, then futex; never spins on a shared CPU). A send to a receiver that is
//!   not asleep makes no system call.
//! * **Hardened**: every word read from shared memory is validated; a corrupt ring
//!   is an error ([`Corruption`]), never a panic or an out-of-bounds access; a
//!   blocked call notices a dead peer within [`Config::liveness_interval`].
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
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]
// Under loom only the ring, wakeup and endpoint code is built; some helpers of the
// real (mapped, timed) paths then have no caller.
#![cfg_attr(loom, allow(dead_code))]

mod config;
#[cfg(not(loom))]
pub mod conn;
mod endpoint;
mod error;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod fuzzing;
mod layout;
#[cfg(not(loom))]
mod region;
pub(crate) mod ring;
mod sync;
pub(crate) mod wakeup;

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod tests;

pub use config::{Config, ParseWakeupError, WakeupKind};
#[cfg(not(loom))]
pub use conn::{connect, ConnConfig, Connection, Listener};
pub use endpoint::{Consumer, Producer, ReadGrant, WriteGrant};
pub use error::{
    AttachError, Corruption, CreateError, GrantBoundsError, OpenError, RecvError, SendError, Side,
};
#[cfg(not(loom))]
pub use region::{Handoff, Region};

/// Creates a ring in an anonymous region and claims both ends, for two threads
/// of this process (or to hand one end's region to a child first, use
/// [`Region::create_anonymous`]).
#[cfg(not(loom))]
pub fn channel(config: &Config) -> Result<(Producer, Consumer), CreateError> {
    let region = Region::create_anonymous(config)?;
    let producer = region
        .producer()
        .map_err(|e| CreateError::InvalidConfig(e.to_string()))?;
    let consumer = region
        .consumer()
        .map_err(|e| CreateError::InvalidConfig(e.to_string()))?;
    Ok((producer, consumer))
}

/// A ring in private heap memory with both ends in this process: the same code
/// paths without a mapping, so Miri can run them.
#[cfg(not(loom))]
#[doc(hidden)]
pub fn heap_channel(config: &Config) -> Result<(Producer, Consumer), CreateError> {
    let geometry = config.validate()?;
    if config.wakeup == WakeupKind::EventFd {
        return Err(CreateError::InvalidConfig(
            "eventfd wakeups need a region's descriptors".into(),
        ));
    }
    let shared = std::sync::Arc::new(ring::Shared::heap(geometry));
    Ok(endpoint::in_process_pair(
        shared,
        config.wakeup,
        config.spin_budget,
    ))
}
