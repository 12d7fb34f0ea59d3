//! Flows you can see: every listener and connection publishes its counters
//! in its process's stats file, `PID.flows` in the per-user rendezvous
//! directory, which other processes of the user read without disturbing it
//! (the `mempipe` command: `ls`, `stat`, `top`, `clean`, `move`).
//!
//! The file is mapped by its owner and holds fixed-size slots, one per
//! listener or connection. A slot's sending and receiving counters each fill
//! a cache line only that direction's thread writes: a message costs a
//! relaxed load and store of two words there, no system call and no line
//! shared with the peer. Identities (name, peer, transport) change under a
//! sequence word, so a reader never takes a half-written one. The owner
//! holds the file locked (flock) for its life: a file whose lock can be
//! taken belongs to a dead process. Readers use `pread` and treat the file as
//! untrusted. Set `MEMPIPE_FLOW_STATS=0` to publish nothing.
//!
//! A flow can be asked to change transport ([`request_move`]): the requester
//! writes one word of the slot; the owner takes it with a crate-internal
//! call and answers in another word.

mod clean;
mod control;
pub(crate) mod publish;
mod reader;
pub(crate) mod registry;

pub use clean::{clean, Leftover, LeftoverKind};
pub use control::{move_answer, request_move, MoveRequest};
pub use reader::{
    read_dir, read_file, Flow, FlowKind, FlowTransport, ProcessFlows, Role, SideStats,
};
pub use registry::STATS_ENV;
pub use registry::{MoveOutcome, MoveTarget};

use std::path::{Path, PathBuf};

/// The directory stats files are in: the per-user rendezvous directory
/// (`$XDG_RUNTIME_DIR/mempipe`, else `/tmp/mempipe-UID`, else `$HOME/.mempipe`).
pub fn default_dir() -> PathBuf {
    super::rendezvous::default_dir()
}

/// What went wrong reading or writing a stats file or its directory.
#[derive(Debug, thiserror::Error)]
pub enum FlowsError {
    /// A system call on a file failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a stats file this version reads (another version, or
    /// something else in its place); it is skipped.
    #[error("{} is not a readable stats file: {why}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// No such flow: the process or slot is gone, or was never there.
    #[error("no flow in slot {slot} of process {pid}: it ended, or the process did")]
    NoSuchFlow {
        /// The process.
        pid: u32,
        /// The slot.
        slot: u32,
    },
    /// The flow is a listener, or its build takes no move requests.
    #[error("{what}")]
    CannotMove {
        /// Why, in words.
        what: String,
    },
}

impl FlowsError {
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        FlowsError::Io {
            path: path.to_owned(),
            op,
            source,
        }
    }
}
