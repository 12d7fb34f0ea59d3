//! Error types. Each message says what happened and, where there is one, what to do.
//!
//! Sending and receiving use one [`SendError`] and one [`RecvError`] for a
//! ring and a connection alike, so their messages speak of "the peer" (a
//! ring's consumer or producer, a connection's other end) and "this end"; the
//! one message that names a setting, [`SendError::TooLarge`], carries which
//! setting applies ([`MessageLimit`]), fixed when the end was made: the fast
//! path does no work for it.

use std::io;

/// Which end of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The writing end.
    Producer,
    /// The reading end.
    Consumer,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Producer => "producer",
            Side::Consumer => "consumer",
        })
    }
}

/// The peer sent something the protocol cannot have produced (a ring's shared
/// memory or a connection's TCP stream): the peer is buggy, hostile, or the
/// mapping was overwritten. This end cannot be trusted any more; drop it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol violation by the peer: {what}; this end cannot be trusted any more, drop it")]
pub struct Corruption {
    /// What was found, with the offending values.
    pub what: String,
}

impl Corruption {
    pub(crate) fn new(what: impl Into<String>) -> Self {
        Corruption { what: what.into() }
    }
}

/// Which setting bounds the size of a message, as [`SendError::TooLarge`]
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageLimit {
    /// A ring's [`Config::max_message`](crate::Config::max_message), fixed
    /// when its region was created.
    Region,
    /// A connection's [`ConnConfig::max_message`](crate::ConnConfig::max_message):
    /// the smaller of the two sides' values.
    Connection,
}

impl std::fmt::Display for MessageLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MessageLimit::Region => "raise Config::max_message when creating the region",
            MessageLimit::Connection => {
                "raise ConnConfig::max_message on both sides (the smaller of the two applies)"
            }
        })
    }
}

/// Errors from sending (reserving space and committing), on a ring or a
/// connection.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No room for the message now (non-blocking calls only).
    #[error("no room for a {needed}-byte message now; retry after the peer reads, or use a blocking send")]
    Full {
        /// Bytes the message needs, framing included.
        needed: usize,
    },
    /// The message is larger than the maximum message size.
    #[error("message of {len} bytes exceeds the maximum of {max} bytes; {limit}")]
    TooLarge {
        /// Requested length.
        len: usize,
        /// The maximum message size.
        max: usize,
        /// The setting that bounds it.
        limit: MessageLimit,
    },
    /// A blocking send ran out of time.
    #[error("timed out waiting for room to send")]
    Timeout,
    /// The peer closed its receiving end (or never will read again).
    #[error("the peer has closed its end: nothing sent now will be read")]
    Disconnected,
    /// The peer's process died without closing its end. Blocking and timed
    /// calls report it within about a liveness interval of the death; so do
    /// non-blocking calls that find no room (instead of [`SendError::Full`]),
    /// and every call that would wait after it is known.
    #[error("the peer process (pid {pid}) died without closing its end")]
    PeerDied {
        /// The dead peer's pid.
        pid: u32,
    },
    /// Shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corruption),
    /// A wakeup system call failed.
    #[error("wakeup system call failed: {0}")]
    Io(#[from] io::Error),
}

/// Errors from receiving, on a ring or a connection.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    /// No message is available now (non-blocking calls only).
    #[error("no message available now")]
    Empty,
    /// A blocking receive ran out of time.
    #[error("timed out waiting for a message")]
    Timeout,
    /// The peer closed its sending end and every message it sent has been read.
    #[error("the peer has closed its end and every message it sent was read")]
    Disconnected,
    /// The peer's process died without closing its end; every message it
    /// completed has been read. Blocking and timed calls report it within
    /// about a liveness interval of the death; so do non-blocking calls that
    /// find nothing to read (instead of [`RecvError::Empty`]), and every later
    /// call.
    #[error("the peer process (pid {pid}) died without closing its end; every message it completed was read")]
    PeerDied {
        /// The dead peer's pid.
        pid: u32,
    },
    /// The caller's buffer is too small for the next message, which stays in the ring.
    #[error("buffer of {buf_len} bytes is too small for the next message of {needed} bytes; the message stays queued")]
    BufferTooSmall {
        /// Length of the waiting message.
        needed: usize,
        /// Length of the caller's buffer.
        buf_len: usize,
    },
    /// The next message is not the size of the value asked for (typed receives
    /// only); it stays in the ring.
    #[error("the next message is {len} bytes, not the {expected} bytes of the value asked for; it stays queued (receive it as bytes)")]
    WrongSize {
        /// Length of the waiting message.
        len: usize,
        /// Size of the value type.
        expected: usize,
    },
    /// Shared state is inconsistent.
    #[error(transparent)]
    Corrupted(#[from] Corruption),
    /// A wakeup system call failed.
    #[error("wakeup system call failed: {0}")]
    Io(#[from] io::Error),
}

impl SendError {
    /// No room now: a `try_` send would have to wait (retry, or send blocking).
    pub fn is_full(&self) -> bool {
        matches!(self, SendError::Full { .. })
    }

    /// A timed send ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendError::Timeout)
    }

    /// The peer closed its end: nothing more will be read.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendError::Disconnected)
    }

    /// The peer's process died without closing its end.
    pub fn is_peer_died(&self) -> bool {
        matches!(self, SendError::PeerDied { .. })
    }
}

impl RecvError {
    /// Nothing to read now: a `try_` receive would have to wait.
    pub fn is_empty(&self) -> bool {
        matches!(self, RecvError::Empty)
    }

    /// A timed receive ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvError::Timeout)
    }

    /// The peer closed its end and everything it sent was read.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, RecvError::Disconnected)
    }

    /// The peer's process died without closing its end.
    pub fn is_peer_died(&self) -> bool {
        matches!(self, RecvError::PeerDied { .. })
    }
}

/// A [`Config`](crate::Config) that cannot make a ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The capacity is not a power of two in the supported range.
    #[error("capacity {capacity} must be a power of two from {min} to {max} bytes")]
    Capacity {
        /// The capacity asked for.
        capacity: u64,
        /// Smallest capacity.
        min: u64,
        /// Largest capacity.
        max: u64,
    },
    /// The maximum message does not fit the ring after a wrap.
    #[error("max_message {max_message} is too large for capacity {capacity}: at most capacity/2 - 8 = {limit}")]
    MaxMessage {
        /// The maximum message asked for.
        max_message: u64,
        /// The ring's capacity.
        capacity: u64,
        /// The largest maximum message this capacity allows.
        limit: u64,
    },
    /// Eventfd wakeups travel as descriptors, which a region opened by name cannot receive.
    #[error("eventfd wakeups need descriptor passing, which a named region cannot offer: use futex or hybrid, or an anonymous region")]
    EventFdNeedsDescriptors,
}

/// An operating-system call failed: which one, and the error it returned.
/// Shared by the region operations ([`CreateError::Os`], [`OpenError::Os`],
/// [`RemoveError::Os`]) and returned alone by the calls that can fail no other
/// way ([`Region::handoff`](crate::Region::handoff),
/// [`Region::send_over`](crate::Region::send_over)).
#[derive(Debug, thiserror::Error)]
#[error("{op} failed: {source}")]
pub struct OsError {
    /// The call that failed.
    pub op: &'static str,
    /// The error it returned.
    pub source: io::Error,
}

impl OsError {
    pub(crate) fn new(op: &'static str, source: impl Into<io::Error>) -> Self {
        OsError {
            op,
            source: source.into(),
        }
    }
}

/// A name that is not usable: a region name that is not a POSIX
/// shared-memory name (empty, too long, `.`/`..`, or a `/` after the first:
/// use a path and the `*_at_path` calls for files), or a connection name
/// outside its alphabet and length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name {name:?}: {why}")]
pub struct NameError {
    /// The name given.
    pub name: String,
    /// Why it was refused.
    pub why: String,
}

/// Errors from removing a named region ([`Region::remove`](crate::Region::remove),
/// [`Region::remove_if_stale`](crate::Region::remove_if_stale)).
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// The name is not usable as a POSIX shared-memory name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Opening or unlinking the object failed (for example, no permission).
    #[error(transparent)]
    Os(#[from] OsError),
}

/// Errors from creating a region.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(#[from] ConfigError),
    /// Claiming an end of the fresh ring failed ([`channel`](crate::channel) only).
    #[error(transparent)]
    Attach(#[from] AttachError),
    /// A named region with this name already exists.
    #[error("a region named {name:?} already exists{}; remove it with Region::remove({name:?}) or create with Config::replace_existing(true)", describe_owner(*.creator_pid, *.creator_alive))]
    AlreadyExists {
        /// The name asked for.
        name: String,
        /// Creator pid recorded in the existing object's header, when readable.
        creator_pid: Option<u32>,
        /// Whether that process still runs (false: a stale leftover of a crashed process).
        creator_alive: Option<bool>,
    },
    /// The name is not usable as a POSIX shared-memory name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// The filesystem holding a named region cannot provide its memory. Nothing
    /// is left behind: the half-made object has been removed.
    #[error("no space for a {} region in {place}: {} free; free space there, ask for a smaller capacity, or create the region on another filesystem (Region::create_at_path)", human_bytes(*.needed), human_bytes(*.free))]
    NoSpace {
        /// The directory (or shared-memory filesystem) the region was to live in.
        place: String,
        /// Bytes the region needs.
        needed: u64,
        /// Bytes free there when creation was attempted.
        free: u64,
    },
    /// An operating-system call failed.
    #[error(transparent)]
    Os(#[from] OsError),
}

/// `n` bytes for a person: "16 MiB", "1.5 KiB", "300 bytes".
fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            let value = n as f64 / size as f64;
            return if n % size == 0 || value >= 10.0 {
                format!("{value:.0} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{n} bytes")
}

fn describe_owner(pid: Option<u32>, alive: Option<bool>) -> String {
    match (pid, alive) {
        (Some(pid), Some(false)) => {
            format!(" (left behind by pid {pid}, which is no longer running)")
        }
        (Some(pid), Some(true)) => format!(" (created by pid {pid}, which is still running)"),
        (Some(pid), None) => format!(" (created by pid {pid})"),
        _ => String::new(),
    }
}

/// Errors from opening an existing region.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No region of that name exists.
    #[error("no region named {name:?} exists; is the creating side running?")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The object is not a mempipe region.
    #[error("not a mempipe region: {0}")]
    NotMempipe(String),
    /// The region's creator has not finished initialising it.
    #[error("region is still being initialised by its creator; retry shortly")]
    NotReady,
    /// The region's header was never written and never will be: its creator
    /// died first, or the object is zero-filled and not new.
    #[error("the region was never initialised: {why}; it will not become usable: remove it and create it again")]
    NeverInitialised {
        /// What shows it.
        why: String,
    },
    /// The region was written by an incompatible layout version.
    #[error("layout version {found} vs {expected} expected: created by an incompatible mempipe")]
    VersionMismatch {
        /// Version found in the header.
        found: u32,
        /// Version this crate writes.
        expected: u32,
    },
    /// The mapping's real size does not match what the header describes.
    #[error("size {actual} vs {expected} described by the header: the region was truncated or its header is corrupt")]
    SizeMismatch {
        /// Size of the object.
        actual: u64,
        /// Size the header describes.
        expected: u64,
    },
    /// A header field holds an impossible value.
    #[error("bad header field {field}: {value} ({why})")]
    BadHeader {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A memory descriptor received from another process is not sealed the way
    /// a mempipe memfd is. Without `F_SEAL_SHRINK` the sender could truncate it
    /// under this side's mapping (every access would then raise SIGBUS), without
    /// `F_SEAL_GROW` change its size, without `F_SEAL_SEAL` add seals later. It
    /// is refused before anything is mapped.
    #[error("the received memory descriptor lacks {missing}: a region passed between processes must be a memfd sealed against shrinking, growing and further seals (Region::create_anonymous makes one); a named region is opened by name instead")]
    Unsealed {
        /// The seals that are missing, by name.
        missing: String,
    },
    /// The region uses eventfd wakeups, whose descriptors cannot be opened by name.
    #[error("the region uses eventfd wakeups; its wake descriptors must be passed with the region (Region::send_over / an inherited handoff), they cannot be opened by name")]
    NeedsDescriptors,
    /// The name is not usable as a POSIX shared-memory name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// An operating-system call failed.
    #[error(transparent)]
    Os(#[from] OsError),
}

/// Errors from claiming an end of a ring.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// That end is already claimed (SPSC: one producer, one consumer, each
    /// claimed once). If its holder is dead (`holder_alive == false`), the end
    /// stays claimed for good: a restarted process uses a new region.
    #[error("the {side} end is already claimed by pid {pid}{}", describe_holder(*.side, *.holder_alive))]
    AlreadyClaimed {
        /// Which end.
        side: Side,
        /// Who holds it.
        pid: u32,
        /// Whether that process still runs (checked when the claim was refused).
        holder_alive: bool,
    },
    /// That end was claimed and closed; a ring's ends are used once.
    #[error("the {side} end was already used and closed; create a new region")]
    AlreadyClosed {
        /// Which end.
        side: Side,
    },
    /// The ring's shared state is inconsistent (a fresh end found a used ring).
    #[error(transparent)]
    Corrupted(#[from] Corruption),
}

fn describe_holder(side: Side, alive: bool) -> String {
    if alive {
        format!(", which is still running; a ring has exactly one {side}")
    } else {
        format!(
            ", which is no longer running: it died without closing its end, and an end is \
             claimed only once. To restart the {side}, create a new region and attach both \
             sides to it (a named region's leftover goes with Region::remove_if_stale or \
             Config::replace_existing)"
        )
    }
}

/// A write into a [`WriteGrant`](crate::WriteGrant) past its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes at offset {offset} do not fit the {grant_len}-byte grant")]
pub struct GrantBoundsError {
    /// Where the write started.
    pub offset: usize,
    /// How many bytes it wanted to write.
    pub len: usize,
    /// The grant's length.
    pub grant_len: usize,
}

impl GrantBoundsError {
    /// The end of `len` bytes at `offset` in a `grant_len`-byte grant, or the
    /// error when they do not fit.
    #[inline]
    pub(crate) fn check(offset: usize, len: usize, grant_len: usize) -> Result<usize, Self> {
        offset
            .checked_add(len)
            .filter(|end| *end <= grant_len)
            .ok_or(GrantBoundsError {
                offset,
                len,
                grant_len,
            })
    }
}
