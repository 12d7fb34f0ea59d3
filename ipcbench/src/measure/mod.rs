//! The measurement loops both processes run over their endpoints.
//!
//! Latency: the parent pings, the child echoes; every round trip after the
//! warm-up is timed with `Instant` (CLOCK_MONOTONIC via the vDSO, no syscall) and
//! recorded in an HDR histogram. Throughput: the parent streams, the child
//! counts and finally acknowledges over the same transport; the parent's
//! clock stops when that acknowledgement arrives.
//!
//! The loops drive an [`Endpoint`], one side of an established channel; transports implement it
//! (see `crate::transport`), so data flows one way: a transport knows the interface, the loops
//! know no transport.

pub(crate) mod latency;
pub(crate) mod message;
pub(crate) mod throughput;

use latency::{EchoRun, PingRun};
use std::time::Duration;
use throughput::{SinkRun, StreamRun};

/// How a loop ended when it did not finish normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
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

/// Why a send or receive did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum XferError {
    /// The cell's deadline passed or the user pressed Ctrl-C.
    #[error("stopped (deadline or interrupt)")]
    Stopped,
    /// The peer closed its end (usually: it exited).
    #[error("peer closed the connection")]
    Closed,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A message of the wrong size or content.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<rustix::io::Errno> for XferError {
    fn from(e: rustix::io::Errno) -> Self {
        XferError::Io(e.into())
    }
}

/// One side of an established channel. Used from one thread only.
///
/// Blocking implementations must return [`XferError::Stopped`] when a call
/// is interrupted (EINTR) and `crate::stop::should_stop()` is true; spinning
/// implementations must poll `should_stop()` while they wait. That is how a
/// stuck cell is bounded: the watchdog sets the flag and signals the thread.
pub(crate) trait Endpoint {
    /// Send one message. `msg` may be reused as soon as this returns.
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError>;

    /// Receive the next message, which is exactly `len` bytes long (both
    /// sides always know the length), and hand it to `consume`. Copy
    /// transports read into a buffer of their own first; zero-copy
    /// transports may pass a view into shared memory that stays valid only
    /// while `consume` runs.
    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError>;

    /// The parent's ping loop ([`latency::ping`]) over this endpoint.
    ///
    /// The four loop methods are not for overriding: they are where a cell enters the loops.
    /// Each endpoint type gets its own copy of them through its vtable, so inside the loop the
    /// per-message `send` and `recv_with` calls are direct (and inlined), as in a user's
    /// program, not a virtual call per hop (calling `latency::ping` on a `dyn Endpoint` would
    /// make every hop one).
    fn ping(&mut self, size: usize, warmup: Duration, duration: Duration, verify: bool) -> PingRun {
        latency::ping(self, size, warmup, duration, verify)
    }

    /// The child's echo loop ([`latency::echo`]) over this endpoint.
    fn echo(&mut self, size: usize, verify: bool) -> EchoRun {
        latency::echo(self, size, verify)
    }

    /// The parent's stream ([`throughput::stream`]) over this endpoint.
    fn stream(
        &mut self,
        size: usize,
        warmup: Duration,
        duration: Duration,
        verify: bool,
        window: Option<u64>,
    ) -> StreamRun {
        throughput::stream(self, size, warmup, duration, verify, window)
    }

    /// The child's sink ([`throughput::sink`]) over this endpoint.
    fn sink(&mut self, size: usize, verify: bool, window: Option<u64>) -> SinkRun {
        throughput::sink(self, size, verify, window)
    }

    /// How many pages of this endpoint's shared memory sit on each NUMA
    /// node, as `(node, pages)`, for transports whose memory can say (the
    /// mempipe rings). Asked after the measurement, when every page the
    /// cell used has been touched.
    fn ring_pages(&self) -> Option<Vec<(u32, usize)>> {
        None
    }
}
