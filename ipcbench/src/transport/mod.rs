//! The transports ipcbench measures, all behind one pair of traits.
//!
//! A [`Transport`] is a stateless recipe. For each measured cell the parent
//! calls [`Transport::create`], which builds the resources (fds, shared
//! mappings, names) and returns the parent's [`Endpoint`] plus a [`Handoff`]
//! for the child. The runner passes the handoff's fds to the re-executed child
//! (CLOEXEC cleared, numbers listed in its argv) together with its strings; the
//! child calls [`Transport::attach`] with an equivalent handoff and gets its own
//! endpoint. Then the measurement loops in `crate::measure` drive both
//! endpoints: a ping-pong for latency or a one-way stream for throughput.
//!
//! Adding a transport: a module with a type that implements [`Transport`],
//! an [`Endpoint`] for each side (`fdio::FdEndpoint` covers descriptors; the
//! shared-memory ones have their own), and one line in [`registry`]. The
//! runner, the CLI (`--transports`), `list`, the results and the summary pick
//! it up by name. The smallest real one is `pipe.rs`, in short:
//!
//! ```text
//! pub struct Pipe;
//!
//! impl Transport for Pipe {
//!     fn name(&self) -> &'static str { "pipe" }
//!     fn description(&self) -> &'static str { "two anonymous pipes (one per direction), ..." }
//!     fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
//!         let (to_child_r, to_child_w) = std::io::pipe()?;
//!         let (to_parent_r, to_parent_w) = std::io::pipe()?;
//!         // Buffers must hold p.buffer_len() bytes: the message or a control message.
//!         let ep = FdEndpoint::stream_pair(to_parent_r.into(), to_child_w.into(), p.buffer_len());
//!         let fds = vec![to_child_r.into(), to_parent_w.into()]; // the child's ends, in order
//!         Ok((Box::new(ep), Handoff { fds, args: vec![] }))
//!     }
//!     fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
//!         let [rx, tx] = take_fds::<2>(h, "pipe")?;
//!         Ok(Box::new(FdEndpoint::stream_pair(rx, tx, p.buffer_len())))
//!     }
//! }
//! ```
//!
//! and `&pipe::Pipe` in [`registry`]. A spinning transport also overrides
//! [`Transport::spins`] (for the time estimate), a lossy one
//! [`Transport::flow_window`], one with a size limit [`Transport::max_size`];
//! `mempipe.rs` shows a family of variants from one type.
//!
//! Rules: blocking waits must return [`XferError::Stopped`] on EINTR when
//! `crate::stop::should_stop()` is true, and spinning waits must poll
//! `should_stop()` (e.g. every 1024 spins); otherwise a stuck cell is only
//! ended by killing the child, and the parent may hang. Names in /dev/shm
//! must start with `p.name_prefix` and be unlinked in `Drop` of the parent's
//! endpoint (`ipcbench clean` removes those of killed runs).

pub(crate) mod async_conn;
pub(crate) mod conn_shm;
pub(crate) mod conn_tcp;
pub(crate) mod conn_tls;
pub(crate) mod eventfd;
pub(crate) mod fdio;
pub(crate) mod futex;
pub(crate) mod limit;
pub(crate) mod mempipe;
#[cfg(feature = "peers")]
pub(crate) mod peers;
pub(crate) mod pipe;
pub(crate) mod ring;
pub(crate) mod shm;
pub(crate) mod tcp;
pub(crate) mod udp;
pub(crate) mod unix_seqpacket;
pub(crate) mod unix_stream;

pub(crate) use crate::capacity::ring_capacity;
pub(crate) use crate::measure::{Endpoint, XferError};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;

/// Largest message ipcbench accepts at all (64 MiB).
pub(crate) const MAX_MESSAGE_SIZE: usize = 64 << 20;

/// Which measurement a cell runs (the result schema's kind).
pub(crate) use crate::results::Kind;

/// What a transport needs to know before it creates its resources.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CellParams {
    pub(crate) kind: Kind,
    /// Payload size of the measured messages in bytes. Control messages
    /// (acks, credits) are at most [`crate::measure::message::CONTROL_LEN`]
    /// bytes, so buffers must hold `max(size, CONTROL_LEN)`.
    pub(crate) size: usize,
    /// Unique prefix for anything named (memfd names, shm names, paths):
    /// `ipcbench-<pid>-<random>-c<cell>`. `ipcbench clean` removes leftovers
    /// under /dev/shm and the temp dir that start with `ipcbench-`.
    pub(crate) name_prefix: String,
}

impl CellParams {
    /// Bytes a buffer must hold for the measured and the control messages.
    pub(crate) fn buffer_len(&self) -> usize {
        self.size.max(crate::measure::message::CONTROL_LEN)
    }
}

/// What the parent gives the child: inherited fds (in order) and strings.
/// The child receives an equal `Handoff` (same order) in `attach`.
#[derive(Debug, Default)]
pub(crate) struct Handoff {
    pub(crate) fds: Vec<OwnedFd>,
    pub(crate) args: Vec<String>,
}

/// A closed or dead peer ends the cell as [`XferError::Closed`]; anything
/// else mempipe reports is kept with its message.
impl From<::mempipe::SendError> for XferError {
    fn from(e: ::mempipe::SendError) -> Self {
        use ::mempipe::SendError;
        match e {
            SendError::Disconnected | SendError::PeerDied { .. } => XferError::Closed,
            SendError::Io(e) => XferError::Io(e),
            e => XferError::Protocol(e.to_string()),
        }
    }
}

/// As for [`::mempipe::SendError`].
impl From<::mempipe::RecvError> for XferError {
    fn from(e: ::mempipe::RecvError) -> Self {
        use ::mempipe::RecvError;
        match e {
            RecvError::Disconnected | RecvError::PeerDied { .. } => XferError::Closed,
            RecvError::Io(e) => XferError::Io(e),
            e => XferError::Protocol(e.to_string()),
        }
    }
}

/// A transport recipe; see the module docs for the life cycle.
pub(crate) trait Transport: Sync {
    /// Name used on the command line and in results (`tcp-nodelay`).
    fn name(&self) -> &'static str;
    /// One line for `ipcbench list`.
    fn description(&self) -> &'static str;
    /// Largest payload this transport can carry in one message; larger
    /// cells are skipped with a recorded reason.
    fn max_size(&self) -> usize {
        MAX_MESSAGE_SIZE
    }
    /// True if a waiting side spins instead of sleeping in the kernel: on a
    /// shared core every hand-off then costs a scheduler tick (4 ms at HZ=250).
    fn spins(&self) -> bool {
        false
    }
    /// For lossy transports (UDP): the sender may be at most this many
    /// messages ahead of the receiver, which returns credits. `None` for
    /// transports with back-pressure.
    fn flow_window(&self, _params: &CellParams) -> Option<u64> {
        None
    }
    /// Parent side: create the resources, return the parent's endpoint and
    /// what the child needs.
    fn create(&self, params: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)>;
    /// Child side: attach to what `create` made.
    fn attach(&self, params: &CellParams, handoff: Handoff) -> anyhow::Result<Box<dyn Endpoint>>;
}

/// All transports, in the order they are listed and run.
pub(crate) fn registry() -> Vec<&'static dyn Transport> {
    let mut out: Vec<&'static dyn Transport> = vec![
        &pipe::Pipe,
        &unix_stream::UnixStream,
        &unix_seqpacket::UnixSeqpacket,
        &tcp::TCP,
        &tcp::TCP_NODELAY,
        &udp::Udp,
        &eventfd::Eventfd,
        &futex::Futex,
        &limit::Limit,
    ];
    out.extend(mempipe::VARIANTS.iter().map(|v| v as &dyn Transport));
    out.extend(conn_shm::VARIANTS.iter().map(|v| v as &dyn Transport));
    out.push(&conn_tcp::ConnTcp);
    out.push(&conn_tls::ConnTls);
    out.extend(async_conn::VARIANTS.iter().map(|v| v as &dyn Transport));
    out.push(&async_conn::TokioUnixStream);
    #[cfg(feature = "peers")]
    out.extend(peers::TRANSPORTS.iter().copied());
    out
}

/// Look a transport up by name.
pub(crate) fn find(name: &str) -> Option<&'static dyn Transport> {
    registry().into_iter().find(|t| t.name() == name)
}

/// Take exactly `n` fds from a handoff (child side), with a clear error.
pub(crate) fn take_fds<const N: usize>(
    handoff: Handoff,
    what: &str,
) -> anyhow::Result<[OwnedFd; N]> {
    let got = handoff.fds.len();
    handoff
        .fds
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what}: expected {N} inherited fds, got {got}"))
}

#[cfg(test)]
mod tests;
