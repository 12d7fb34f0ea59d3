//! Transports backed by other IPC libraries, for comparison with mempipe.
//! Compiled only with `--features peers` (off by default; CI does not build
//! it). Each library lives in its own module and registers its variants in
//! [`TRANSPORTS`].
//!
//! Leftovers: a peer library may keep named resources (files, shared memory)
//! of its own. Every module here must confine them to names that start with
//! the cell's `name_prefix` (`ipcbench-<pid>-...`) in /dev/shm or in the temp
//! dir, so that the parent's `Drop` can remove them and `ipcbench clean`
//! recognises them after a killed run.

pub(crate) mod iceoryx2;

use super::Transport;

/// The peer-library transports, in the order `ipcbench list` shows them.
pub(crate) static TRANSPORTS: &[&dyn Transport] = &[&iceoryx2::POLL, &iceoryx2::WAIT];
