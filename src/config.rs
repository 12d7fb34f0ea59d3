//! Creation-time configuration.

use crate::error::CreateError;
use crate::layout;
pub use crate::layout::{ParseWakeupError, WakeupKind};
use std::time::Duration;

/// Configuration of a new region.
///
/// ```
/// use mempipe::{Config, WakeupKind};
/// let config = Config::new()
///     .capacity(1 << 20)
///     .max_message(64 << 10)
///     .wakeup(WakeupKind::Hybrid);
/// let region = mempipe::Region::create_anonymous(&config)?;
/// assert_eq!(region.capacity(), 1 << 20);
/// # Ok::<(), mempipe::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) capacity: usize,
    pub(crate) max_message: Option<usize>,
    pub(crate) wakeup: WakeupKind,
    pub(crate) spin_budget: Duration,
    pub(crate) liveness_interval: Duration,
    pub(crate) unlink_on_drop: bool,
    pub(crate) replace_existing: bool,
    pub(crate) numa_node: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: 1 << 20,
            max_message: None,
            wakeup: WakeupKind::Hybrid,
            spin_budget: Duration::from_micros(20),
            liveness_interval: Duration::from_millis(50),
            unlink_on_drop: true,
            replace_existing: false,
            numa_node: None,
        }
    }
}

impl Config {
    /// Defaults: 1 MiB ring, messages up to a quarter of it, hybrid wakeup with a
    /// 20 µs spin budget, peer liveness checked at most every 50 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ring data capacity in bytes: a power of two from 64 B to 4 GiB.
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Largest message in bytes; at most `capacity / 2 - 8` so any message fits
    /// after a wrap. Defaults to `capacity / 4`.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = Some(bytes);
        self
    }

    /// How the receiver (and a producer on a full ring) waits.
    pub fn wakeup(mut self, kind: WakeupKind) -> Self {
        self.wakeup = kind;
        self
    }

    /// How long the hybrid strategy spins before it sleeps.
    pub fn spin_budget(mut self, budget: Duration) -> Self {
        self.spin_budget = budget;
        self
    }

    /// How often an endpoint checks that the peer process is still alive: about
    /// the longest a dead peer goes unnoticed, by a blocking call, a loop of
    /// timed calls (whatever their timeout) or a loop of `try_*` calls that find
    /// the ring empty or full. A successful call never checks.
    pub fn liveness_interval(mut self, interval: Duration) -> Self {
        self.liveness_interval = interval;
        self
    }

    /// Whether a named region is unlinked when the creating side drops it (default true).
    pub fn unlink_on_drop(mut self, unlink: bool) -> Self {
        self.unlink_on_drop = unlink;
        self
    }

    /// Whether creating a named region replaces an existing object of that name
    /// (default false: an existing object is an error).
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }

    /// The NUMA node the ring's pages are placed on, set when the region is
    /// created. Without it, the consumer's node when it attaches
    /// ([`Region::consumer`](crate::Region::consumer)): pages not touched by
    /// then go where the reader is. The placement is preferred, not strict:
    /// a full node falls back to another. A named region reserves its memory
    /// when it is created, so only this setting places it; for a region at a
    /// path, only on a tmpfs (a file on disk keeps a policy per mapping).
    ///
    /// A node the kernel does not have, or a kernel without NUMA support,
    /// makes creation fail with [`CreateError::Os`](crate::CreateError::Os)
    /// (`mbind`; `set_mempolicy` for a named region).
    pub fn numa_node(mut self, node: u32) -> Self {
        self.numa_node = Some(node);
        self
    }

    /// The maximum message size in effect: the one set, or a quarter of the capacity.
    pub(crate) fn effective_max_message(&self) -> usize {
        self.max_message.unwrap_or(self.capacity / 4)
    }

    pub(crate) fn validate(&self) -> Result<layout::Geometry, CreateError> {
        layout::Geometry::new(self.capacity as u64, self.effective_max_message() as u64)
            .map_err(CreateError::from)
    }
}
