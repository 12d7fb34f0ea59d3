//! One-way streaming between two processes, with marker system calls around
//! the steady state so a tracer can count the system calls made in between
//! (`scripts/count-syscalls.sh`).
//!
//! ```text
//! cargo run --release --example stream -- --wakeup futex --size 64 --count 2000000 --cores 0,1
//! cargo run --release --example stream -- --wakeup hybrid --send poll --recv poll --rx-work 300
//! ```
//!
//! Options (all optional):
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

use mempipe::{Config, Consumer, Producer, RecvError, Region, SendError, WakeupKind};
use std::io::Read;
use std::process::{Command, ExitCode, Stdio};
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
const USAGE: &str = "usage: stream [--wakeup spin|futex|eventfd|hybrid] [--size BYTES (>= 16)] \
                     [--count N] [--capacity BYTES] [--cores A,B] [--send block|poll] \
                     [--recv block|poll] [--rx-work N]";

#[derive(Debug, Clone)]
struct Options {
    wakeup: WakeupKind,
    size: usize,
    count: u64,
    capacity: usize,
    cores: (usize, usize),
    send_poll: bool,
    recv_poll: bool,
    rx_work: u32,
    child: bool,
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str, what: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not {what}"))
}

fn parse_mode(flag: &str, value: &str) -> Result<bool, String> {
    match value {
        "block" => Ok(false),
        "poll" => Ok(true),
        _ => Err(format!("{flag}: {value:?} is neither block nor poll")),
    }
}

fn parse_cores(value: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--cores: {value:?} is not two CPU numbers A,B (for example 0,1)");
    let (a, b) = value.split_once(',').ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    let max = rustix::thread::CpuSet::MAX_CPU;
    if a >= max || b >= max {
        return Err(format!("--cores: CPU numbers must be below {max}"));
    }
    Ok((a, b))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        wakeup: WakeupKind::Hybrid,
        size: 64,
        count: 1_000_000,
        capacity: 64 << 10,
        cores: (0, 1),
        send_poll: false,
        recv_poll: false,
        rx_work: 0,
        child: false,
    };
    while let Some(arg) = args.next() {
        if arg == "--child" {
            o.child = true;
            continue;
        }
        if arg == "-h" || arg == "--help" {
            return Err(USAGE.to_owned());
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let known = [
            "--wakeup",
            "--size",
            "--count",
            "--capacity",
            "--cores",
            "--send",
            "--recv",
            "--rx-work",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(format!(
                "unknown argument {arg:?}; expected one of {}\n{USAGE}",
                known.join(", ")
            ));
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            return Err(format!("{flag} needs a value\n{USAGE}"));
        };
        match flag.as_str() {
            "--wakeup" => o.wakeup = value.parse().map_err(|e| format!("--wakeup: {e}"))?,
            "--size" => o.size = parse_number(&flag, &value, "a size in bytes")?,
            "--count" => o.count = parse_number(&flag, &value, "a count")?,
            "--capacity" => o.capacity = parse_number(&flag, &value, "a size in bytes")?,
            "--cores" => o.cores = parse_cores(&value)?,
            "--send" => o.send_poll = parse_mode(&flag, &value)?,
            "--recv" => o.recv_poll = parse_mode(&flag, &value)?,
            "--rx-work" => o.rx_work = parse_number(&flag, &value, "a count")?,
            _ => unreachable!("checked against the known flags"),
        }
    }
    if o.size < 16 {
        return Err(format!(
            "--size: {} is too small; the sequence number needs 16 bytes",
            o.size
        ));
    }
    if o.count == 0 {
        return Err("--count: must be at least 1".into());
    }
    Ok(o)
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
    let o = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("stream: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if o.child { producer(&o) } else { consumer(&o) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let side = if o.child { "producer" } else { "consumer" };
            eprintln!("stream ({side}): {e}");
            ExitCode::FAILURE
        }
    }
}

fn consumer(o: &Options) -> Result<(), String> {
    pin(o.cores.0)?;
    let config = Config::new()
        .capacity(o.capacity)
        .max_message(o.size)
        .wakeup(o.wakeup);
    let region = Region::create_anonymous(&config).map_err(|e| format!("create: {e}"))?;
    let mut rx = region.consumer().map_err(|e| format!("claim: {e}"))?;
    let handoff = region.handoff().map_err(|e| format!("handoff: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .args([
            "--child".to_owned(),
            "--wakeup".to_owned(),
            o.wakeup.to_string(),
        ])
        .args(["--size".to_owned(), o.size.to_string()])
        .args(["--count".to_owned(), o.count.to_string()])
        .args(["--cores".to_owned(), format!("{},{}", o.cores.1, o.cores.1)])
        .args(["--send", if o.send_poll { "poll" } else { "block" }])
        .env(TOKEN_ENV, handoff.token())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the producer: {e}"))?;
    drop(handoff);
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
        if o.send_poll { "poll" } else { "block" },
        if o.recv_poll { "poll" } else { "block" },
        o.rx_work,
        o.count,
        o.count as f64 / seconds
    );
    Ok(())
}

/// Receives and checks message 0, then the window's `o.count` messages, then
/// the close. Returns (messages verified in the window, empty polls, seconds).
fn receive(
    o: &Options,
    rx: &mut Consumer,
    child: &mut std::process::Child,
) -> Result<(u64, u64, f64), String> {
    let mut buf = vec![0u8; o.size];
    let mut empty_polls = 0u64;
    let mut next = |rx: &mut Consumer, buf: &mut [u8], empty: &mut u64| {
        if !o.recv_poll {
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
        Err(RecvError::Disconnected) => Ok((verified, empty_polls, seconds)),
        Ok(n) => Err(format!(
            "a message of {n} bytes after the last one ({})",
            o.count
        )),
        Err(e) => Err(format!("after the last message: {e}")),
    }
}

fn producer(o: &Options) -> Result<(), String> {
    pin(o.cores.1)?;
    let token = std::env::var(TOKEN_ENV)
        .map_err(|_| format!("{TOKEN_ENV} is not set: --child is for stream itself"))?;
    // SAFETY: the token names descriptors the parent duplicated with
    // Region::handoff for this process and passed across exec; nothing else
    // here owns them and the token is used once.
    let region = unsafe { Region::from_handoff(&token) }.map_err(|e| e.to_string())?;
    let mut tx = region.producer().map_err(|e| format!("claim: {e}"))?;
    let parent = std::os::unix::process::parent_id();
    let mut msg = vec![0u8; o.size];
    let mut full_polls = 0u64;
    let send = |tx: &mut Producer, msg: &[u8], full: &mut u64| {
        if !o.send_poll {
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
