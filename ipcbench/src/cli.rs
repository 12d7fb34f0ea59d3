//! Command line: `ipcbench [run] [OPTIONS]`, `list`, `topology`,
//! `report FILES...`, `check FILES...`, `rpc`, `clean`, and the hidden `__child` and
//! `__rpc-server`.

use crate::results::CorePair;
use crate::transport::{self, MAX_MESSAGE_SIZE};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "ipcbench",
    version,
    about = "Per-core-pair IPC latency and throughput between two pinned processes",
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Options for the default `run` command.
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the benchmark suite (the default when no command is given).
    Run(RunArgs),
    /// List the transports with a one-line description each.
    List,
    /// Show the CPU topology and the core pairs `representative` picks.
    Topology,
    /// Render an HTML report from result files.
    Report {
        /// Result files (.json) written by `ipcbench run`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output HTML file.
        #[arg(long, short, default_value = "ipcbench-report.html")]
        out: PathBuf,
    },
    /// Print mempipe's performance targets against result files: figures, ratio, goal, and
    /// PASS / SHORT / NOT MEASURED. Exits 0 for any readable file (a report, not a test).
    Check {
        /// Result files (.json) written by `ipcbench run`, checked in turn.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the verdicts as JSON (an array with one entry per file) for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print the machine profile a result file implies (wake cost, streaming ring size,
    /// whether spinning pays off), which mempipe connections use to choose their transport.
    Profile {
        /// A result file (.json) written by `ipcbench run`.
        file: PathBuf,
        /// Also write it to the per-user location connections read
        /// ($XDG_CONFIG_HOME/mempipe/machine-profile, else ~/.config/mempipe/machine-profile).
        #[arg(long)]
        install: bool,
    },
    /// Time name resolution and connect by name through the local name service and,
    /// given an endpoint, etcd (p50/p99 in alternating rounds); writes names-*.json.
    Names {
        /// etcd endpoint(s), comma-separated (else MEMPIPE_ETCD); without one etcd is
        /// skipped. ipcbench starts no etcd; the build needs `--features etcd`.
        #[arg(long)]
        etcd: Option<String>,
        /// Calls timed per service and round.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        samples: u32,
        /// Measured rounds (after one warm-up round), alternating the services.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
        rounds: u32,
        /// Directory for the result file.
        #[arg(long, default_value = "ipcbench-results")]
        out: PathBuf,
    },
    /// Request/response side by side: unary gRPC (tonic) and HTTP/1.1 GET (hyper) over a
    /// mempipe connection, a UNIX socket and loopback TCP; p50/p99 and requests per second.
    Rpc(crate::rpc::RpcArgs),
    /// Remove leftovers of killed runs (shared-memory names, orphaned children).
    Clean,
    /// Many client processes into one server thread: requests/s, p50/p99, per-client
    /// fairness and idle server CPU, for mempipe and socket servers.
    Fanin(crate::fanin::FaninArgs),
    /// Internal: one fan-in client process.
    #[command(name = "__fanin-client", hide = true)]
    FaninClient { spec: String },
    /// Internal: the child side of one measurement.
    #[command(name = "__child", hide = true)]
    Child { spec: String },
    /// Internal: the server process of `ipcbench rpc`.
    #[command(name = "__rpc-server", hide = true)]
    RpcServer { spec: String },
}

/// Which core pairs to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PairsArg {
    /// Full matrix if the estimate fits the time budget, else representative.
    Auto,
    Full,
    Representative,
    List(Vec<CorePair>),
}

#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Transports to run, comma-separated (see `ipcbench list`), or `all`.
    #[arg(long, short, value_delimiter = ',', value_parser = parse_transport)]
    pub(crate) transports: Vec<String>,
    /// Ping-pong message sizes, e.g. `8,64,4K` (suffixes K, M; 1 B to 64 MiB).
    #[arg(long, value_parser = parse_size_list)]
    pub(crate) latency_sizes: Option<SizeList>,
    /// Streaming message sizes, e.g. `64,4K,64K,1M`.
    #[arg(long, value_parser = parse_size_list)]
    pub(crate) throughput_sizes: Option<SizeList>,
    /// Core pairs: `auto`, `full`, `representative`, or a list `0:1,1:0,0:0`
    /// (initiator:responder).
    #[arg(long, default_value = "auto", value_parser = parse_pairs)]
    pub(crate) pairs: PairsArg,
    /// Only latency or only throughput cells.
    #[arg(long, value_parser = ["latency", "throughput", "both"], default_value = "both")]
    pub(crate) kind: String,
    /// Measured time per repeat in milliseconds [default: 60; --quick: 10].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub(crate) duration_ms: Option<u64>,
    /// Warm-up per repeat in milliseconds, not recorded [default: 10; --quick: 2].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub(crate) warmup_ms: Option<u64>,
    /// Repeats per cell, each with fresh processes and channels [default: 3; --quick: 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) repeats: Option<u32>,
    /// CI smoke run: 8 B latency and 4 KiB throughput only, representative
    /// pairs, tiny durations (a few seconds in all).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Put a sequence number and checksum in every message; the receiver checks them.
    #[arg(long)]
    pub(crate) verify: bool,
    /// Directory for the result files.
    #[arg(long, default_value = "ipcbench-results")]
    pub(crate) out: PathBuf,
    /// Print the plan and the estimated duration, then exit without measuring.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Time budget for `--pairs auto`, seconds: above it, representative pairs.
    #[arg(long, default_value_t = 240)]
    pub(crate) budget_s: u64,
}

/// A parsed, non-empty list of sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SizeList(pub Vec<usize>);

/// Parse `8`, `4K`, `1M` (binary units) into bytes; 1 B ..= 64 MiB.
pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1024),
        Some('m' | 'M') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t.strip_suffix(['b', 'B']).unwrap_or(t), 1),
    };
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size (use e.g. 64, 4K, 1M)"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    if bytes == 0 {
        return Err("sizes must be at least 1 byte".into());
    }
    if bytes > MAX_MESSAGE_SIZE {
        return Err(format!("'{s}' is larger than the 64M maximum"));
    }
    Ok(bytes)
}

pub(crate) fn parse_size_list(s: &str) -> Result<SizeList, String> {
    let sizes = s
        .split(',')
        .map(parse_size)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SizeList(sizes))
}

fn parse_transport(s: &str) -> Result<String, String> {
    if s == "all" || transport::find(s).is_some() {
        return Ok(s.to_string());
    }
    let known: Vec<&str> = transport::registry().iter().map(|t| t.name()).collect();
    Err(format!(
        "unknown transport '{s}'; known transports: all, {}",
        known.join(", ")
    ))
}

pub(crate) fn parse_pairs(s: &str) -> Result<PairsArg, String> {
    match s {
        "auto" => return Ok(PairsArg::Auto),
        "full" => return Ok(PairsArg::Full),
        "representative" => return Ok(PairsArg::Representative),
        _ => {}
    }
    let pair = |p: &str| -> Result<CorePair, String> {
        let (a, b) = p.split_once(':').ok_or_else(|| bad_pairs(p))?;
        let cpu = |x: &str| x.trim().parse::<usize>().map_err(|_| bad_pairs(p));
        Ok(CorePair {
            a: cpu(a)?,
            b: cpu(b)?,
        })
    };
    Ok(PairsArg::List(
        s.split(',').map(pair).collect::<Result<_, _>>()?,
    ))
}

fn bad_pairs(p: &str) -> String {
    format!("'{p}' is not a core pair; use full, representative, auto or a list like 0:1,1:0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_suffixes_and_reject_zero_and_huge() {
        assert_eq!(parse_size("8"), Ok(8));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("65M").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999999999K").is_err());
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(parse_pairs("full"), Ok(PairsArg::Full));
        assert_eq!(
            parse_pairs("0:1,1:1"),
            Ok(PairsArg::List(vec![
                CorePair { a: 0, b: 1 },
                CorePair { a: 1, b: 1 }
            ]))
        );
        assert!(parse_pairs("0-1").is_err());
    }

    #[test]
    fn unknown_transport_lists_known_ones() {
        let e = parse_transport("carrier-pigeon").unwrap_err();
        assert!(e.contains("pipe") && e.contains("limit"));
    }
}
