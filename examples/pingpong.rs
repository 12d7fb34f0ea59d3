//! Round-trip latency between two processes over a pair of mempipe rings.
//!
//! ```text
//! cargo run --release --example pingpong -- --wakeup spin --size 8 --iters 200000 --cores 0,1
//! cargo run --release --example pingpong -- --wakeup hybrid --cores 0,0
//! ```
//!
//! Options (all optional; `--help` lists them):
//!
//! * `--wakeup spin|futex|eventfd|hybrid` (default hybrid)
//! * `--size BYTES` message size, 8 or more: the first 8 bytes carry the
//!   sequence number (default 8)
//! * `--iters N` measured round trips (default 100000)
//! * `--warmup N` unmeasured round trips first (default 1000)
//! * `--cores A,B` pin this process to CPU A and the echoing child to CPU B
//!   (default 0,1)
//!
//! The parent creates two anonymous regions (ping: parent to child, pong: child
//! to parent), starts itself again as the child (hidden `--child` mode) handing
//! both regions over with `Region::handoff`, and times every round trip with
//! `Instant`. The child checks each sequence number and echoes the message.
//! It prints RTT percentiles and the one-way latency estimated as RTT/2.
//!
//! Spinning with both ends on one CPU waits for a scheduler tick per hand-off
//! (about 8 ms per round trip on a 2-vCPU VM), so that case is capped at 200
//! round trips.

mod common;

use clap::Parser;
use mempipe::{Config, Consumer, Producer, Region, WakeupKind};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

const PING_ENV: &str = "MEMPIPE_PINGPONG_PING";
const PONG_ENV: &str = "MEMPIPE_PINGPONG_PONG";
const SAME_CORE_SPIN_CAP: u64 = 200;

/// Round-trip latency between two processes over a pair of mempipe rings.
#[derive(Debug, Clone, Parser)]
struct Options {
    /// How each side waits for the other.
    #[arg(long, default_value_t = WakeupKind::Hybrid, value_parser = common::wakeup(),
          ignore_case = true)]
    wakeup: WakeupKind,
    /// Message size in bytes; the first 8 carry the sequence number.
    #[arg(long, value_name = "BYTES", default_value_t = 8,
          value_parser = common::size(8, 64 << 20))]
    size: usize,
    /// Measured round trips.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = common::count)]
    iters: u64,
    /// Unmeasured round trips first.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    warmup: u64,
    /// Pin this process to CPU A and the echoing child to CPU B.
    #[arg(long, value_name = "A,B", default_value = "0,1", value_parser = common::cores)]
    cores: (usize, usize),
    /// Run as the echoing child (started by the parent).
    #[arg(long, hide = true)]
    child: bool,
}

fn config(opts: &Options) -> Config {
    // Room for a few messages; at least a page.
    let capacity = ((opts.size + 8).next_power_of_two() * 4).max(4096);
    Config::new()
        .capacity(capacity)
        .max_message(opts.size)
        .wakeup(opts.wakeup)
}

fn main() -> ExitCode {
    let opts = Options::parse();
    if opts.child {
        common::exit_code("pingpong (child)", child(&opts))
    } else {
        common::exit_code("pingpong", parent(opts))
    }
}

fn parent(mut opts: Options) -> Result<(), String> {
    if opts.cores.0 == opts.cores.1 && opts.wakeup == WakeupKind::Spin {
        let capped = opts.iters.min(SAME_CORE_SPIN_CAP);
        eprintln!(
            "pingpong: warning: spin with both ends on CPU {} waits for a scheduler tick per \
             hand-off (~8 ms per round trip); capping --iters {} to {capped} and --warmup to 10",
            opts.cores.0, opts.iters
        );
        opts.iters = capped;
        opts.warmup = opts.warmup.min(10);
    }
    common::pin(opts.cores.0)?;
    let ping = Region::create_anonymous(&config(&opts)).map_err(|e| format!("create ping: {e}"))?;
    let pong = Region::create_anonymous(&config(&opts)).map_err(|e| format!("create pong: {e}"))?;
    let mut tx = ping.producer().map_err(|e| format!("claim ping: {e}"))?;
    let mut rx = pong.consumer().map_err(|e| format!("claim pong: {e}"))?;
    let total = opts.warmup + opts.iters;
    let mut child = common::spawn_peer(
        &[
            ("--wakeup", opts.wakeup.to_string()),
            ("--size", opts.size.to_string()),
            ("--iters", total.to_string()),
            ("--warmup", "0".to_owned()),
            ("--cores", format!("{},{}", opts.cores.1, opts.cores.1)),
        ],
        &[(PING_ENV, &ping), (PONG_ENV, &pong)],
        Stdio::inherit(),
    )?;

    let result = measure(&opts, &mut tx, &mut rx);
    drop(tx);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| format!("wait for the child: {e}"))?;
    let rtts = result?;
    if !status.success() {
        return Err(format!("the child failed: {status}"));
    }
    report(&opts, rtts);
    Ok(())
}
/// Runs the warm-up and the measured round trips; returns the RTTs in ns.
fn measure(opts: &Options, tx: &mut Producer, rx: &mut Consumer) -> Result<Vec<u64>, String> {
    let mut msg = vec![0u8; opts.size];
    let mut echo = vec![0u8; opts.size];
    let mut rtts = Vec::with_capacity(opts.iters as usize);
    for seq in 0..opts.warmup + opts.iters {
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        let start = Instant::now();
        tx.send(&msg).map_err(|e| format!("send {seq}: {e}"))?;
        let n = rx
            .recv_into(&mut echo)
            .map_err(|e| format!("receive echo {seq}: {e}"))?;
        let rtt = start.elapsed();
        let got = u64::from_le_bytes(echo[..8].try_into().expect("8 bytes"));
        if n != opts.size || got != seq {
            return Err(format!(
                "echo {seq}: got sequence {got} and {n} bytes, expected {seq} and {}",
                opts.size
            ));
        }
        if seq >= opts.warmup {
            rtts.push(rtt.as_nanos() as u64);
        }
    }
    Ok(rtts)
}

fn child(opts: &Options) -> Result<(), String> {
    common::pin(opts.cores.1)?;
    let ping = common::handed_region(PING_ENV)?;
    let pong = common::handed_region(PONG_ENV)?;
    let mut rx = ping.consumer().map_err(|e| format!("claim ping: {e}"))?;
    let mut tx = pong.producer().map_err(|e| format!("claim pong: {e}"))?;
    let mut buf = vec![0u8; opts.size];
    for seq in 0..opts.iters {
        let n = rx
            .recv_into(&mut buf)
            .map_err(|e| format!("receive {seq}: {e}"))?;
        let got = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        if n != opts.size || got != seq {
            return Err(format!(
                "message {seq}: got sequence {got} and {n} bytes, expected {seq} and {}",
                opts.size
            ));
        }
        tx.send(&buf[..n]).map_err(|e| format!("echo {seq}: {e}"))?;
    }
    Ok(())
}

fn fmt_ns(ns: u64) -> String {
    let d = Duration::from_nanos(ns);
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(opts: &Options, mut rtts: Vec<u64>) {
    rtts.sort_unstable();
    let stats = |scale: u64| -> Vec<String> {
        [
            percentile(&rtts, 50.0),
            percentile(&rtts, 99.0),
            percentile(&rtts, 99.9),
            rtts[0],
            rtts[rtts.len() - 1],
        ]
        .iter()
        .map(|v| fmt_ns(v / scale))
        .collect()
    };
    println!(
        "pingpong: wakeup={} size={} B cores={},{} iters={} (warm-up {})",
        opts.wakeup, opts.size, opts.cores.0, opts.cores.1, opts.iters, opts.warmup
    );
    println!(
        "{:<17} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p99", "p99.9", "min", "max"
    );
    for (label, scale) in [("RTT", 1), ("one-way (RTT/2)", 2)] {
        let s = stats(scale);
        println!(
            "{label:<17} {:>10} {:>10} {:>10} {:>10} {:>10}",
            s[0], s[1], s[2], s[3], s[4]
        );
    }
}
