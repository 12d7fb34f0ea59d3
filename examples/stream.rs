//! One-way streaming between two processes, with marker system calls around
//! the steady state so a tracer can count the system calls made in between
//! (`scripts/count-syscalls.sh`).
//!
//! ```text
//! cargo run --release --example stream -- --wakeup futex --size 64 --count 2000000 --cores 0,1
//! cargo run --release --example stream -- --wakeup hybrid --send poll --recv poll --rx-work 300
//! ```
//!
//! Options (all optional; `--help` lists them):
//!
//! * `--wakeup spin|futex|eventfd|hybrid` (default hybrid)
//! * `--size BYTES` message size, 16 or more (default 64)
//! * `--count N` messages in the measured window (default 1000000)
//! * `--capacity BYTES` ring capacity, a power of two (default 65536)
//! * `--cores A,B` pin the consumer (this process) to CPU A and the producer
//!   (a child process) to CPU B (default 0,1)
//! * `--send block|poll` `block` sends with `send` (waits for room the
//!   strategy's way); `poll` retries `try_send` in a busy loop, so the producer
//!   never sleeps (default block)
//! * `--recv block|poll` likewise `recv_into` or a busy loop of
//!   `try_recv_into`: a polling consumer never sleeps (default block)
//! * `--rx-work N` pause instructions the consumer executes per message, to
//!   make it slower than the producer (default 0)
//!
//! The consumer creates an anonymous region and starts itself again as the
//! producer (hidden `--child` mode, region passed with `Region::handoff`).
//! Message `s` carries `s` in its first 8 bytes and `s as u8` in its last; the
//! consumer checks both and the length of every message. The producer sends
//! message 0, then `--count` more; the consumer starts its window after
//! receiving message 0, so process start-up (and a blocking consumer's sleep
//! while the child execs) stays outside it.
//!
//! Each process marks its window with two `lseek` calls on descriptor -1 (they
//! fail with EBADF and touch nothing), offset `0x57EA_0000 | side << 8 | phase`
//! (side 1 the producer, 2 the consumer; phase 1 just before its first
//! measured message, 2 just after its last, before any close or report): the
//! producer's window is 0x57EA0101..0x57EA0102, the consumer's
//! 0x57EA0201..0x57EA0202. A tracer attributes to the steady state exactly the
//! calls a process made between its own two markers.
//!
//! Prints one line: `stream: wakeup=.. size=.. send=.. recv=.. rx_work=..
//! messages=N verified=N empty_polls=E full_polls=F seconds=.. msgs_per_s=..`.
//! `empty_polls` counts a polling consumer's `try_recv_into` calls that found
//! the ring empty (it was caught up), `full_polls` a polling producer's
//! `try_send` calls that found it full (the consumer was behind); both are 0
//! for a blocking side. Exits non-zero on any lost, reordered or damaged
//! message, or if the producer failed.

mod common;

use clap::{Parser, ValueEnum};
use mempipe::{Config, Consumer, Producer, RecvError, Region, SendError, WakeupKind};
use std::io::Read;
use std::process::{ExitCode, Stdio};
use std::time::Instant;

const TOKEN_ENV: &str = "MEMPIPE_STREAM_TOKEN";
/// Marker offsets: `MARK | side | phase`.
const MARK: i64 = 0x57EA_0000;
const PRODUCER: i64 = 0x100;
const CONSUMER: i64 = 0x200;
const BEGIN: i64 = 1;
const END: i64 = 2;
/// A polling side that has seen this many consecutive empty (full) rings checks
/// whether its peer is still there (a system call, made only in such a stall).
const STALL_POLLS: u64 = 1 << 28;

/// One-way streaming between two processes, with marker system calls around
/// the steady state.
#[derive(Debug, Clone, Parser)]
struct Options {
    /// How each side waits for the other.
    #[arg(long, default_value_t = WakeupKind::Hybrid, value_parser = common::wakeup(),
          ignore_case = true)]
    wakeup: WakeupKind,
    /// Message size in bytes; the first 8 carry the sequence number, the last
    /// its low byte.
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = common::size(16, usize::MAX))]
    size: usize,
    /// Messages in the measured window.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = common::count)]
    count: u64,
    /// Ring capacity in bytes, a power of two.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 10)]
    capacity: usize,
    /// Pin the consumer (this process) to CPU A and the producer (a child
    /// process) to CPU B.
    #[arg(long, value_name = "A,B", default_value = "0,1", value_parser = common::cores)]
    cores: (usize, usize),
    /// How the producer sends: `send`, or `try_send` in a busy loop.
    #[arg(long, value_enum, default_value_t = Mode::Block)]
    send: Mode,
    /// How the consumer receives: `recv_into`, or `try_recv_into` in a busy
    /// loop.
    #[arg(long, value_enum, default_value_t = Mode::Block)]
    recv: Mode,
    /// Pause instructions the consumer executes per message.
    #[arg(long, value_name = "N", default_value_t = 0)]
    rx_work: u32,
    /// Run as the producer (started by the consumer).
    #[arg(long, hide = true)]
    child: bool,
}

/// How a side waits for room or for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The blocking call: waits the wakeup strategy's way.
    Block,
    /// The non-blocking call, retried in a busy loop: never sleeps.
    Poll,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Poll => "poll",
        }
    }
}

/// The marker system call: `lseek(-1, MARK | side | phase, SEEK_SET)`, which
/// fails with EBADF.
fn mark(side: i64, phase: i64) {
    // SAFETY: lseek on an invalid descriptor touches no memory and no file; it
    // only returns EBADF (ignored: the call itself is the marker).
    unsafe {
        libc::lseek(-1, MARK | side | phase, libc::SEEK_SET);
    }
}

fn main() -> ExitCode {
    let o = Options::parse();
    if o.child {
        common::exit_code("stream (producer)", producer(&o))
    } else {
        common::exit_code("stream (consumer)", consumer(&o))
    }
}

fn consumer(o: &Options) -> Result<(), String> {
    common::pin(o.cores.0)?;
    let config = Config::new()
        .capacity(o.capacity)
        .max_message(o.size)
        .wakeup(o.wakeup);
    let region = Region::create_anonymous(&config).map_err(|e| format!("create: {e}"))?;
    let mut rx = region.consumer().map_err(|e| format!("claim: {e}"))?;
    let mut child = common::spawn_peer(
        &[
            ("--wakeup", o.wakeup.to_string()),
            ("--size", o.size.to_string()),
            ("--count", o.count.to_string()),
            ("--cores", format!("{},{}", o.cores.1, o.cores.1)),
            ("--send", o.send.name().to_owned()),
        ],
        &[(TOKEN_ENV, &region)],
        Stdio::piped(),
    )?;
    let result = receive(o, &mut rx, &mut child);
    drop(rx);
    if result.is_err() {
        let _ = child.kill();
    }
    let mut report = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut report);
    }
    let status = child
        .wait()
        .map_err(|e| format!("wait for the producer: {e}"))?;
    let (verified, empty_polls, seconds) = result?;
    if !status.success() {
        return Err(format!("the producer failed: {status}"));
    }
    let full_polls = report
        .split_whitespace()
        .find_map(|w| w.strip_prefix("full_polls="))
        .ok_or_else(|| format!("the producer did not report: {report:?}"))?;
    println!(
        "stream: wakeup={} size={} send={} recv={} rx_work={} messages={} verified={verified} \
         empty_polls={empty_polls} full_polls={full_polls} seconds={seconds:.3} msgs_per_s={:.0}",
        o.wakeup,
        o.size,
        o.send.name(),
        o.recv.name(),
        o.rx_work,
        o.count,
        o.count as f64 / seconds
    );
    Ok(())
}

fn receive(
    o: &Options,
    rx: &mut Consumer,
    child: &mut std::process::Child,
) -> Result<(u64, u64, f64), String> {
    let mut buf = vec![0u8; o.size];
    let mut empty_polls = 0u64;
    let mut next = |rx: &mut Consumer, buf: &mut [u8], empty: &mut u64| {
        if o.recv == Mode::Block {
            return rx.recv_into(buf);
        }
        let mut streak = 0u64;
        loop {
            match rx.try_recv_into(buf) {
                Err(RecvError::Empty) => {
                    *empty += 1;
                    streak += 1;
                    if streak % STALL_POLLS == 0 && !matches!(child.try_wait(), Ok(None)) {
                        return Err(RecvError::Disconnected);
                    }
                    std::hint::spin_loop();
                }
                other => return other,
            }
        }
    };
    let check = |seq: u64, n: usize, buf: &[u8]| {
        let got = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
        if n != o.size || got != seq || buf[n - 1] != seq as u8 {
            return Err(format!(
                "message {seq}: got sequence {got}, {n} bytes and last byte {}; expected \
                 {seq}, {} bytes and {}",
                buf[n.max(1) - 1],
                o.size,
                seq as u8
            ));
        }
        Ok(())
    };
    let n = next(rx, &mut buf, &mut empty_polls).map_err(|e| format!("message 0: {e}"))?;
    check(0, n, &buf)?;
    empty_polls = 0;
    let start = Instant::now();
    mark(CONSUMER, BEGIN);
    let mut verified = 0u64;
    for seq in 1..=o.count {
        let n = next(rx, &mut buf, &mut empty_polls).map_err(|e| format!("message {seq}: {e}"))?;
        check(seq, n, &buf)?;
        for _ in 0..o.rx_work {
            std::hint::spin_loop();
        }
        verified += 1;
    }
    mark(CONSUMER, END);
    let seconds = start.elapsed().as_secs_f64();
    match rx.recv_into(&mut buf) {
        Err(e) if e.is_disconnected() => Ok((verified, empty_polls, seconds)),
        Ok(n) => Err(format!(
            "a message of {n} bytes after the last one ({})",
            o.count
        )),
        Err(e) => Err(format!("after the last message: {e}")),
    }
}

fn producer(o: &Options) -> Result<(), String> {
    common::pin(o.cores.1)?;
    let region = common::handed_region(TOKEN_ENV)?;
    let mut tx = region.producer().map_err(|e| format!("claim: {e}"))?;
    let parent = std::os::unix::process::parent_id();
    let mut msg = vec![0u8; o.size];
    let mut full_polls = 0u64;
    let send = |tx: &mut Producer, msg: &[u8], full: &mut u64| {
        if o.send == Mode::Block {
            return tx.send(msg);
        }
        let mut streak = 0u64;
        loop {
            match tx.try_send(msg) {
                Err(SendError::Full { .. }) => {
                    *full += 1;
                    streak += 1;
                    if streak % STALL_POLLS == 0 && std::os::unix::process::parent_id() != parent {
                        return Err(SendError::Disconnected);
                    }
                    std::hint::spin_loop();
                }
                other => return other,
            }
        }
    };
    let fill = |seq: u64, msg: &mut [u8]| {
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        let last = msg.len() - 1;
        msg[last] = seq as u8;
    };
    fill(0, &mut msg);
    send(&mut tx, &msg, &mut full_polls).map_err(|e| format!("message 0: {e}"))?;
    full_polls = 0;
    mark(PRODUCER, BEGIN);
    for seq in 1..=o.count {
        fill(seq, &mut msg);
        send(&mut tx, &msg, &mut full_polls).map_err(|e| format!("message {seq}: {e}"))?;
    }
    mark(PRODUCER, END);
    println!("full_polls={full_polls}");
    Ok(())
}
