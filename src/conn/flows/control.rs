//! Asking a flow to change transport: the requester writes the slot's request
//! word (with `pwrite`: only that word, never a mapping of the file), the
//! owner takes it ([`FlowSlot::take_move_request`](super::registry::FlowSlot::take_move_request))
//! and answers in the slot's answer word.

use super::reader::{read_file, FlowKind};
use super::registry::file_path;
use super::registry::{MoveOutcome, MoveTarget};
use super::FlowsError;
use crate::counters::{
    offsets, HEADER_SIZE, MOVE_DONE, MOVE_FAILED, MOVE_INVALID, MOVE_TO_SHM, MOVE_TO_TCP,
    MOVE_UNSUPPORTED, SLOTS, SLOT_SIZE,
};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A request sent: what [`move_answer`] looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveRequest {
    /// The owning process.
    pub pid: u32,
    /// The flow's slot.
    pub slot: u32,
    /// The request's number (24 bits, never 0).
    pub number: u32,
}

fn slot_offset(slot: u32) -> u64 {
    (HEADER_SIZE + slot as usize * SLOT_SIZE) as u64
}

/// Asks flow `slot` of process `pid` (its stats file in `dir`) to move to
/// `target`.
///
/// # Errors
/// [`FlowsError::NoSuchFlow`] when there is no live connection there;
/// [`FlowsError::CannotMove`] for a listener or a build that takes no
/// requests; [`FlowsError::Io`] when the word cannot be written.
pub fn request_move(
    dir: &Path,
    pid: u32,
    slot: u32,
    target: MoveTarget,
) -> Result<MoveRequest, FlowsError> {
    let path = file_path(dir, pid);
    let process = read_file(&path).map_err(|_| FlowsError::NoSuchFlow { pid, slot })?;
    let flow = process
        .flows
        .iter()
        .find(|f| f.slot == slot)
        .filter(|_| process.alive && (slot as usize) < SLOTS)
        .ok_or(FlowsError::NoSuchFlow { pid, slot })?;
    if flow.kind == FlowKind::Listener {
        return Err(FlowsError::CannotMove {
            what: format!(
                "{} (pid {pid}) is a listener: move one of its connections",
                flow.name
            ),
        });
    }
    if !flow.can_move {
        return Err(FlowsError::CannotMove {
            what: format!(
                "the connection {} in pid {pid} ({}) does not support moving: its mempipe \
                 build takes no move requests yet",
                flow.name, process.program
            ),
        });
    }
    let number = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos())
        & 0x00ff_ffff)
        .max(1);
    let code = match target {
        MoveTarget::SharedMemory => MOVE_TO_SHM,
        MoveTarget::Tcp => MOVE_TO_TCP,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| FlowsError::io(&path, "open for the move request", e))?;
    file.write_all_at(
        &((number << 8) | code).to_le_bytes(),
        slot_offset(slot) + offsets::MOVE_REQUEST as u64,
    )
    .map_err(|e| FlowsError::io(&path, "write the move request", e))?;
    Ok(MoveRequest { pid, slot, number })
}

/// The answer to `request`, if the flow gave one yet.
///
/// # Errors
/// [`FlowsError::Io`] when the file cannot be read (the process ended and
/// its file was removed).
pub fn move_answer(dir: &Path, request: &MoveRequest) -> Result<Option<MoveOutcome>, FlowsError> {
    let path = file_path(dir, request.pid);
    let file = std::fs::File::open(&path).map_err(|e| FlowsError::io(&path, "open", e))?;
    let mut word = [0u8; 4];
    file.read_exact_at(
        &mut word,
        slot_offset(request.slot) + offsets::MOVE_ANSWER as u64,
    )
    .map_err(|e| FlowsError::io(&path, "read the move answer", e))?;
    let answer = u32::from_le_bytes(word);
    if answer >> 8 != request.number {
        return Ok(None);
    }
    Ok(match answer & 0xff {
        MOVE_DONE => Some(MoveOutcome::Done),
        MOVE_FAILED => Some(MoveOutcome::Failed),
        MOVE_UNSUPPORTED => Some(MoveOutcome::Unsupported),
        MOVE_INVALID => Some(MoveOutcome::Invalid),
        _ => None,
    })
}
