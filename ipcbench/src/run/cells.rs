//! Turns the sessions (repeats) of one cell into a result-file [`Cell`].
//!
//! Status rules: a session that could not start or whose loop failed makes
//! the cell `failed`; a watchdog expiry makes it `timed_out`; so does a
//! latency repeat with fewer than [`MIN_ROUND_TRIPS`] round trips (each
//! hand-off took longer than the time bound allows: the case of spinning on a
//! shared core, two scheduler ticks per round trip). Whatever was measured is kept.

use super::session::{Measured, Session};
use crate::measure::latency::new_histogram;
use crate::measure::Ended;
use crate::plan::PlannedCell;
use crate::results::{Cell, LatencyStats, NodePages, Percentiles, Status, ThroughputStats};
use hdrhistogram::Histogram;

/// Fewer round trips than this in one repeat means the cell did not finish.
pub(crate) const MIN_ROUND_TRIPS: u64 = 20;

/// Percentiles stored as the plotting curve.
const CURVE: [f64; 14] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

pub(crate) fn skipped(c: &PlannedCell, reason: String) -> Cell {
    base(c, Status::Skipped { reason })
}

fn base(c: &PlannedCell, status: Status) -> Cell {
    Cell {
        transport: c.transport.name().to_string(),
        kind: c.kind,
        size_bytes: c.size as u64,
        pair: c.pair,
        status,
        latency: None,
        throughput: None,
        ring_pages: None,
    }
}

fn ended_of(s: &Session) -> &Ended {
    match &s.measured {
        Measured::Latency(r) => &r.ended,
        Measured::Throughput(r) => &r.ended,
    }
}

pub(crate) fn assemble(
    c: &PlannedCell,
    sessions: &[Session],
    verify: bool,
    start_error: Option<String>,
) -> Cell {
    let mut status = Status::Ok;
    let mut failure = start_error;
    let mut timed_out = false;
    for s in sessions {
        match ended_of(s) {
            Ended::Failed(e) if failure.is_none() => failure = Some(e.clone()),
            Ended::Stopped => timed_out = true,
            _ => {}
        }
        timed_out |= s.expired;
        if let Some(end) = &s.child_end {
            if let Some(e) = end.strip_prefix("failed: ") {
                failure.get_or_insert_with(|| format!("child: {e}"));
            }
        }
        if let Measured::Latency(r) = &s.measured {
            timed_out |= r.hist.len() < MIN_ROUND_TRIPS;
        }
        if let Measured::Throughput(r) = &s.measured {
            if r.ended == Ended::Done && !r.confirmed {
                failure.get_or_insert_with(|| {
                    "receiver's count or digest did not match what was sent".into()
                });
            }
        }
    }
    if let Some(error) = failure {
        status = Status::Failed { error };
    } else if timed_out {
        status = Status::TimedOut;
    }
    let mut cell = base(c, status);
    cell.ring_pages = sessions
        .iter()
        .find_map(|s| s.ring_pages.as_ref())
        .map(|pages| {
            pages
                .iter()
                .map(|&(node, pages)| NodePages {
                    node,
                    pages: pages as u64,
                })
                .collect()
        });
    let mut hists = Vec::new();
    let mut streams = Vec::new();
    for s in sessions {
        match &s.measured {
            Measured::Latency(r) => hists.push(&r.hist),
            Measured::Throughput(r) => streams.push(r),
        }
    }
    if !hists.is_empty() {
        cell.latency = latency_stats(&hists);
    }
    if !streams.is_empty() {
        let ok = cell.status == Status::Ok;
        let (mut messages, mut secs, mut per_repeat) = (0u64, 0f64, Vec::new());
        for r in &streams {
            let s = r.elapsed.as_secs_f64();
            if r.messages > 0 && s > 0.0 {
                messages += r.messages;
                secs += s;
                per_repeat.push(r.messages as f64 * c.size as f64 / s);
            }
        }
        if secs > 0.0 {
            let bytes = messages * c.size as u64;
            cell.throughput = Some(ThroughputStats {
                messages,
                bytes,
                seconds: secs,
                msgs_per_sec: messages as f64 / secs,
                bytes_per_sec: bytes as f64 / secs,
                repeats_bytes_per_sec: per_repeat,
                verified: verify && ok,
            });
        }
    }
    cell
}

fn latency_stats(hists: &[&Histogram<u64>]) -> Option<LatencyStats> {
    let mut all = new_histogram();
    for h in hists {
        // Same bounds everywhere, so adding cannot fail; ignore to be safe.
        let _ = all.add(*h);
    }
    if all.is_empty() {
        return None;
    }
    let p = |q: f64| all.value_at_quantile(q / 100.0);
    let rtt_ns = Percentiles {
        min: all.min(),
        p50: p(50.0),
        p90: p(90.0),
        p99: p(99.0),
        p999: p(99.9),
        max: all.max(),
        mean: all.mean(),
    };
    Some(LatencyStats {
        samples: all.len(),
        rtt_ns,
        one_way_p50_ns: rtt_ns.p50 as f64 / 2.0,
        repeats_p50_ns: hists
            .iter()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.5) as f64)
            .collect(),
        distribution: CURVE.iter().map(|&q| (q, p(q))).collect(),
    })
}
