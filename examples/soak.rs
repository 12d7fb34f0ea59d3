//! Soak test: random-size traffic from a child process for a while, checked
//! message by message.
//!
//! ```text
//! cargo run --release --example soak -- --seconds 10 --wakeup all
//! cargo run --release --example soak -- --seconds 600 --wakeup futex --max-size 65536
//! ```
//!
//! Options: `--seconds N` per strategy (default 10), `--wakeup
//! spin|futex|eventfd|hybrid|all` (default all: each in turn), `--max-size B`
//! largest message (default 4096; at least 16), `--seed S`.
//!
//! The parent creates an anonymous region per strategy and starts itself again
//! as the producer (hidden `--child` mode, region passed with
//! `Region::handoff`). Every message carries its sequence number and a checksum
//! of its length and body in its first 16 bytes; lengths are random from 16 to
//! the maximum. The producer cycles through `send`, a zero-copy grant
//! committed whole, and a larger grant cut with `commit_len`; the consumer
//! through `recv`, `recv_into` and zero-copy `read`. Both sides stall now and
//! then (sleeps of 0-2 ms at random intervals), so the ring runs full, empty
//! and everything between, and the blocking paths of each strategy are taken.
//!
//! Prints, per strategy, messages, bytes, rates, and the lost / duplicated /
//! reordered / corrupted counts; exits non-zero if any of those is not zero,
//! if the producer's count differs from what arrived, or if anything failed.

use mempipe::{Config, Consumer, Producer, RecvError, Region, WakeupKind};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const TOKEN_ENV: &str = "MEMPIPE_SOAK_TOKEN";
const USAGE: &str = "usage: soak [--seconds N] [--wakeup spin|futex|eventfd|hybrid|all] \
                     [--max-size BYTES (>= 16)] [--seed S]";
/// A receive that waits this long means the producer stalled for good.
const STALL_GUARD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Options {
    seconds: f64,
    wakeups: Vec<WakeupKind>,
    max_size: usize,
    seed: u64,
    child: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        seconds: 10.0,
        wakeups: WakeupKind::ALL.to_vec(),
        max_size: 4096,
        seed: 0x50a4,
        child: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--child" => o.child = true,
            "--seconds" => {
                o.seconds = value()?
                    .parse()
                    .map_err(|_| "--seconds: not a number".to_string())?
            }
            "--wakeup" => {
                let v = value()?;
                o.wakeups = if v == "all" {
                    WakeupKind::ALL.to_vec()
                } else {
                    vec![v.parse().map_err(|e| format!("--wakeup: {e}"))?]
                };
            }
            "--max-size" => {
                o.max_size = value()?
                    .parse()
                    .map_err(|_| "--max-size: not a number".to_string())?
            }
            "--seed" => {
                o.seed = value()?
                    .parse()
                    .map_err(|_| "--seed: not a number".to_string())?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if o.max_size < 16 {
        return Err(format!("--max-size must be at least 16\n{USAGE}"));
    }
    if o.seconds.is_nan() || o.seconds <= 0.0 {
        return Err(format!("--seconds must be positive\n{USAGE}"));
    }
    Ok(o)
}

/// xorshift64*: fast, seedable, good enough for sizes and stalls.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// FNV-1a over the sequence number, the length and the body's 64-bit words.
fn checksum(seq: u64, len: usize, body: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in [seq, len as u64] {
        h = (h ^ w).wrapping_mul(PRIME);
    }
    let mut chunks = body.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(PRIME);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

/// Message `seq` of `len` bytes into `buf`: `[seq | checksum | body]`.
fn fill(seq: u64, len: usize, buf: &mut [u8]) {
    let mut state = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for chunk in buf[16..len].chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let w = state.to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    let sum = checksum(seq, len, &buf[16..len]);
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&sum.to_le_bytes());
}

/// Random stalls: a sleep of 0-2 ms at random intervals of 0-20 ms (the clock
/// is read every 32 messages).
struct Stalls {
    rng: Rng,
    calls: u32,
    next: Instant,
}

impl Stalls {
    fn new(seed: u64) -> Self {
        Stalls {
            rng: Rng::new(seed),
            calls: 0,
            next: Instant::now(),
        }
    }

    fn maybe(&mut self) {
        self.calls = self.calls.wrapping_add(1);
        if self.calls % 32 != 0 {
            return;
        }
        let now = Instant::now();
        if now >= self.next {
            std::thread::sleep(Duration::from_micros(self.rng.below(2001)));
            self.next = Instant::now() + Duration::from_micros(self.rng.below(20_001));
        }
    }
}

// ---------------------------------------------------------------------------
// The producer (child process).

fn run_child(o: &Options) -> Result<(), String> {
    let token = std::env::var(TOKEN_ENV).map_err(|_| "no region token".to_string())?;
    // SAFETY: the parent created these descriptors with Region::handoff for this
    // process and passed them across exec; nothing else here owns them.
    let region = unsafe { Region::from_handoff(&token) }.map_err(|e| e.to_string())?;
    let mut producer = region.producer().map_err(|e| e.to_string())?;
    let mut rng = Rng::new(o.seed ^ 0x1234_5678);
    let mut stalls = Stalls::new(o.seed ^ 0x5555);
    let mut msg = vec![0u8; o.max_size];
    let end = Instant::now() + Duration::from_secs_f64(o.seconds);
    let (mut seq, mut bytes) = (0u64, 0u64);
    while seq % 256 != 0 || Instant::now() < end {
        let len = 16 + rng.below((o.max_size - 16) as u64 + 1) as usize;
        fill(seq, len, &mut msg);
        send(&mut producer, &msg[..len], seq, o.max_size).map_err(|e| format!("{seq}: {e}"))?;
        seq += 1;
        bytes += len as u64;
        stalls.maybe();
    }
    println!("SENT {seq} {bytes}");
    Ok(())
}

fn send(p: &mut Producer, msg: &[u8], seq: u64, max: usize) -> Result<(), mempipe::SendError> {
    match seq % 3 {
        0 => p.send(msg),
        1 => {
            let mut g = p.reserve(msg.len())?;
            g.write_at(0, msg).expect("in bounds");
            g.commit();
            Ok(())
        }
        _ => {
            let want = (msg.len() + 64).min(max);
            let mut g = p.reserve(want)?;
            g.write_at(0, msg).expect("in bounds");
            g.commit_len(msg.len()).expect("shorter");
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// The consumer (parent) and the verdict.

#[derive(Debug, Default)]
struct Counts {
    messages: u64,
    bytes: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    corrupted: u64,
}

impl Counts {
    fn bad(&self) -> u64 {
        self.lost + self.duplicated + self.reordered + self.corrupted
    }
}

/// Classifies one message against the expected sequence.
struct Checker {
    next: u64,
    /// Sequence numbers skipped so far (bounded: reorders show up near).
    missing: BTreeSet<u64>,
    counts: Counts,
}

impl Checker {
    fn check(&mut self, msg: &[u8]) {
        self.counts.messages += 1;
        self.counts.bytes += msg.len() as u64;
        if msg.len() < 16 {
            self.counts.corrupted += 1;
            return;
        }
        let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
        let sum = u64::from_le_bytes(msg[8..16].try_into().unwrap());
        if sum != checksum(seq, msg.len(), &msg[16..]) {
            self.counts.corrupted += 1;
            return;
        }
        if seq == self.next {
            self.next += 1;
        } else if seq > self.next {
            for s in self.next..seq.min(self.next + 100_000) {
                self.missing.insert(s);
            }
            self.next = seq + 1;
        } else if self.missing.remove(&seq) {
            self.counts.reordered += 1;
        } else {
            self.counts.duplicated += 1;
        }
    }
}

fn consume(consumer: &mut Consumer, max: usize, seed: u64) -> Result<Checker, String> {
    let mut checker = Checker {
        next: 0,
        missing: BTreeSet::new(),
        counts: Counts::default(),
    };
    let mut stalls = Stalls::new(seed ^ 0x8765_4321);
    let mut vec = Vec::with_capacity(max);
    let mut slice = vec![0u8; max];
    let mut i = 0u64;
    loop {
        i += 1;
        let r = match i % 3 {
            0 => consumer
                .recv_timeout(&mut vec, STALL_GUARD)
                .map(|_| checker.check(&vec)),
            1 => consumer
                .recv_into_timeout(&mut slice, STALL_GUARD)
                .map(|n| checker.check(&slice[..n])),
            _ => consumer.recv_grant_timeout(STALL_GUARD).map(|g| {
                // SAFETY: the producer is our own child, which never writes a
                // record after publishing it.
                checker.check(unsafe { g.as_slice() })
            }),
        };
        match r {
            Ok(()) => stalls.maybe(),
            Err(RecvError::Disconnected) => return Ok(checker),
            Err(e) => return Err(format!("receive {}: {e}", checker.counts.messages)),
        }
    }
}

fn run_one(o: &Options, wakeup: WakeupKind) -> Result<bool, String> {
    let capacity = (4 * (o.max_size + 8)).next_power_of_two().max(64 << 10);
    let config = Config::new()
        .capacity(capacity)
        .max_message(o.max_size)
        .wakeup(wakeup);
    let region = Region::create_anonymous(&config).map_err(|e| e.to_string())?;
    let mut consumer = region.consumer().map_err(|e| e.to_string())?;
    let handoff = region.handoff().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args([
            "--child",
            "--seconds",
            &o.seconds.to_string(),
            "--max-size",
            &o.max_size.to_string(),
            "--seed",
            &o.seed.to_string(),
        ])
        .env(TOKEN_ENV, handoff.token())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the producer: {e}"))?;
    drop(handoff);
    let started = Instant::now();
    let result = consume(&mut consumer, o.max_size, o.seed);
    let elapsed = started.elapsed().as_secs_f64();
    let stdout = child.stdout.take().expect("piped");
    let mut sent = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("SENT ") {
            let mut f = rest
                .split(' ')
                .map(|x| x.parse::<u64>().unwrap_or(u64::MAX));
            sent = Some((f.next().unwrap_or(0), f.next().unwrap_or(0)));
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let checker = result?;
    let c = &checker.counts;
    let (sent_msgs, sent_bytes) = sent.ok_or("the producer reported nothing")?;
    // Whatever never arrived at all is lost too.
    let lost = checker.missing.len() as u64 + sent_msgs.saturating_sub(checker.next);
    let c = Counts { lost, ..*c };
    println!(
        "{:<8} {:>11} msgs {:>14} bytes {:>7.1} s {:>10.0} msg/s {:>8.1} MB/s   lost {} dup {} reordered {} corrupted {}",
        wakeup.name(),
        c.messages,
        c.bytes,
        elapsed,
        c.messages as f64 / elapsed,
        c.bytes as f64 / elapsed / 1e6,
        c.lost,
        c.duplicated,
        c.reordered,
        c.corrupted,
    );
    let mut ok = c.bad() == 0 && status.success();
    if sent_msgs != c.messages || sent_bytes != c.bytes {
        println!(
            "  MISMATCH: the producer sent {sent_msgs} messages / {sent_bytes} bytes, {} / {} arrived",
            c.messages, c.bytes
        );
        ok = false;
    }
    if !status.success() {
        println!("  the producer failed: {status}");
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if o.child {
        return match run_child(&o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("soak producer: {e}");
                ExitCode::FAILURE
            }
        };
    }
    println!(
        "soak: {} s per strategy, messages of 16..={} bytes, seed {}",
        o.seconds, o.max_size, o.seed
    );
    let mut all_ok = true;
    for &w in &o.wakeups {
        match run_one(&o, w) {
            Ok(ok) => all_ok &= ok,
            Err(e) => {
                println!("{:<8} FAILED: {e}", w.name());
                all_ok = false;
            }
        }
    }
    if all_ok {
        println!("soak: OK");
        ExitCode::SUCCESS
    } else {
        println!("soak: FAILED");
        ExitCode::FAILURE
    }
}
