//! This process's stats file: created on the first listener or connection,
//! mapped for the process's whole life (never unmapped, so slots are
//! `'static`), locked (flock) while the process lives so that readers can
//! tell a dead process's file.

use crate::counters::{
    self, Header, Identity, SideCounters, Slot, CAN_MOVE, FILE_SIZE, HEADER_SIZE, KIND_FREE, MAGIC,
    MOVE_DONE, MOVE_FAILED, MOVE_INVALID, MOVE_NONE, MOVE_TO_SHM, MOVE_TO_TCP, MOVE_UNSUPPORTED,
    NAME_WORDS, PEER_WORDS, SLOTS, SLOT_SIZE, UNKNOWN_UID, VERSION,
};
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Set to `0` (or `off`) to publish no flow counters from this process.
pub const STATS_ENV: &str = "MEMPIPE_FLOW_STATS";

/// The suffix of a stats file: `PID.flows` in the rendezvous directory.
pub(crate) const SUFFIX: &str = ".flows";

pub(crate) fn file_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}{SUFFIX}"))
}

struct Registry {
    header: &'static Header,
    slots: &'static [Slot],
    free: Mutex<Vec<usize>>,
    /// Holds the lock that says this process lives.
    _file: File,
}

static REGISTRY: OnceLock<Option<Registry>> = OnceLock::new();

fn registry() -> Option<&'static Registry> {
    REGISTRY.get_or_init(open).as_ref()
}

fn disabled() -> bool {
    std::env::var(STATS_ENV).is_ok_and(|v| matches!(v.trim(), "0" | "off" | "false" | "no"))
}

/// Creates and locks this process's file; `None` (no counters, nothing
/// else changes) when disabled or when the file cannot be made.
fn open() -> Option<Registry> {
    if disabled() {
        return None;
    }
    let dir = super::super::rendezvous::prepare_dir(None).ok()?;
    let pid = std::process::id();
    let path = file_path(&dir, pid);
    let file = loop {
        let fd = rustix::fs::open(
            &path,
            OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::RUSR | Mode::WUSR,
        )
        .ok()?;
        let file = File::from(fd);
        // Blocking: a reader holds it only for a moment. (A file left by a
        // dead process of the same pid is simply taken over.)
        rustix::fs::flock(file.as_fd(), FlockOperation::LockExclusive).ok()?;
        // `mempipe clean` may have removed the file between the open and the lock.
        let ours = file.metadata().ok()?;
        match std::fs::symlink_metadata(&path) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => break file,
            _ => continue,
        }
    };
    file.set_len(0).ok()?;
    file.set_len(FILE_SIZE as u64).ok()?;
    // SAFETY: the file is ours (created 0600 in the private directory, locked);
    // the mapping is never unmapped (forgotten below), so references into it
    // live for the process. Another process of this user could truncate it
    // (then an access would fault), as it could ptrace this one: same trust.
    let map = unsafe { memmap2::MmapMut::map_mut(&file) }.ok()?;
    if map.len() < FILE_SIZE {
        return None;
    }
    let base = map.as_ptr();
    std::mem::forget(map);
    // SAFETY: `base` is page-aligned (so 64-aligned), the mapping is
    // FILE_SIZE bytes, lives forever and is zero-filled; Header and Slot are
    // made of atomics only, valid for any bit pattern and meant to be shared.
    let header: &'static Header = unsafe { &*(base as *const Header) };
    // SAFETY: as above; the slots follow the header, SLOTS of them in bounds.
    let slots: &'static [Slot] =
        unsafe { std::slice::from_raw_parts(base.add(HEADER_SIZE) as *const Slot, SLOTS) };
    header.version.store(VERSION, Ordering::Relaxed);
    header.slot_size.store(SLOT_SIZE as u32, Ordering::Relaxed);
    header.slots.store(SLOTS as u32, Ordering::Relaxed);
    header.pid.store(pid, Ordering::Relaxed);
    header
        .uid
        .store(rustix::process::getuid().as_raw(), Ordering::Relaxed);
    header
        .started_ns
        .store(counters::now_ns(), Ordering::Relaxed);
    let comm = std::fs::read("/proc/self/comm").unwrap_or_default();
    store_text(&header.program, comm.strip_suffix(b"\n").unwrap_or(&comm));
    header.magic.store(MAGIC, Ordering::Release);
    Some(Registry {
        header,
        slots,
        free: Mutex::new((0..SLOTS).rev().collect()),
        _file: file,
    })
}

/// Stores `text` into `words` (little-endian, zero-padded, cut to fit).
fn store_text(words: &[AtomicU64], text: &[u8]) -> usize {
    let len = text.len().min(words.len() * 8);
    for (i, word) in words.iter().enumerate() {
        let mut bytes = [0u8; 8];
        for (j, b) in bytes.iter_mut().enumerate() {
            if let Some(&c) = text[..len].get(i * 8 + j) {
                *b = c;
            }
        }
        word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
    }
    len
}

/// Who a flow's peer is, for its slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerInfo {
    pub pid: u32,
    pub uid: Option<u32>,
    /// In words: `pid 4242`, an address, a TLS identity.
    pub text: String,
}

/// What a slot describes (written once, at claim, and on a move).
pub(crate) struct Describe<'a> {
    pub kind: u32,
    pub role: u32,
    pub name: &'a str,
    pub transport: u32,
    pub wakeup: u32,
    pub ring_capacity: u64,
    pub max_message: u64,
    pub peer: PeerInfo,
}

/// A claimed slot; freed (for another flow) when dropped.
pub(crate) struct FlowSlot {
    index: usize,
    slot: &'static Slot,
}

impl std::fmt::Debug for FlowSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSlot")
            .field("index", &self.index)
            .finish()
    }
}

/// A transport to move a flow to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveTarget {
    /// Shared memory (both ends on one host).
    SharedMemory,
    /// TCP.
    Tcp,
}

/// How a move request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The flow runs on the requested transport now.
    Done,
    /// The flow tried and keeps its transport.
    Failed,
    /// The flow's build cannot move.
    Unsupported,
    /// The flow did not understand the request.
    Invalid,
}

impl MoveOutcome {
    pub(crate) fn code(self) -> u32 {
        match self {
            MoveOutcome::Done => MOVE_DONE,
            MoveOutcome::Failed => MOVE_FAILED,
            MoveOutcome::Unsupported => MOVE_UNSUPPORTED,
            MoveOutcome::Invalid => MOVE_INVALID,
        }
    }
}

impl FlowSlot {
    /// Claims a slot and describes the flow; `None` when counters are off,
    /// the file could not be made or every slot is taken.
    pub(crate) fn claim(what: &Describe<'_>) -> Option<FlowSlot> {
        let reg = registry()?;
        let index = {
            let mut free = reg.free.lock().unwrap_or_else(|p| p.into_inner());
            free.pop()
        };
        let Some(index) = index else {
            reg.header.overflow.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let slot = &reg.slots[index];
        for side in [&slot.tx, &slot.rx] {
            for w in [
                &side.messages,
                &side.bytes,
                &side.waits,
                &side.wait_ns,
                &side.wakes,
                &side.errors,
                &side.fill,
            ] {
                w.store(0, Ordering::Relaxed);
            }
            side.last_ns.store(counters::now_ns(), Ordering::Relaxed);
        }
        slot.control
            .move_request
            .store(MOVE_NONE, Ordering::Relaxed);
        slot.control.move_answer.store(0, Ordering::Relaxed);
        slot.control.capabilities.store(0, Ordering::Relaxed);
        let flow = FlowSlot { index, slot };
        flow.describe(what, true);
        Some(flow)
    }

    /// Rewrites the slot's identity under its sequence word.
    fn describe(&self, what: &Describe<'_>, fresh: bool) {
        let id: &Identity = &self.slot.identity;
        write_locked(id, || {
            id.kind.store(what.kind, Ordering::Relaxed);
            id.role.store(what.role, Ordering::Relaxed);
            id.transport.store(what.transport, Ordering::Relaxed);
            id.wakeup.store(what.wakeup, Ordering::Relaxed);
            id.peer_pid.store(what.peer.pid, Ordering::Relaxed);
            id.peer_uid
                .store(what.peer.uid.unwrap_or(UNKNOWN_UID), Ordering::Relaxed);
            id.ring_capacity
                .store(what.ring_capacity, Ordering::Relaxed);
            id.max_message.store(what.max_message, Ordering::Relaxed);
            if fresh {
                id.started_ns.store(counters::now_ns(), Ordering::Relaxed);
                self.slot.control.moves.store(0, Ordering::Relaxed);
            } else {
                let moves = &self.slot.control.moves;
                moves.store(moves.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            let n = store_text(&self.slot.name[..NAME_WORDS], what.name.as_bytes());
            id.name_len.store(n as u32, Ordering::Relaxed);
            let n = store_text(&self.slot.peer[..PEER_WORDS], what.peer.text.as_bytes());
            id.peer_len.store(n as u32, Ordering::Relaxed);
        });
    }

    /// The sending direction's counters.
    pub(crate) fn tx(&self) -> &'static SideCounters {
        &self.slot.tx
    }

    /// The receiving direction's counters.
    pub(crate) fn rx(&self) -> &'static SideCounters {
        &self.slot.rx
    }

    /// Says (in the slot) that this flow takes move requests: `mempipe move`
    /// refuses at once, naming the reason, for a flow that does not.
    pub(crate) fn set_can_move(&self, can: bool) {
        self.slot
            .control
            .capabilities
            .store(if can { CAN_MOVE } else { 0 }, Ordering::Release);
    }

    /// Takes a pending move request, if any: one relaxed load when there is
    /// none (a line only move requests write), cheap enough for every
    /// blocking call or every few messages. The request's number is kept
    /// for [`answer_move`](Self::answer_move). A request for an unknown
    /// transport is answered as invalid here and not returned.
    pub(crate) fn take_move_request(&self) -> Option<MoveTarget> {
        let word = &self.slot.control.move_request;
        if word.load(Ordering::Relaxed) == MOVE_NONE {
            return None;
        }
        let request = word.swap(MOVE_NONE, Ordering::Acquire);
        let number = request >> 8;
        let target = match request & 0xff {
            MOVE_TO_SHM => MoveTarget::SharedMemory,
            MOVE_TO_TCP => MoveTarget::Tcp,
            MOVE_NONE => return None,
            _ => {
                self.answer(number, MOVE_INVALID);
                return None;
            }
        };
        self.slot.control.taken.store(number, Ordering::Relaxed);
        Some(target)
    }

    /// Answers the request last taken: on [`MoveOutcome::Done`] the caller
    /// has already described the new transport with [`moved`](Self::moved);
    /// a flow that cannot move answers [`MoveOutcome::Unsupported`].
    pub(crate) fn answer_move(&self, outcome: MoveOutcome) {
        let number = self.slot.control.taken.load(Ordering::Relaxed);
        self.answer(number, outcome.code());
    }

    fn answer(&self, number: u32, code: u32) {
        self.slot
            .control
            .move_answer
            .store((number << 8) | code, Ordering::Release);
    }

    /// Describes the flow's new transport after a move (counters carry on).
    #[allow(dead_code)] // Kept for a full re-description; moves use `retransport`.
    pub(crate) fn moved(&self, what: &Describe<'_>) {
        self.describe(what, false);
    }

    /// Rewrites only what a move changes (transport, wakeup, ring), keeping
    /// the name and the peer, and counts the move.
    pub(crate) fn retransport(&self, transport: u32, wakeup: u32, ring_capacity: u64) {
        let id: &Identity = &self.slot.identity;
        write_locked(id, || {
            id.transport.store(transport, Ordering::Relaxed);
            id.wakeup.store(wakeup, Ordering::Relaxed);
            id.ring_capacity.store(ring_capacity, Ordering::Relaxed);
            let moves = &self.slot.control.moves;
            moves.store(moves.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        });
    }
}

/// Runs `write` with the identity's sequence word odd, then even again.
fn write_locked(id: &Identity, write: impl FnOnce()) {
    let seq = id.seq.load(Ordering::Relaxed);
    id.seq.store(seq | 1, Ordering::Relaxed);
    fence(Ordering::Release);
    write();
    id.seq.store((seq | 1) + 1, Ordering::Release);
}

impl Drop for FlowSlot {
    fn drop(&mut self) {
        let id = &self.slot.identity;
        write_locked(id, || id.kind.store(KIND_FREE, Ordering::Relaxed));
        if let Some(reg) = registry() {
            reg.free
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.index);
        }
    }
}
