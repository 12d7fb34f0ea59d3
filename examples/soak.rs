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
//! `Region::handoff`). Every message carries its sequence number and a hash of
//! its sequence number, length and body in its first 16 bytes; lengths and
//! bodies are random, lengths from 16 to the maximum. The producer cycles
//! through `send`, a zero-copy grant committed whole, and a larger grant cut
//! with `commit_len`; the consumer through `recv`, `recv_into` and zero-copy
//! `read`. Both sides stall now and then (sleeps of 0-2 ms at random
//! intervals), so the ring runs full, empty and everything between, and the
//! blocking paths of each strategy are taken.
//!
//! Prints, per strategy, messages, bytes, rates, and the lost / duplicated /
//! reordered / corrupted counts; exits non-zero if any of those is not zero,
//! if the producer's count differs from what arrived, or if anything failed.

mod common;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Parser;
use mempipe::{Config, Consumer, Producer, Region, WakeupKind};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hasher};
use std::io::{BufRead, BufReader};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

const TOKEN_ENV: &str = "MEMPIPE_SOAK_TOKEN";
/// A receive that waits this long means the producer stalled for good.
const STALL_GUARD: Duration = Duration::from_secs(30);

/// Soak test: random-size traffic from a child process, checked message by
/// message.
#[derive(Debug, Clone, Parser)]
struct Options {
    /// Seconds of traffic per strategy.
    #[arg(long, value_name = "N", default_value_t = 10.0, value_parser = seconds,
          allow_negative_numbers = true)]
    seconds: f64,
    /// The strategy to soak, or `all` for each in turn.
    // `std::vec::Vec` (not `Vec`): one value that names a list, not a repeated flag.
    #[arg(long = "wakeup", value_name = "WAKEUP", default_value = "all",
          value_parser = wakeups(), ignore_case = true)]
    wakeups: std::vec::Vec<WakeupKind>,
    /// Largest message in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4096,
          value_parser = common::size(16, usize::MAX))]
    max_size: usize,
    /// Seed of the message lengths, bodies and stalls.
    #[arg(long, value_name = "S", default_value_t = 0x50a4)]
    seed: u64,
    /// Run as the producer (started by the parent).
    #[arg(long, hide = true)]
    child: bool,
}

fn seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("{value:?} is not a positive number of seconds")),
    }
}

/// Parses `--wakeup`: a strategy's name, or `all`.
fn wakeups() -> impl TypedValueParser<Value = Vec<WakeupKind>> {
    let names = WakeupKind::ALL.map(WakeupKind::name);
    PossibleValuesParser::new(names.into_iter().chain(["all"])).map(|name| {
        if name.eq_ignore_ascii_case("all") {
            WakeupKind::ALL.to_vec()
        } else {
            vec![name.parse().expect("one of the listed names")]
        }
    })
}

/// The hash a message carries: over its sequence number, length and body.
fn checksum(seq: u64, len: usize, body: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write_u64(seq);
    h.write_usize(len);
    h.write(body);
    h.finish()
}

/// Random stalls: a sleep of 0-2 ms at random intervals of 0-20 ms (the clock
/// is read every 32 messages).
struct Stalls {
    rng: SmallRng,
    calls: u32,
    next: Instant,
}

impl Stalls {
    fn new(seed: u64) -> Self {
        Stalls {
            rng: SmallRng::seed_from_u64(seed),
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
            std::thread::sleep(Duration::from_micros(self.rng.random_range(0..=2000)));
            self.next = Instant::now() + Duration::from_micros(self.rng.random_range(0..=20_000));
        }
    }
}

// ---------------------------------------------------------------------------
// The producer (child process).

fn run_child(o: &Options) -> Result<(), String> {
    let region = common::handed_region(TOKEN_ENV)?;
    let mut producer = region.producer().map_err(|e| e.to_string())?;
    let mut rng = SmallRng::seed_from_u64(o.seed ^ 0x1234_5678);
    let mut stalls = Stalls::new(o.seed ^ 0x5555);
    let mut msg = vec![0u8; o.max_size];
    let end = Instant::now() + Duration::from_secs_f64(o.seconds);
    let (mut seq, mut bytes) = (0u64, 0u64);
    while seq % 256 != 0 || Instant::now() < end {
        // `[seq | checksum | body]`, the body random.
        let len = rng.random_range(16..=o.max_size);
        rng.fill(&mut msg[16..len]);
        let sum = checksum(seq, len, &msg[16..len]);
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        msg[8..16].copy_from_slice(&sum.to_le_bytes());
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
            Err(e) if e.is_disconnected() => return Ok(checker),
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
    let mut child = common::spawn_peer(
        &[
            ("--seconds", o.seconds.to_string()),
            ("--max-size", o.max_size.to_string()),
            ("--seed", o.seed.to_string()),
        ],
        &[(TOKEN_ENV, &region)],
        Stdio::piped(),
    )?;
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
    let o = Options::parse();
    if o.child {
        return common::exit_code("soak producer", run_child(&o));
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
