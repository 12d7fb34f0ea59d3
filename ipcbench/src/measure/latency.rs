//! Ping-pong latency: the parent ([`ping`]) sends a message and times the
//! round trip until the child's echo ([`echo`]) arrives.

use super::message::{self, DATA, LAST};
use super::Ended;
use super::Endpoint;
use crate::stop::should_stop;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// Highest round trip the histogram tracks: 60 s (larger values saturate).
const MAX_TRACKED_NS: u64 = 60_000_000_000;

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("static histogram bounds are valid")
}

/// What one repeat of the parent's ping loop produced.
pub(crate) struct PingRun {
    /// Round-trip times in ns (warm-up excluded).
    pub(crate) hist: Histogram<u64>,
    pub(crate) ended: Ended,
}

/// Ping for `warmup` (not recorded), then for `duration` (recorded); then
/// send the [`LAST`] message so the child stops echoing.
pub(crate) fn ping<E: Endpoint + ?Sized>(
    ep: &mut E,
    size: usize,
    warmup: Duration,
    duration: Duration,
    verify: bool,
) -> PingRun {
    let mut hist = new_histogram();
    let ended = match ping_loop(ep, size, warmup, duration, verify, &mut hist) {
        Ok(()) => Ended::Done,
        Err(e) => e,
    };
    PingRun { hist, ended }
}

fn ping_loop<E: Endpoint + ?Sized>(
    ep: &mut E,
    size: usize,
    warmup: Duration,
    duration: Duration,
    verify: bool,
    hist: &mut Histogram<u64>,
) -> Result<(), Ended> {
    let mut tx = message::pattern(size);
    let mut seq = 0u64;
    let mut bad: Option<String> = None;
    let mut round_trip = |ep: &mut E, seq: u64, marker: u8| -> Result<(), Ended> {
        message::stamp(&mut tx, marker, seq, verify);
        ep.send(&tx)?;
        ep.recv_with(size, &mut |m| {
            // Read the reply like a consumer would (every line), see `digest`.
            std::hint::black_box(message::digest(m));
            if bad.is_none() {
                bad = message::check(m, seq, verify).err();
            }
        })?;
        match bad.take() {
            Some(e) => Err(Ended::Failed(format!("echo: {e}"))),
            None => Ok(()),
        }
    };
    let start = Instant::now();
    while start.elapsed() < warmup {
        round_trip(ep, seq, DATA)?;
        seq += 1;
    }
    let end = Instant::now() + duration;
    let mut t0 = Instant::now();
    while t0 < end {
        if should_stop() {
            return Err(Ended::Stopped);
        }
        round_trip(ep, seq, DATA)?;
        let t1 = Instant::now();
        hist.saturating_record((t1 - t0).as_nanos() as u64);
        seq += 1;
        t0 = t1;
    }
    round_trip(ep, seq, LAST)
}

/// What the child's echo loop saw.
pub(crate) struct EchoRun {
    pub(crate) messages: u64,
    pub(crate) ended: Ended,
}

/// Echo every message back until the [`LAST`] one (which is echoed too).
pub(crate) fn echo<E: Endpoint + ?Sized>(ep: &mut E, size: usize, verify: bool) -> EchoRun {
    let mut tx = vec![0u8; size];
    let mut messages = 0u64;
    let ended = loop {
        let mut marker = DATA;
        let mut bad = None;
        let r = ep.recv_with(size, &mut |m| {
            marker = m[0];
            bad = message::check(m, messages, verify).err();
            tx.copy_from_slice(m);
        });
        if let Err(e) = r {
            break e.into();
        }
        if let Some(e) = bad {
            break Ended::Failed(format!("ping: {e}"));
        }
        messages += 1;
        if let Err(e) = ep.send(&tx) {
            break e.into();
        }
        if marker == LAST {
            break Ended::Done;
        }
    };
    EchoRun { messages, ended }
}
