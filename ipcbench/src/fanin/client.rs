//! One fan-in client process (`ipcbench __fanin-client <json>`): connects,
//! makes one warm-up round trip, says `ready`, waits for `go <start>` on
//! stdin, sleeps until that monotonic instant, makes its round trips and
//! prints one JSON line with its completion instant and latency histogram.

use super::{monotonic_ns, Variant};
use anyhow::Context;
use mempipe::asyncio::AsyncConnection;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a client is told, as one JSON argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientSpec {
    pub(crate) variant: Variant,
    /// Listener name (mempipe) or socket path.
    pub(crate) address: String,
    /// Where mempipe names live for this run.
    pub(crate) rendezvous: PathBuf,
    pub(crate) requests: u64,
    pub(crate) size: usize,
}

/// What a client reports at the end.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientReport {
    /// `CLOCK_MONOTONIC` when its last response arrived, ns.
    pub(crate) done_ns: u64,
    /// Round-trip latencies: (value ns, count) per recorded bucket.
    pub(crate) latency: Vec<(u64, u64)>,
}

enum Conn {
    Mem(Box<AsyncConnection>),
    Unix(tokio::net::UnixStream),
}

impl Conn {
    async fn round_trip(&mut self, msg: &[u8], buf: &mut Vec<u8>) -> anyhow::Result<()> {
        match self {
            Conn::Mem(c) => {
                c.send(msg).await?;
                c.recv(buf).await?;
            }
            Conn::Unix(s) => {
                s.write_all(msg).await?;
                buf.resize(msg.len(), 0);
                s.read_exact(buf).await?;
            }
        }
        anyhow::ensure!(buf.len() == msg.len(), "short response");
        Ok(())
    }
}

/// Entry point; the process exit code.
pub(crate) fn main(spec_json: &str) -> i32 {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    match run(spec_json) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fan-in client: {e:#}");
            1
        }
    }
}

fn run(spec_json: &str) -> anyhow::Result<()> {
    let spec: ClientSpec =
        serde_json::from_str(spec_json).context("bad spec (this subcommand is internal)")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut conn = match spec.variant.mempipe_config(&spec.rendezvous) {
        Some(config) => {
            let conn = mempipe::connect(spec.address.as_str(), &config)
                .with_context(|| format!("connect to {}", spec.address))?;
            Conn::Mem(Box::new(AsyncConnection::new(conn)?))
        }
        None => {
            let _guard = rt.enter();
            let s = std::os::unix::net::UnixStream::connect(&spec.address)
                .with_context(|| format!("connect to {}", spec.address))?;
            s.set_nonblocking(true)?;
            Conn::Unix(tokio::net::UnixStream::from_std(s)?)
        }
    };
    let msg = vec![0x5au8; spec.size];
    let mut buf = Vec::with_capacity(spec.size);
    rt.block_on(conn.round_trip(&msg, &mut buf))
        .context("warm-up round trip")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let start: u64 = line
        .trim()
        .strip_prefix("go ")
        .and_then(|s| s.parse().ok())
        .context("expected `go <start ns>` on stdin")?;
    let now = monotonic_ns();
    if start > now {
        std::thread::sleep(Duration::from_nanos(start - now));
    }
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2)?;
    rt.block_on(async {
        for _ in 0..spec.requests {
            let t0 = Instant::now();
            conn.round_trip(&msg, &mut buf).await?;
            hist.saturating_record(t0.elapsed().as_nanos() as u64);
        }
        anyhow::Ok(())
    })?;
    let done_ns = monotonic_ns();
    let latency = hist
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect();
    let report = serde_json::to_string(&ClientReport { done_ns, latency })?;
    writeln!(out, "{report}")?;
    out.flush()?;
    drop(conn);
    Ok(())
}
