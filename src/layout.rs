//! Where everything lives in the shared mapping, and validation of the header.
//!
//! ```text
//! offset 0      StaticHeader   written once by the creator, magic stored last (release)
//! offset 128    Control        atomics, one 128-byte line per owner (see ring::control)
//! offset 4096   ring data      `capacity` bytes, a power of two
//! ```
//!
//! 128-byte spacing keeps producer-owned and consumer-owned words off each other's
//! cache lines even where the adjacent-line prefetcher pairs 64-byte lines.

use crate::error::{ConfigError, OpenError};

/// "mempipe\0" read as a little-endian u64.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"mempipe\0");
/// Bumped whenever the shared layout or record format changes.
pub(crate) const VERSION: u32 = 1;
/// Offset of the control block.
pub(crate) const CONTROL_OFFSET: usize = 128;
/// Offset of the ring data; page aligned.
pub(crate) const DATA_OFFSET: usize = 4096;
/// Smallest and largest capacities.
pub(crate) const MIN_CAPACITY: u64 = 64;
pub(crate) const MAX_CAPACITY: u64 = 1 << 32;
/// Bytes of framing in front of every payload.
pub(crate) const RECORD_HEADER: u64 = 8;
/// Payload alignment guaranteed to users.
pub(crate) const ALIGN: u64 = 8;

/// The header as it sits in the mapping. Plain integers: it is written once before
/// the magic is published and copied out (then validated) by every opener.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct StaticHeader {
    pub magic: u64,
    pub version: u32,
    pub data_offset: u32,
    pub capacity: u64,
    pub max_message: u64,
    pub wakeup: u32,
    pub creator_pid: u32,
    pub total_len: u64,
    pub spin_budget_ns: u64,
    pub liveness_interval_ns: u64,
}

const _: () = assert!(StaticHeader::LEN <= CONTROL_OFFSET);
// Six u64 and four u32 fields, each at its natural alignment: no padding byte.
const _: () = assert!(StaticHeader::LEN == 6 * 8 + 4 * 4);

impl StaticHeader {
    /// Bytes the header occupies.
    pub(crate) const LEN: usize = std::mem::size_of::<StaticHeader>();

    /// Decodes a header from bytes read out of an object without mapping it
    /// (each field at its own offset, in the creator's native byte order).
    pub(crate) fn from_bytes(bytes: &[u8; Self::LEN]) -> StaticHeader {
        use std::mem::offset_of;
        // Every offset comes from `offset_of!` on this struct, so it lies in `bytes`.
        let u32_at = |at: usize| u32::from_ne_bytes(std::array::from_fn(|i| bytes[at + i]));
        let u64_at = |at: usize| u64::from_ne_bytes(std::array::from_fn(|i| bytes[at + i]));
        StaticHeader {
            magic: u64_at(offset_of!(StaticHeader, magic)),
            version: u32_at(offset_of!(StaticHeader, version)),
            data_offset: u32_at(offset_of!(StaticHeader, data_offset)),
            capacity: u64_at(offset_of!(StaticHeader, capacity)),
            max_message: u64_at(offset_of!(StaticHeader, max_message)),
            wakeup: u32_at(offset_of!(StaticHeader, wakeup)),
            creator_pid: u32_at(offset_of!(StaticHeader, creator_pid)),
            total_len: u64_at(offset_of!(StaticHeader, total_len)),
            spin_budget_ns: u64_at(offset_of!(StaticHeader, spin_budget_ns)),
            liveness_interval_ns: u64_at(offset_of!(StaticHeader, liveness_interval_ns)),
        }
    }

    /// The creator's pid, when this is a published mempipe header.
    pub(crate) fn creator(&self) -> Option<u32> {
        (self.magic == MAGIC && self.creator_pid != 0).then_some(self.creator_pid)
    }
}

/// The validated shape of a ring: everything the fast path needs, held privately
/// by each side so a peer scribbling over the header later changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub capacity: u64,
    pub mask: u64,
    pub cap_log2: u32,
    pub max_message: u64,
}

impl Geometry {
    pub(crate) fn new(capacity: u64, max_message: u64) -> Result<Self, ConfigError> {
        if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
            return Err(ConfigError::Capacity {
                capacity,
                min: MIN_CAPACITY,
                max: MAX_CAPACITY,
            });
        }
        let limit = capacity / 2 - RECORD_HEADER;
        if max_message > limit {
            return Err(ConfigError::MaxMessage {
                max_message,
                capacity,
                limit,
            });
        }
        Ok(Geometry {
            capacity,
            mask: capacity - 1,
            cap_log2: capacity.trailing_zeros(),
            max_message,
        })
    }

    /// Bytes a record with `len` payload bytes occupies.
    #[inline(always)]
    pub(crate) fn record_size(len: u64) -> u64 {
        RECORD_HEADER + ((len + ALIGN - 1) & !(ALIGN - 1))
    }

    /// Total mapping length.
    pub(crate) fn total_len(&self) -> u64 {
        DATA_OFFSET as u64 + self.capacity
    }
}

/// A header read back from a mapping, validated against the mapping's real size.
#[derive(Debug)]
pub(crate) struct Validated {
    pub geometry: Geometry,
    pub wakeup: WakeupKind,
    pub creator_pid: u32,
    pub spin_budget_ns: u64,
    pub liveness_interval_ns: u64,
}

/// Checks every field of `h` against the size of the object it came from.
pub(crate) fn validate(h: &StaticHeader, object_len: u64) -> Result<Validated, OpenError> {
    if h.magic == 0 {
        return Err(OpenError::NotReady);
    }
    if h.magic != MAGIC {
        return Err(OpenError::NotMempipe(format!(
            "magic {:#018x}, expected {:#018x}",
            h.magic, MAGIC
        )));
    }
    if h.version != VERSION {
        return Err(OpenError::VersionMismatch {
            found: h.version,
            expected: VERSION,
        });
    }
    if h.data_offset as usize != DATA_OFFSET {
        return Err(OpenError::BadHeader {
            field: "data_offset",
            value: h.data_offset.into(),
            why: "must be 4096",
        });
    }
    let geometry = Geometry::new(h.capacity, h.max_message).map_err(|e| match e {
        ConfigError::MaxMessage { .. } => OpenError::BadHeader {
            field: "max_message",
            value: h.max_message,
            why: "larger than capacity/2 - 8",
        },
        _ => OpenError::BadHeader {
            field: "capacity",
            value: h.capacity,
            why: "not a power of two from 64 B to 4 GiB",
        },
    })?;
    let wakeup = WakeupKind::from_raw(h.wakeup).ok_or(OpenError::BadHeader {
        field: "wakeup",
        value: h.wakeup.into(),
        why: "not a known wakeup strategy",
    })?;
    if h.total_len != geometry.total_len() {
        return Err(OpenError::BadHeader {
            field: "total_len",
            value: h.total_len,
            why: "does not equal data offset + capacity",
        });
    }
    if object_len != h.total_len {
        return Err(OpenError::SizeMismatch {
            actual: object_len,
            expected: h.total_len,
        });
    }
    Ok(Validated {
        geometry,
        wakeup,
        creator_pid: h.creator_pid,
        spin_budget_ns: h.spin_budget_ns.min(1_000_000_000),
        liveness_interval_ns: h.liveness_interval_ns.clamp(1_000_000, 10_000_000_000),
    })
}

/// How a side waits for its peer, chosen when the region is created and recorded
/// in its header so both processes agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum WakeupKind {
    /// Busy-poll with the CPU's pause hint. Lowest latency; burns a core while
    /// waiting, and must never be used with both ends on one CPU.
    Spin = 1,
    /// Sleep on a shared futex word inside the mapping (after a few polls of
    /// the ring while the peer runs on another CPU).
    Futex = 2,
    /// Sleep on a descriptor per side, which a receiver can also put in epoll,
    /// mio or tokio ([`Consumer::notify_fd`](crate::Consumer::notify_fd)).
    /// Named for that role: the descriptors are the two ends of a UNIX datagram
    /// socket pair, not eventfds, because the peer shares their open file
    /// description and could make an eventfd write block (by clearing
    /// `O_NONBLOCK` and filling the counter); a socket send and receive take
    /// `MSG_DONTWAIT` per call, so no call here can block on what the peer does
    /// to them. Anonymous regions only: the descriptors travel with the region.
    EventFd = 3,
    /// Spin for a bounded budget, then sleep on a futex; never spins when both
    /// ends share a CPU.
    Hybrid = 4,
}

impl WakeupKind {
    /// Every strategy, in a stable order.
    pub const ALL: [WakeupKind; 4] = [
        WakeupKind::Spin,
        WakeupKind::Futex,
        WakeupKind::EventFd,
        WakeupKind::Hybrid,
    ];

    /// Lower-case name, as accepted by [`str::parse`].
    pub fn name(self) -> &'static str {
        match self {
            WakeupKind::Spin => "spin",
            WakeupKind::Futex => "futex",
            WakeupKind::EventFd => "eventfd",
            WakeupKind::Hybrid => "hybrid",
        }
    }

    pub(crate) fn from_raw(raw: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == raw)
    }
}

impl std::fmt::Display for WakeupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown wakeup name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown wakeup strategy {0:?}: expected one of spin, futex, eventfd, hybrid")]
pub struct ParseWakeupError(String);

impl std::str::FromStr for WakeupKind {
    type Err = ParseWakeupError;

    /// Parses a strategy's [`name`](WakeupKind::name), ignoring ASCII case.
    ///
    /// # Errors
    /// [`ParseWakeupError`] for any other string; its message lists the names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseWakeupError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(capacity: u64) -> StaticHeader {
        StaticHeader {
            magic: MAGIC,
            version: VERSION,
            data_offset: DATA_OFFSET as u32,
            capacity,
            max_message: capacity / 4,
            wakeup: WakeupKind::Futex as u32,
            creator_pid: 1,
            total_len: DATA_OFFSET as u64 + capacity,
            spin_budget_ns: 0,
            liveness_interval_ns: 50_000_000,
        }
    }

    #[test]
    fn accepts_a_good_header() {
        let v = validate(&header(65536), 4096 + 65536).unwrap();
        assert_eq!(v.geometry.capacity, 65536);
        assert_eq!(v.wakeup, WakeupKind::Futex);
    }

    #[test]
    fn names_each_mismatch() {
        let mut h = header(65536);
        h.magic = 1;
        assert!(matches!(validate(&h, 69632), Err(OpenError::NotMempipe(_))));
        let mut h = header(65536);
        h.version = 2;
        let e = validate(&h, 69632).unwrap_err();
        assert_eq!(
            e.to_string(),
            "layout version 2 vs 1 expected: created by an incompatible mempipe"
        );
        let e = validate(&header(65536), 4096).unwrap_err();
        assert_eq!(e.to_string(), "size 4096 vs 69632 described by the header: the region was truncated or its header is corrupt");
        let mut h = header(65536);
        h.capacity = 65535;
        assert!(matches!(
            validate(&h, 69632),
            Err(OpenError::BadHeader {
                field: "capacity",
                ..
            })
        ));
        let mut h = header(65536);
        h.max_message = 65536;
        assert!(matches!(
            validate(&h, 69632),
            Err(OpenError::BadHeader {
                field: "max_message",
                ..
            })
        ));
        let mut h = header(65536);
        h.wakeup = 9;
        assert!(matches!(
            validate(&h, 69632),
            Err(OpenError::BadHeader {
                field: "wakeup",
                ..
            })
        ));
        let mut h = header(65536);
        h.magic = 0;
        assert!(matches!(validate(&h, 69632), Err(OpenError::NotReady)));
    }

    #[test]
    fn decodes_the_bytes_it_was_written_as() {
        let h = header(65536);
        // SAFETY: a StaticHeader is plain integers with no padding (the size
        // assertion above), so all its bytes are initialised.
        let bytes: [u8; StaticHeader::LEN] = unsafe { std::mem::transmute(h) };
        let back = StaticHeader::from_bytes(&bytes);
        assert_eq!(format!("{back:?}"), format!("{h:?}"));
        assert_eq!(back.creator(), Some(1));
        assert_eq!(StaticHeader { magic: 0, ..h }.creator(), None);
    }

    #[test]
    fn record_sizes_are_aligned() {
        assert_eq!(Geometry::record_size(0), 8);
        assert_eq!(Geometry::record_size(1), 16);
        assert_eq!(Geometry::record_size(8), 16);
        assert_eq!(Geometry::record_size(9), 24);
    }
}
