//! The versioned, self-describing result file written by `ipcbench run` and read by
//! `ipcbench report`.
//!
//! A result file must make sense on its own, months later and on another machine: it carries the
//! tool version, the machine it was measured on (topology included, so the report can classify
//! core pairs without re-reading sysfs), the parameters, and one [`Cell`] per measurement.
//! Units are in field names (`_ns`, `_bytes`, `_per_sec`, `_ms`, `_s`) so a reader of the raw
//! JSON never has to guess.
//!
//! Compatibility: [`SCHEMA_VERSION`] is bumped on any change an older reader would misread.
//! Adding an optional field is not such a change (unknown fields are ignored on read, missing
//! `Option`/`Vec` fields default). [`read_json`] refuses files from a newer schema with a message
//! that says to upgrade, instead of a confusing serde error.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) use crate::machine::Machine;

pub(crate) mod query;
pub(crate) mod rpc;

/// Schema version written by this build and the newest one it can read.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Errors from reading or writing result files; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResultsError {
    /// The file could not be opened, read, created or written.
    #[error("cannot access result file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or not a result file of a schema version we understand.
    #[error("result file {path} is not a valid ipcbench result file: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The file is JSON but has no `schema_version` (not an ipcbench result file).
    #[error("result file {path} has no schema_version field: not an ipcbench result file")]
    MissingVersion { path: PathBuf },
    /// The file was written by a newer ipcbench.
    #[error(
        "result file {path} has schema version {found}; this ipcbench reads up to {supported}: upgrade ipcbench"
    )]
    NewerSchema {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    /// Writing the CSV export failed.
    #[error("cannot write CSV file {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
}

/// One complete benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResultFile {
    /// Layout version of this file; see [`SCHEMA_VERSION`].
    pub(crate) schema_version: u32,
    /// Which program wrote the file.
    pub(crate) tool: Tool,
    /// Wall-clock time the run started, seconds since the Unix epoch.
    pub(crate) created_unix_s: u64,
    /// The machine the run was measured on.
    pub(crate) machine: Machine,
    /// What was asked for.
    pub(crate) params: Params,
    /// One entry per (transport, kind, size, core pair) measured or attempted.
    #[serde(default)]
    pub(crate) cells: Vec<Cell>,
    /// Request/response results (`ipcbench rpc`), when the run measured them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rpc: Option<rpc::RpcRun>,
}

impl ResultFile {
    /// A file for a run starting now, with no cells yet.
    pub(crate) fn new(machine: Machine, params: Params) -> Self {
        let created_unix_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        ResultFile {
            schema_version: SCHEMA_VERSION,
            tool: Tool::current(),
            created_unix_s,
            machine,
            params,
            cells: Vec::new(),
            rpc: None,
        }
    }
}

/// The program that produced a result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tool {
    /// Always "ipcbench" for files written by this tool.
    pub(crate) name: String,
    /// Crate version (`CARGO_PKG_VERSION`).
    pub(crate) version: String,
    /// Commit the binary was built from, when the build recorded it
    /// (environment variable `IPCBENCH_GIT_COMMIT` at compile time).
    #[serde(default)]
    pub(crate) git_commit: Option<String>,
}

impl Tool {
    /// This build of ipcbench.
    pub(crate) fn current() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("IPCBENCH_GIT_COMMIT").map(str::to_string),
        }
    }
}

/// The parameters of a run, as resolved (defaults filled in), so a reader knows what was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Params {
    /// Message sizes for ping-pong latency, bytes.
    pub(crate) latency_sizes_bytes: Vec<u64>,
    /// Message sizes for one-way streaming throughput, bytes.
    pub(crate) throughput_sizes_bytes: Vec<u64>,
    /// Warm-up before each measurement, milliseconds (not recorded).
    pub(crate) warmup_ms: u64,
    /// Measured time per repeat, milliseconds.
    pub(crate) duration_ms: u64,
    /// Independent repeats per cell (fresh processes/channels each time).
    pub(crate) repeats: u32,
    /// Core pairs measured, in order.
    pub(crate) pairs: Vec<CorePair>,
    /// Transport names measured, in order.
    pub(crate) transports: Vec<String>,
    /// Whether throughput runs checked message contents.
    pub(crate) verify: bool,
    /// NUMA memory placement policy used for shared memory, if any (e.g. "local", "a", "b").
    #[serde(default)]
    pub(crate) numa_placement: Option<String>,
}

/// An ordered pair of logical CPUs.
///
/// `a` is the initiator (latency: sends the ping) or producer (throughput); `b` is the responder
/// or consumer. `a == b` means both processes share one CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct CorePair {
    /// Initiator / producer CPU.
    pub(crate) a: usize,
    /// Responder / consumer CPU.
    pub(crate) b: usize,
}

impl fmt::Display for CorePair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.a, self.b)
    }
}

/// What a cell measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// Ping-pong round trips of one message each way.
    Latency,
    /// One-way streaming as fast as possible.
    Throughput,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Latency => "latency",
            Kind::Throughput => "throughput",
        })
    }
}

/// How a cell's measurement ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Status {
    /// Measured; the stats are present.
    Ok,
    /// The peer did not answer in time (e.g. a spinning transport with both ends on one CPU).
    TimedOut,
    /// Deliberately not run.
    Skipped {
        /// Why, for people.
        reason: String,
    },
    /// The measurement failed.
    Failed {
        /// The error, for people.
        error: String,
    },
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Ok => f.write_str("ok"),
            Status::TimedOut => f.write_str("timed_out"),
            Status::Skipped { reason } => write!(f, "skipped: {reason}"),
            Status::Failed { error } => write!(f, "failed: {error}"),
        }
    }
}

impl Status {
    /// Short machine-readable name ("ok", "timed_out", "skipped", "failed").
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::TimedOut => "timed_out",
            Status::Skipped { .. } => "skipped",
            Status::Failed { .. } => "failed",
        }
    }
}

/// One measurement: a transport, a kind, a size, a core pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cell {
    /// Transport name as given on the command line (e.g. "pipe", "mempipe-spin", "limit").
    pub(crate) transport: String,
    /// Latency or throughput.
    pub(crate) kind: Kind,
    /// Message size, bytes.
    pub(crate) size_bytes: u64,
    /// Where the two processes ran.
    pub(crate) pair: CorePair,
    /// How it ended.
    pub(crate) status: Status,
    /// Present for `Kind::Latency` cells that ran.
    #[serde(default)]
    pub(crate) latency: Option<LatencyStats>,
    /// Present for `Kind::Throughput` cells that ran.
    #[serde(default)]
    pub(crate) throughput: Option<ThroughputStats>,
    /// Where the parent's rings' pages were at the end of the cell, per NUMA
    /// node (mempipe rings only; absent for other transports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ring_pages: Option<Vec<NodePages>>,
}

/// Pages of a cell's shared memory on one NUMA node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodePages {
    /// The node.
    pub(crate) node: u32,
    /// Pages on it.
    pub(crate) pages: u64,
}

/// Order statistics of a set of samples, nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct Percentiles {
    pub(crate) min: u64,
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    /// 99.9th percentile.
    pub(crate) p999: u64,
    pub(crate) max: u64,
    /// Arithmetic mean (not an order statistic; sensitive to outliers).
    pub(crate) mean: f64,
}

/// Ping-pong latency of one cell, all repeats merged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct LatencyStats {
    /// Round trips recorded, all repeats together.
    pub(crate) samples: u64,
    /// Round-trip time distribution, nanoseconds.
    pub(crate) rtt_ns: Percentiles,
    /// Estimated one-way latency: `rtt_ns.p50 / 2`. An estimate, not a one-way measurement
    /// (the two directions are assumed symmetric).
    pub(crate) one_way_p50_ns: f64,
    /// Round-trip p50 of each repeat separately, nanoseconds: the spread between repeats.
    #[serde(default)]
    pub(crate) repeats_p50_ns: Vec<f64>,
    /// Compact percentile curve for plotting: `(percentile 0..100, rtt ns)`, ascending.
    #[serde(default)]
    pub(crate) distribution: Vec<(f64, u64)>,
}

impl LatencyStats {
    /// The round-trip p50 that ratios use: the median of the repeats' p50s (each repeat
    /// has fresh processes, and on a VM it may catch another vCPU placement; a merged
    /// histogram would favour whichever repeat fitted most round trips in its time), or
    /// the merged p50 when no repeats were recorded.
    pub(crate) fn rtt_p50_over_repeats(&self) -> f64 {
        let mut v = self.repeats_p50_ns.clone();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => self.rtt_ns.p50 as f64,
            n => v[n / 2],
        }
    }
}

/// One-way streaming throughput of one cell.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct ThroughputStats {
    /// Messages received, all repeats together.
    pub(crate) messages: u64,
    /// Payload bytes received, all repeats together.
    pub(crate) bytes: u64,
    /// Measured time, all repeats together, seconds.
    pub(crate) seconds: f64,
    /// `messages / seconds`.
    pub(crate) msgs_per_sec: f64,
    /// `bytes / seconds`.
    pub(crate) bytes_per_sec: f64,
    /// Bytes per second of each repeat separately: the spread between repeats.
    #[serde(default)]
    pub(crate) repeats_bytes_per_sec: Vec<f64>,
    /// Whether every received message's contents were checked and correct.
    pub(crate) verified: bool,
}

/// Writes `file` as pretty JSON (people read these files too).
pub(crate) fn write_json(file: &ResultFile, path: &Path) -> Result<(), ResultsError> {
    let io_err = |source| ResultsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = File::create(path).map_err(io_err)?;
    let mut w = BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, file).map_err(|source| ResultsError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    w.write_all(b"\n").map_err(io_err)?;
    w.flush().map_err(io_err)
}

/// Reads a result file, refusing files from a newer schema with an "upgrade ipcbench" message.
pub(crate) fn read_json(path: &Path) -> Result<ResultFile, ResultsError> {
    let f = File::open(path).map_err(|source| ResultsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_reader(BufReader::new(f)).map_err(|source| ResultsError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    from_value(value, path)
}

/// Checks the version before the full parse so that a newer file gets the "upgrade" message
/// rather than an error about whatever field changed.
fn from_value(value: serde_json::Value, path: &Path) -> Result<ResultFile, ResultsError> {
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| ResultsError::MissingVersion {
            path: path.to_path_buf(),
        })?;
    if version > u64::from(SCHEMA_VERSION) {
        return Err(ResultsError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(value).map_err(|source| ResultsError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// One flat CSV row per cell, for spreadsheets and pandas. Empty strings where a value does not
/// apply (e.g. latency columns of a throughput cell).
#[derive(Debug, Serialize)]
struct CsvRow<'a> {
    transport: &'a str,
    kind: Kind,
    size_bytes: u64,
    cpu_a: usize,
    cpu_b: usize,
    status: &'static str,
    status_detail: &'a str,
    samples: Option<u64>,
    rtt_min_ns: Option<u64>,
    rtt_p50_ns: Option<u64>,
    rtt_p90_ns: Option<u64>,
    rtt_p99_ns: Option<u64>,
    rtt_p999_ns: Option<u64>,
    rtt_max_ns: Option<u64>,
    rtt_mean_ns: Option<f64>,
    one_way_p50_ns: Option<f64>,
    messages: Option<u64>,
    bytes: Option<u64>,
    seconds: Option<f64>,
    msgs_per_sec: Option<f64>,
    bytes_per_sec: Option<f64>,
    verified: Option<bool>,
}

impl<'a> CsvRow<'a> {
    fn from_cell(c: &'a Cell) -> Self {
        let l = c.latency.as_ref();
        let t = c.throughput.as_ref();
        CsvRow {
            transport: &c.transport,
            kind: c.kind,
            size_bytes: c.size_bytes,
            cpu_a: c.pair.a,
            cpu_b: c.pair.b,
            status: c.status.name(),
            status_detail: match &c.status {
                Status::Skipped { reason } => reason,
                Status::Failed { error } => error,
                _ => "",
            },
            samples: l.map(|l| l.samples),
            rtt_min_ns: l.map(|l| l.rtt_ns.min),
            rtt_p50_ns: l.map(|l| l.rtt_ns.p50),
            rtt_p90_ns: l.map(|l| l.rtt_ns.p90),
            rtt_p99_ns: l.map(|l| l.rtt_ns.p99),
            rtt_p999_ns: l.map(|l| l.rtt_ns.p999),
            rtt_max_ns: l.map(|l| l.rtt_ns.max),
            rtt_mean_ns: l.map(|l| l.rtt_ns.mean),
            one_way_p50_ns: l.map(|l| l.one_way_p50_ns),
            messages: t.map(|t| t.messages),
            bytes: t.map(|t| t.bytes),
            seconds: t.map(|t| t.seconds),
            msgs_per_sec: t.map(|t| t.msgs_per_sec),
            bytes_per_sec: t.map(|t| t.bytes_per_sec),
            verified: t.map(|t| t.verified),
        }
    }
}

/// Writes one CSV row per cell (with a header row).
pub(crate) fn write_csv(file: &ResultFile, path: &Path) -> Result<(), ResultsError> {
    let csv_err = |source| ResultsError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    for cell in &file.cells {
        w.serialize(CsvRow::from_cell(cell)).map_err(csv_err)?;
    }
    w.flush().map_err(|source| ResultsError::Io {
        path: path.to_path_buf(),
        source,
    })
}
