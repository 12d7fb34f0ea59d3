//! Reading other processes' stats files: each is untrusted input (a wrong
//! size, magic or field is a typed error or a skipped slot, never a panic),
//! read with `pread` (a file truncated meanwhile is a short read, not a
//! fault), each slot's identity checked against its sequence word.

use super::registry::{file_path, SUFFIX};
use super::FlowsError;
use crate::counters::{
    offsets, CAN_MOVE, FILE_SIZE, HEADER_SIZE, KIND_CONNECTION, KIND_LISTENER, MAGIC, NAME_WORDS,
    PEER_WORDS, ROLE_CLIENT, ROLE_SERVER, SLOTS, SLOT_SIZE, TRANSPORT_SHM, TRANSPORT_TCP,
    TRANSPORT_TLS, UNKNOWN_UID, VERSION,
};
use crate::WakeupKind;
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One process's listeners and connections, as its stats file shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFlows {
    /// The file read.
    pub path: PathBuf,
    /// The process's pid.
    pub pid: u32,
    /// Its uid.
    pub uid: u32,
    /// Its program name (`/proc/PID/comm` when it started).
    pub program: String,
    /// When it opened the file (ns since the epoch).
    pub started_unix_ns: u64,
    /// Whether the process still holds the file's lock (it lives).
    pub alive: bool,
    /// Flows that found no free slot and are not shown.
    pub overflow: u32,
    /// Its listeners and connections.
    pub flows: Vec<Flow>,
}

/// A listener or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// A bound listener.
    Listener,
    /// A connection.
    Connection,
}

/// Which end of a connection the owning process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It connected.
    Client,
    /// It accepted.
    Server,
}

/// What a connection runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowTransport {
    /// Shared-memory rings.
    SharedMemory,
    /// Plaintext TCP.
    Tcp,
    /// TLS on TCP.
    Tls,
}

impl FlowTransport {
    /// `shm`, `tcp` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowTransport::SharedMemory => "shm",
            FlowTransport::Tcp => "tcp",
            FlowTransport::Tls => "tls",
        }
    }
}

/// One direction's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Messages.
    pub messages: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Calls that waited (for room, for a message).
    pub waits: u64,
    /// Time spent in those waits (ns).
    pub wait_ns: u64,
    /// Wakes sent to a sleeping peer.
    pub wakes: u64,
    /// Failed calls (not counting no room, no message or timeouts).
    pub errors: u64,
    /// Last sampled activity (ns since the epoch): every 1024 messages, each wait, each error.
    pub last_unix_ns: u64,
    /// Bytes in the ring at the last sample (sending side, shared memory only).
    pub ring_fill_bytes: u64,
}

/// One listener or connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Its slot in the file (what `mempipe move` addresses).
    pub slot: u32,
    /// Listener or connection.
    pub kind: FlowKind,
    /// For a connection: which end this process is.
    pub role: Option<Role>,
    /// The name (a listener's, or the address a client connected to).
    pub name: String,
    /// For a connection: its transport.
    pub transport: Option<FlowTransport>,
    /// For a shared-memory connection: the rings' wakeup.
    pub wakeup: Option<WakeupKind>,
    /// The peer's pid (0 when not known).
    pub peer_pid: u32,
    /// The peer's uid, when known.
    pub peer_uid: Option<u32>,
    /// The peer in words: `pid 4242`, an address, a TLS identity; a
    /// listener's TCP address.
    pub peer: String,
    /// Each ring's capacity (shared memory).
    pub ring_capacity: u64,
    /// Largest message.
    pub max_message: u64,
    /// When the flow started (ns since the epoch).
    pub started_unix_ns: u64,
    /// How many times it changed transport.
    pub moves: u32,
    /// Whether its build takes move requests.
    pub can_move: bool,
    /// What this process sent.
    pub tx: SideStats,
    /// What it received.
    pub rx: SideStats,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

fn text_at(b: &[u8], at: usize, words: usize, len: u32) -> String {
    let len = (len as usize).min(words * 8);
    let bytes = b.get(at..at + len).unwrap_or(&[]);
    String::from_utf8_lossy(bytes).into_owned()
}

fn side(b: &[u8], at: usize) -> SideStats {
    let w = |i: usize| u64_at(b, at + 8 * i);
    SideStats {
        messages: w(0),
        bytes: w(1),
        waits: w(2),
        wait_ns: w(3),
        wakes: w(4),
        errors: w(5),
        last_unix_ns: w(6),
        ring_fill_bytes: w(7),
    }
}

/// Decodes a consistent slot copy; `None` for a free slot or nonsense.
fn decode(index: usize, b: &[u8]) -> Option<Flow> {
    let kind = match u32_at(b, offsets::KIND) {
        KIND_LISTENER => FlowKind::Listener,
        KIND_CONNECTION => FlowKind::Connection,
        _ => return None,
    };
    let role = match u32_at(b, offsets::ROLE) {
        ROLE_CLIENT => Some(Role::Client),
        ROLE_SERVER => Some(Role::Server),
        _ => None,
    };
    let transport = match u32_at(b, offsets::TRANSPORT) {
        TRANSPORT_SHM => Some(FlowTransport::SharedMemory),
        TRANSPORT_TCP => Some(FlowTransport::Tcp),
        TRANSPORT_TLS => Some(FlowTransport::Tls),
        _ => None,
    };
    let wakeup = match u32_at(b, offsets::WAKEUP) {
        1 => Some(WakeupKind::Spin),
        2 => Some(WakeupKind::Futex),
        3 => Some(WakeupKind::EventFd),
        4 => Some(WakeupKind::Hybrid),
        _ => None,
    };
    let peer_uid = match u32_at(b, offsets::PEER_UID) {
        UNKNOWN_UID => None,
        uid => Some(uid),
    };
    Some(Flow {
        slot: index as u32,
        kind,
        role,
        name: text_at(b, offsets::NAME, NAME_WORDS, u32_at(b, offsets::NAME_LEN)),
        transport,
        wakeup,
        peer_pid: u32_at(b, offsets::PEER_PID),
        peer_uid,
        peer: text_at(b, offsets::PEER, PEER_WORDS, u32_at(b, offsets::PEER_LEN)),
        ring_capacity: u64_at(b, offsets::RING_CAPACITY),
        max_message: u64_at(b, offsets::MAX_MESSAGE),
        started_unix_ns: u64_at(b, offsets::STARTED),
        moves: u32_at(b, offsets::MOVES),
        can_move: u32_at(b, offsets::CAPABILITIES) & CAN_MOVE != 0,
        tx: side(b, offsets::TX),
        rx: side(b, offsets::RX),
    })
}

/// Opens a stats file for reading (never following a link).
fn open_file(path: &Path) -> Result<File, FlowsError> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|e| FlowsError::io(path, "open", e.into()))?;
    Ok(File::from(fd))
}

/// Whether a live process holds `file`'s lock.
pub(crate) fn held(file: &File) -> bool {
    matches!(
        rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockShared),
        Err(rustix::io::Errno::WOULDBLOCK)
    )
    // A lock taken here is released when `file` is closed.
}

/// Reads one stats file.
///
/// # Errors
/// [`FlowsError::Io`] when it cannot be opened or read;
/// [`FlowsError::Malformed`] when it is not a stats file of this version.
pub fn read_file(path: &Path) -> Result<ProcessFlows, FlowsError> {
    let file = open_file(path)?;
    let malformed = |why: String| FlowsError::Malformed {
        path: path.to_owned(),
        why,
    };
    let mut whole = vec![0u8; FILE_SIZE];
    let got = read_at_most(&file, &mut whole, 0).map_err(|e| FlowsError::io(path, "read", e))?;
    if got < FILE_SIZE {
        return Err(malformed(format!(
            "{got} bytes, a stats file has {FILE_SIZE}"
        )));
    }
    if u64_at(&whole, offsets::H_MAGIC) != MAGIC {
        return Err(malformed(
            "no stats-file magic (not initialised yet?)".into(),
        ));
    }
    let (version, slot_size, slots) = (
        u32_at(&whole, offsets::H_VERSION),
        u32_at(&whole, offsets::H_SLOT_SIZE),
        u32_at(&whole, offsets::H_SLOTS),
    );
    if version != VERSION || slot_size as usize != SLOT_SIZE || slots as usize != SLOTS {
        return Err(malformed(format!(
            "version {version}, slot size {slot_size}, {slots} slots; this reader knows \
             version {VERSION}, {SLOT_SIZE}, {SLOTS}"
        )));
    }
    let program_bytes = whole[offsets::H_PROGRAM..offsets::H_PROGRAM + 16].to_vec();
    let end = program_bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(program_bytes.len());
    let mut flows = Vec::new();
    for index in 0..SLOTS {
        let at = HEADER_SIZE + index * SLOT_SIZE;
        if u32_at(&whole, at + offsets::KIND) == 0 && u64_at(&whole, at + offsets::SEQ) % 2 == 0 {
            continue; // free (one claimed meanwhile shows next time)
        }
        if let Some(flow) = read_slot(&file, at).and_then(|b| decode(index, &b)) {
            flows.push(flow);
        }
    }
    Ok(ProcessFlows {
        path: path.to_owned(),
        pid: u32_at(&whole, offsets::H_PID),
        uid: u32_at(&whole, offsets::H_UID),
        program: String::from_utf8_lossy(&program_bytes[..end]).into_owned(),
        started_unix_ns: u64_at(&whole, offsets::H_STARTED),
        alive: held(&file),
        overflow: u32_at(&whole, offsets::H_OVERFLOW),
        flows,
    })
}

fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A consistent copy of the slot at `at`: its sequence word even and the
/// same before and after the copy (a few tries; `None` if it keeps changing).
fn read_slot(file: &File, at: usize) -> Option<Vec<u8>> {
    let seq = |file: &File| {
        let mut w = [0u8; 8];
        (read_at_most(file, &mut w, at as u64).ok()? == 8).then(|| u64::from_le_bytes(w))
    };
    for _ in 0..8 {
        let before = seq(file)?;
        let mut buf = vec![0u8; SLOT_SIZE];
        if read_at_most(file, &mut buf, at as u64).ok()? < SLOT_SIZE {
            return None;
        }
        let after = seq(file)?;
        if before % 2 == 0 && before == after && u64_at(&buf, offsets::SEQ) == before {
            return Some(buf);
        }
        std::thread::yield_now();
    }
    None
}

/// Every stats file in `dir`, live and dead, sorted by pid. Files that
/// cannot be read are skipped (a process may be starting or exiting).
///
/// # Errors
/// [`FlowsError::Io`] when the directory cannot be read.
pub fn read_dir(dir: &Path) -> Result<Vec<ProcessFlows>, FlowsError> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(FlowsError::io(dir, "read the directory", e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(pid) = stats_pid(&path) else {
            continue;
        };
        if let Ok(p) = read_file(&path) {
            if p.pid == pid {
                found.push(p);
            }
        }
    }
    found.sort_by_key(|p| p.pid);
    Ok(found)
}

/// The pid a stats file's name says (`PID.flows`), if it is one.
pub(crate) fn stats_pid(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let pid: u32 = name.strip_suffix(SUFFIX)?.parse().ok()?;
    (file_path(path.parent()?, pid) == path).then_some(pid)
}
