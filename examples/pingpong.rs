//! Round-trip latency between two processes over a pair of mempipe rings.
//!
//! ```text
//! cargo run --release --example pingpong -- --wakeup spin --size 8 --iters 200000 --cores 0,1
//! cargo run --release --example pingpong -- --wakeup hybrid --cores 0,0
//! ```
//!
//! Options (all optional):
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

use mempipe::{Config, Consumer, Producer, Region, WakeupKind};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const PING_ENV: &str = "MEMPIPE_PINGPONG_PING";
const PONG_ENV: &str = "MEMPIPE_PINGPONG_PONG";
const SAME_CORE_SPIN_CAP: u64 = 200;
const USAGE: &str = "usage: pingpong [--wakeup spin|futex|eventfd|hybrid] [--size BYTES (>= 8)] \
                     [--iters N] [--warmup N] [--cores A,B]";

#[derive(Debug, Clone)]
struct Options {
    wakeup: WakeupKind,
    size: usize,
    iters: u64,
    warmup: u64,
    cores: (usize, usize),
    child: bool,
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str, what: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not {what}"))
}

fn parse_cores(value: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--cores: {value:?} is not two CPU numbers A,B (for example 0,1 or 0,0)");
    let (a, b) = value.split_once(',').ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    let max = rustix::thread::CpuSet::MAX_CPU;
    if a >= max || b >= max {
        return Err(format!("--cores: CPU numbers must be below {max}"));
    }
    Ok((a, b))
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut opts = Options {
        wakeup: WakeupKind::Hybrid,
        size: 8,
        iters: 100_000,
        warmup: 1_000,
        cores: (0, 1),
        child: false,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--child" {
            opts.child = true;
            continue;
        }
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let known = ["--wakeup", "--size", "--iters", "--warmup", "--cores"];
        if !known.contains(&flag.as_str()) {
            return Err(format!(
                "unknown argument {arg:?}; expected one of {}\n{USAGE}",
                known.join(", ")
            ));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value\n{USAGE}")),
        };
        match flag.as_str() {
            "--wakeup" => {
                opts.wakeup = value.parse().map_err(|e| format!("--wakeup: {e}"))?;
            }
            "--size" => {
                opts.size = parse_number(&flag, &value, "a size in bytes")?;
                if opts.size < 8 {
                    return Err(format!(
                        "--size: {} is too small; at least 8 bytes carry the sequence number",
                        opts.size
                    ));
                }
                if opts.size > 64 << 20 {
                    return Err(format!("--size: {} is larger than 64 MiB", opts.size));
                }
            }
            "--iters" => {
                opts.iters = parse_number(&flag, &value, "a positive count")?;
                if opts.iters == 0 {
                    return Err("--iters: must be at least 1".into());
                }
            }
            "--warmup" => opts.warmup = parse_number(&flag, &value, "a count")?,
            "--cores" => opts.cores = parse_cores(&value)?,
            _ => unreachable!(),
        }
    }
    Ok(opts)
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> Result<(), String> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        format!("cannot pin to CPU {cpu}: {e} (this process may use {cpus} CPUs)")
    })
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
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pingpong: {e}");
            return ExitCode::from(2);
        }
    };
    let is_child = opts.child;
    let result = if is_child { child(&opts) } else { parent(opts) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pingpong{}: {e}", if is_child { " (child)" } else { "" });
            ExitCode::FAILURE
        }
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
    pin(opts.cores.0)?;
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: &dyn std::fmt::Display| format!("{what}: {e}")
    };
    let ping = Region::create_anonymous(&config(&opts)).map_err(|e| err("create ping")(&e))?;
    let pong = Region::create_anonymous(&config(&opts)).map_err(|e| err("create pong")(&e))?;
    let mut tx = ping.producer().map_err(|e| err("claim ping")(&e))?;
    let mut rx = pong.consumer().map_err(|e| err("claim pong")(&e))?;

    let exe = std::env::current_exe().map_err(|e| err("current_exe")(&e))?;
    let ping_handoff = ping.handoff().map_err(|e| err("handoff")(&e))?;
    let pong_handoff = pong.handoff().map_err(|e| err("handoff")(&e))?;
    let total = opts.warmup + opts.iters;
    let mut child = Command::new(exe)
        .args([
            "--child".to_owned(),
            "--wakeup".to_owned(),
            opts.wakeup.to_string(),
            "--size".to_owned(),
            opts.size.to_string(),
            "--iters".to_owned(),
            total.to_string(),
            "--warmup".to_owned(),
            "0".to_owned(),
            "--cores".to_owned(),
            format!("{},{}", opts.cores.1, opts.cores.1),
        ])
        .env(PING_ENV, ping_handoff.token())
        .env(PONG_ENV, pong_handoff.token())
        .spawn()
        .map_err(|e| err("spawn the child")(&e))?;
    drop((ping_handoff, pong_handoff));

    let result = measure(&opts, &mut tx, &mut rx);
    drop(tx);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| err("wait for the child")(&e))?;
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
    pin(opts.cores.1)?;
    let token = |var: &str| {
        std::env::var(var).map_err(|_| format!("{var} is not set: --child is for pingpong itself"))
    };
    let (ping_token, pong_token) = (token(PING_ENV)?, token(PONG_ENV)?);
    // SAFETY: the tokens name descriptors the parent duplicated with
    // Region::handoff for this process and passed across exec; nothing else here
    // owns them and each token is used once.
    let ping = unsafe { Region::from_handoff(&ping_token) }.map_err(|e| format!("ping: {e}"))?;
    // SAFETY: as above, for the second region's descriptors.
    let pong = unsafe { Region::from_handoff(&pong_token) }.map_err(|e| format!("pong: {e}"))?;
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
