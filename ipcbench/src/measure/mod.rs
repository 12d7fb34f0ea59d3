//! The measurement loops both processes run over their endpoints.
//!
//! Latency: the parent pings, the child echoes; every round trip after the
//! warm-up is timed with `Instant` (CLOCK_MONOTONIC via the vDSO, no syscall) and
//! recorded in an HDR histogram. Throughput: the parent streams, the child
//! counts and finally acknowledges over the same transport; the parent's
//! clock stops when that acknowledgement arrives.

pub mod latency;
pub mod message;
pub mod throughput;

use crate::transport::XferError;

/// How a loop ended when it did not finish normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Finished its planned work.
    Done,
    /// Stopped by the deadline or Ctrl-C, with partial data.
    Stopped,
    /// Failed (peer gone, I/O or protocol error), with partial data.
    Failed(String),
}

impl From<XferError> for Ended {
    fn from(e: XferError) -> Self {
        match e {
            XferError::Stopped => Ended::Stopped,
            e => Ended::Failed(e.to_string()),
        }
    }
}
