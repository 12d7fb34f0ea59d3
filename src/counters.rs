//! The layout of a flow's counters as other processes read them: one
//! fixed-size slot per listener or connection in its process's stats file
//! (see `conn::flows`). Everything in a slot is an atomic word, so the file
//! may be mapped by its owner and read by anyone of the same user at any time.
//!
//! Each direction's counters fill one cache line of their own, written only by
//! the thread that sends (receives): a message costs a relaxed load and store
//! of two words on a line no other thread writes, and no system call.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One direction's counters (64 bytes: one cache line, written by that
/// direction's thread alone).
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct SideCounters {
    /// Messages sent (received).
    pub messages: AtomicU64,
    /// Payload bytes sent (received).
    pub bytes: AtomicU64,
    /// Calls that had to wait (for room, for a message).
    pub waits: AtomicU64,
    /// Nanoseconds spent in those waits.
    pub wait_ns: AtomicU64,
    /// Wakes sent to a peer that was (or was about to be) asleep.
    pub wakes: AtomicU64,
    /// Calls that failed for another reason than no room, no message or a timeout.
    pub errors: AtomicU64,
    /// Wall-clock time (ns since the epoch) of the last sampled activity:
    /// every [`SAMPLE_EVERY`] messages, each wait and each error.
    pub last_ns: AtomicU64,
    /// Bytes in the ring this side writes at the last sample (sending side
    /// of a shared-memory connection only).
    pub fill: AtomicU64,
}

/// A side samples its clock and ring fill every this many messages (and at
/// every wait), so a message costs no clock read.
pub(crate) const SAMPLE_EVERY: u64 = 1024;

/// Adds `n` to a word only this thread writes: a relaxed load and store, no
/// locked instruction.
#[inline(always)]
pub(crate) fn bump(word: &AtomicU64, n: u64) {
    word.store(
        word.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Wall-clock nanoseconds since the epoch (0 if the clock is before it).
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl SideCounters {
    /// One message of `len` bytes went through; every [`SAMPLE_EVERY`]
    /// messages `fill` is asked for the ring's fill and the time is taken.
    #[inline(always)]
    pub(crate) fn count(&self, len: usize, fill: impl FnOnce() -> Option<u64>) {
        let n = self.messages.load(Ordering::Relaxed).wrapping_add(1);
        self.messages.store(n, Ordering::Relaxed);
        bump(&self.bytes, len as u64);
        if n % SAMPLE_EVERY == 0 {
            self.sample(fill());
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn sample(&self, fill: Option<u64>) {
        self.last_ns.store(now_ns(), Ordering::Relaxed);
        if let Some(f) = fill {
            self.fill.store(f, Ordering::Relaxed);
        }
    }

    /// A call failed (not for lack of room or message, nor a timeout).
    #[cold]
    #[inline(never)]
    pub(crate) fn failed(&self) {
        bump(&self.errors, 1);
        self.last_ns.store(now_ns(), Ordering::Relaxed);
    }

    /// A call waited `ns` nanoseconds.
    #[cold]
    #[inline(never)]
    pub(crate) fn waited(&self, ns: u64) {
        bump(&self.waits, 1);
        bump(&self.wait_ns, ns);
        self.last_ns.store(now_ns(), Ordering::Relaxed);
    }
}

/// What a slot holds, who its ends are and how it runs: written by its owner
/// under `seq` (odd while it changes), so a reader that sees the same even
/// `seq` before and after its copy has a consistent picture.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Identity {
    pub seq: AtomicU64,
    /// [`KIND_FREE`], [`KIND_LISTENER`] or [`KIND_CONNECTION`].
    pub kind: AtomicU32,
    /// [`ROLE_CLIENT`] (this process connected) or [`ROLE_SERVER`] (accepted).
    pub role: AtomicU32,
    /// [`TRANSPORT_SHM`], [`TRANSPORT_TCP`] or [`TRANSPORT_TLS`] (0 unknown).
    pub transport: AtomicU32,
    /// 0 none; 1 spin, 2 futex, 3 eventfd, 4 hybrid.
    pub wakeup: AtomicU32,
    /// The peer's pid (0 unknown).
    pub peer_pid: AtomicU32,
    /// The peer's uid ([`UNKNOWN_UID`] when not known).
    pub peer_uid: AtomicU32,
    pub ring_capacity: AtomicU64,
    pub max_message: AtomicU64,
    /// Wall-clock ns since the epoch when the slot was claimed.
    pub started_ns: AtomicU64,
    pub name_len: AtomicU32,
    pub peer_len: AtomicU32,
}

/// A move request and its answer: the only words a process other than the
/// owner writes (the `mempipe move` command, with `pwrite`).
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Control {
    /// Written by the requester: [`MOVE_NONE`], [`MOVE_TO_SHM`] or
    /// [`MOVE_TO_TCP`] in the low byte, a request number above it.
    pub move_request: AtomicU32,
    /// Written by the owner: the request number last answered in the high
    /// bits, the outcome ([`MOVE_DONE`], [`MOVE_FAILED`], ...) in the low byte.
    pub move_answer: AtomicU32,
    /// Written by the owner: [`CAN_MOVE`] when this flow's build takes move requests.
    pub capabilities: AtomicU32,
    /// Owner-private: the number of the request last taken.
    pub taken: AtomicU32,
    /// Written by the owner: how many times the transport changed.
    pub moves: AtomicU32,
    pub _pad: [AtomicU32; 11],
}

pub(crate) const NAME_WORDS: usize = 32;
pub(crate) const PEER_WORDS: usize = 16;

/// One listener's or connection's slot: 640 bytes, each part on lines of its own.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Slot {
    pub identity: Identity,
    /// The name, UTF-8, `name_len` bytes (up to 256).
    pub name: [AtomicU64; NAME_WORDS],
    /// The peer in words (`pid 4242`, an address, a TLS identity), `peer_len` bytes (up to 128).
    pub peer: [AtomicU64; PEER_WORDS],
    pub tx: SideCounters,
    pub rx: SideCounters,
    pub control: Control,
}

/// The file's first 64 bytes.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Header {
    /// [`MAGIC`] once the file is initialised.
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub slot_size: AtomicU32,
    pub slots: AtomicU32,
    pub pid: AtomicU32,
    pub uid: AtomicU32,
    /// Flows that found no free slot (not shown).
    pub overflow: AtomicU32,
    pub started_ns: AtomicU64,
    /// The program's name (`/proc/self/comm`), NUL-padded.
    pub program: [AtomicU64; 2],
    pub _pad: [AtomicU64; 1],
}

pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"MPFLOWS\x01");
pub(crate) const VERSION: u32 = 1;
pub(crate) const SLOTS: usize = 256;
pub(crate) const SLOT_SIZE: usize = std::mem::size_of::<Slot>();
pub(crate) const HEADER_SIZE: usize = std::mem::size_of::<Header>();
pub(crate) const FILE_SIZE: usize = HEADER_SIZE + SLOTS * SLOT_SIZE;

pub(crate) const KIND_FREE: u32 = 0;
pub(crate) const KIND_LISTENER: u32 = 1;
pub(crate) const KIND_CONNECTION: u32 = 2;
pub(crate) const ROLE_CLIENT: u32 = 1;
pub(crate) const ROLE_SERVER: u32 = 2;
pub(crate) const TRANSPORT_SHM: u32 = 1;
pub(crate) const TRANSPORT_TCP: u32 = 2;
pub(crate) const TRANSPORT_TLS: u32 = 3;
pub(crate) const UNKNOWN_UID: u32 = u32::MAX;

pub(crate) const MOVE_NONE: u32 = 0;
pub(crate) const MOVE_TO_SHM: u32 = 1;
pub(crate) const MOVE_TO_TCP: u32 = 2;
/// Answer outcomes (low byte of `move_answer`).
pub(crate) const MOVE_DONE: u32 = 1;
pub(crate) const MOVE_FAILED: u32 = 2;
pub(crate) const MOVE_UNSUPPORTED: u32 = 3;
pub(crate) const MOVE_INVALID: u32 = 4;
/// Capability bit: the owner takes move requests.
pub(crate) const CAN_MOVE: u32 = 1;

// The reader depends on these sizes; they are part of the file format.
const _: () = assert!(std::mem::size_of::<SideCounters>() == 64);
const _: () = assert!(std::mem::size_of::<Identity>() == 64);
const _: () = assert!(std::mem::size_of::<Control>() == 64);
const _: () = assert!(SLOT_SIZE == 640);
const _: () = assert!(HEADER_SIZE == 64);

/// Byte offsets of the fields the reader needs, within a slot.
pub(crate) mod offsets {
    use super::*;
    use std::mem::offset_of;
    pub(crate) const IDENTITY: usize = offset_of!(Slot, identity);
    pub(crate) const NAME: usize = offset_of!(Slot, name);
    pub(crate) const PEER: usize = offset_of!(Slot, peer);
    pub(crate) const TX: usize = offset_of!(Slot, tx);
    pub(crate) const RX: usize = offset_of!(Slot, rx);
    pub(crate) const CONTROL: usize = offset_of!(Slot, control);
    pub(crate) const MOVE_REQUEST: usize = CONTROL + offset_of!(Control, move_request);
    pub(crate) const MOVE_ANSWER: usize = CONTROL + offset_of!(Control, move_answer);
    pub(crate) const CAPABILITIES: usize = CONTROL + offset_of!(Control, capabilities);
    pub(crate) const MOVES: usize = CONTROL + offset_of!(Control, moves);
    pub(crate) const SEQ: usize = IDENTITY + offset_of!(Identity, seq);
    pub(crate) const KIND: usize = IDENTITY + offset_of!(Identity, kind);
    pub(crate) const ROLE: usize = IDENTITY + offset_of!(Identity, role);
    pub(crate) const TRANSPORT: usize = IDENTITY + offset_of!(Identity, transport);
    pub(crate) const WAKEUP: usize = IDENTITY + offset_of!(Identity, wakeup);
    pub(crate) const PEER_PID: usize = IDENTITY + offset_of!(Identity, peer_pid);
    pub(crate) const PEER_UID: usize = IDENTITY + offset_of!(Identity, peer_uid);
    pub(crate) const RING_CAPACITY: usize = IDENTITY + offset_of!(Identity, ring_capacity);
    pub(crate) const MAX_MESSAGE: usize = IDENTITY + offset_of!(Identity, max_message);
    pub(crate) const STARTED: usize = IDENTITY + offset_of!(Identity, started_ns);
    pub(crate) const NAME_LEN: usize = IDENTITY + offset_of!(Identity, name_len);
    pub(crate) const PEER_LEN: usize = IDENTITY + offset_of!(Identity, peer_len);
    /// Header fields.
    pub(crate) const H_MAGIC: usize = offset_of!(Header, magic);
    pub(crate) const H_VERSION: usize = offset_of!(Header, version);
    pub(crate) const H_SLOT_SIZE: usize = offset_of!(Header, slot_size);
    pub(crate) const H_SLOTS: usize = offset_of!(Header, slots);
    pub(crate) const H_PID: usize = offset_of!(Header, pid);
    pub(crate) const H_UID: usize = offset_of!(Header, uid);
    pub(crate) const H_OVERFLOW: usize = offset_of!(Header, overflow);
    pub(crate) const H_STARTED: usize = offset_of!(Header, started_ns);
    pub(crate) const H_PROGRAM: usize = offset_of!(Header, program);
}
