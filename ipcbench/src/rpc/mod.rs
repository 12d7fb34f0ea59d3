//! `ipcbench rpc`: request/response through real frameworks, side by side.
//! Unary gRPC (tonic) and HTTP/1.1 GET (hyper) over a mempipe connection by
//! name, a UNIX socket and loopback TCP; the client in this process on CPU
//! `a`, each server in its own re-executed process on CPU `b`, each on a
//! current-thread tokio runtime. Repeats run in rounds: a round starts a
//! fresh server per framework and transport, then measures every cell with
//! the transports innermost, so that a drift of the machine spreads over all
//! of them alike.
//!
//! [`via`] is the transports' one byte stream, [`grpc`] and [`http`] the
//! frameworks' servers and callers, [`load`] the callers' clock, [`server`]
//! the server process, [`table`] the terminal table and target ratios.

mod grpc;
mod http;
mod load;
pub(crate) mod server;
pub(crate) mod table;
mod via;

/// The examples' gRPC and HTTP code (echo service, generated proto, HTTP
/// handler and client), shared rather than copied.
#[path = "../../../examples/net/mod.rs"]
mod net;

use crate::machine::Machine;
use crate::results::rpc::{RpcCell, RpcRepeat, RpcRun};
use crate::results::{CorePair, Params, ResultFile};
use crate::{affinity, stop};
use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use server::{ServerProcess, ServerSpec};
use std::path::PathBuf;
use std::time::Duration;
use via::{Place, Via};

/// A request/response framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Framework {
    /// Unary gRPC with tonic (echo: the reply carries the request's payload).
    Grpc,
    /// HTTP/1.1 GET with hyper (the body is the payload).
    Http1,
}

impl Framework {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Framework::Grpc => "grpc",
            Framework::Http1 => "http1",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct RpcArgs {
    /// Frameworks, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values = ["grpc", "http1"])]
    pub(crate) frameworks: Vec<Framework>,
    /// Transports under them, comma-separated.
    #[arg(long, short, value_enum, value_delimiter = ',', default_values = ["mempipe", "unix", "tcp"])]
    pub(crate) transports: Vec<Via>,
    /// Payload sizes (gRPC request and reply; HTTP response body), e.g. `64,64K`.
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_values = ["64", "64K"])]
    pub(crate) sizes: Vec<u64>,
    /// Concurrent callers, comma-separated (1 to 1024 each).
    #[arg(long, value_delimiter = ',', default_values = ["1", "64"],
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) callers: Vec<u32>,
    /// Client CPU and server CPU, `a:b`.
    #[arg(long, default_value = "0:1", value_parser = parse_pair)]
    pub(crate) pair: CorePair,
    /// Measured window per repeat, milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub(crate) duration_ms: u64,
    /// Calls before each window (connections included), not recorded, milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub(crate) warmup_ms: u64,
    /// Repeats per cell, in interleaved rounds, each with fresh servers.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) repeats: u32,
    /// mempipe's spin budget before a wait arms its doorbell, microseconds, on
    /// both ends (0: never spin) [default: the connection's own].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub(crate) mempipe_spin_us: Option<u64>,
    /// Directory for the result files.
    #[arg(long, default_value = "ipcbench-results")]
    pub(crate) out: PathBuf,
}

/// Largest payload: what the examples' gRPC service and HTTP handler accept.
const MAX_PAYLOAD: u64 = 16 << 20;

/// `64`, `4K`, `1M` (binary units), 1 B to 16 MiB.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1 << 10),
        Some((i, 'm' | 'M')) => (&t[..i], 1 << 20),
        _ => (t, 1),
    };
    match digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(n @ 1..=MAX_PAYLOAD) => Ok(n),
        _ => Err(format!(
            "'{s}' is not a payload size from 1 to 16M (use e.g. 64, 4K, 1M)"
        )),
    }
}

fn parse_pair(s: &str) -> Result<CorePair, String> {
    let cpu = |x: &str| x.trim().parse::<usize>().ok();
    match s.split_once(':').map(|(a, b)| (cpu(a), cpu(b))) {
        Some((Some(a), Some(b))) => Ok(CorePair { a, b }),
        _ => Err(format!(
            "'{s}' is not one core pair; use client:server CPUs like 0:1"
        )),
    }
}

/// Runs every cell; a result file with the machine and the `rpc` part only.
pub(crate) fn run(args: &RpcArgs, machine: Machine) -> anyhow::Result<ResultFile> {
    for cpu in [args.pair.a, args.pair.b] {
        anyhow::ensure!(
            machine.online_cpus().contains(&cpu),
            "--pair {}:{}: cpu {cpu} is not online (online: {:?})",
            args.pair.a,
            args.pair.b,
            machine.online_cpus()
        );
    }
    let cells: Vec<(u64, u32)> = args
        .sizes
        .iter()
        .flat_map(|&s| args.callers.iter().map(move |&c| (s, c)))
        .collect();
    let servers: Vec<(Framework, Via)> = args
        .frameworks
        .iter()
        .flat_map(|&f| args.transports.iter().map(move |&v| (f, v)))
        .collect();
    let mut results: Vec<RpcCell> = cells
        .iter()
        .flat_map(|&(size, callers)| {
            servers.iter().map(move |&(f, v)| RpcCell {
                framework: f.name().into(),
                transport: v.name().into(),
                payload_bytes: size,
                callers,
                repeats: Vec::new(),
                error: None,
            })
        })
        .collect();
    let per_repeat = Duration::from_millis(args.duration_ms + args.warmup_ms);
    println!(
        "ipcbench rpc: {} cells x {} repeats of {} ms + {} ms warm-up, client on cpu {}, servers on cpu {}: about {:.0} s",
        results.len(),
        args.repeats,
        args.duration_ms,
        args.warmup_ms,
        args.pair.a,
        args.pair.b,
        (per_repeat * args.repeats * results.len() as u32).as_secs_f64()
    );
    let original = affinity::current_cpus()?;
    affinity::pin_to(args.pair.a)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let tag = format!("ipcbench-rpc-{}", std::process::id());
    'rounds: for round in 0..args.repeats {
        let mut started = Vec::new();
        for &(framework, via) in &servers {
            let at = match via {
                Via::Unix => std::env::temp_dir()
                    .join(format!("{tag}-{}.sock", framework.name()))
                    .display()
                    .to_string(),
                _ => format!("{tag}-{}", framework.name()),
            };
            let spec = ServerSpec {
                framework,
                place: Place {
                    via,
                    at,
                    spin_us: args.mempipe_spin_us,
                },
                cpu: args.pair.b,
            };
            started.push(ServerProcess::start(&spec));
        }
        for (i, cell) in results.iter_mut().enumerate() {
            if stop::interrupted() {
                break 'rounds;
            }
            let server = match &started[i % servers.len()] {
                Ok(s) => s,
                Err(e) => {
                    cell.error = Some(format!("round {round}: {e:#}"));
                    continue;
                }
            };
            let (framework, via) = servers[i % servers.len()];
            let (size, callers) = (cell.payload_bytes as usize, cell.callers as usize);
            let window = load::Window::after(
                Duration::from_millis(args.warmup_ms),
                Duration::from_millis(args.duration_ms),
            );
            let measured = runtime.block_on(async {
                match framework {
                    Framework::Grpc => {
                        grpc::measure(
                            via,
                            &server.address,
                            size,
                            callers,
                            window,
                            args.mempipe_spin_us,
                        )
                        .await
                    }
                    Framework::Http1 => {
                        http::measure(
                            via,
                            &server.address,
                            size,
                            callers,
                            window,
                            args.mempipe_spin_us,
                        )
                        .await
                    }
                }
            });
            match measured {
                Ok(Some(repeat)) => cell.repeats.push(RpcRepeat { round, ..repeat }),
                Ok(None) => {
                    cell.error = Some(format!(
                        "round {round}: no call started in the window completed"
                    ))
                }
                Err(e) => cell.error = Some(format!("round {round}: {e:#}")),
            }
            eprint!(".");
        }
        eprintln!(" round {} of {}", round + 1, args.repeats);
    }
    drop(runtime);
    affinity::restore(&original)?;
    let params = Params {
        latency_sizes_bytes: Vec::new(),
        throughput_sizes_bytes: Vec::new(),
        warmup_ms: args.warmup_ms,
        duration_ms: args.duration_ms,
        repeats: args.repeats,
        pairs: vec![args.pair],
        transports: Vec::new(),
        verify: true,
        numa_placement: None,
    };
    let mut file = ResultFile::new(machine, params);
    file.rpc = Some(RpcRun {
        runtime: "current_thread".into(),
        mempipe_spin_us: args.mempipe_spin_us,
        warmup_ms: args.warmup_ms,
        duration_ms: args.duration_ms,
        repeats: args.repeats,
        pair: args.pair,
        cells: results,
    });
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_pairs_parse_and_name_what_is_wrong() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        for bad in ["0", "17M", "x", "99999999999999999999K"] {
            assert!(parse_size(bad).unwrap_err().contains("1 to 16M"), "{bad}");
        }
        assert_eq!(parse_pair("0:1"), Ok(CorePair { a: 0, b: 1 }));
        assert!(parse_pair("0-1").unwrap_err().contains("client:server"));
    }
}
