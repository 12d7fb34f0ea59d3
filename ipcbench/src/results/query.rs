//! Queries over a result file's cells that every reader shares: which transports and sizes it
//! holds, a cell's figure in each unit and in each round, and which core pairs count as cross-core
//! or same-core.

use super::{Cell, CorePair, Kind, ResultFile, Status};
use crate::units::{fmt_ns, fmt_rate};

/// Transport names across all files, in first-seen order (params order, then cells).
pub(crate) fn transports(files: &[ResultFile]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: &str| {
        if !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    };
    for f in files {
        f.params.transports.iter().for_each(|t| push(t));
        f.cells.iter().for_each(|c| push(&c.transport));
    }
    out
}

/// Distinct sizes of `kind` cells in `file`, ascending.
pub(crate) fn sizes(file: &ResultFile, kind: Kind) -> Vec<u64> {
    let mut s: Vec<u64> = file
        .cells
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.size_bytes)
        .collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// The latency size the summary and percentile charts use: 8 B when measured, else the smallest.
pub(crate) fn default_latency_size(file: &ResultFile) -> Option<u64> {
    let s = sizes(file, Kind::Latency);
    if s.contains(&8) {
        Some(8)
    } else {
        s.first().copied()
    }
}

/// One-way p50 of an OK latency cell, when finite and positive: half the median of the
/// repeats' round-trip p50s, as `ipcbench check` and the run summary take it (a merged
/// histogram would follow whichever repeat fitted most round trips in its time).
pub(crate) fn one_way(c: &Cell) -> Option<f64> {
    let l = c.latency.as_ref()?;
    let v = l.rtt_p50_over_repeats() / 2.0;
    (c.status == Status::Ok && v.is_finite() && v > 0.0).then_some(v)
}

/// Bytes/s of an OK throughput cell, when finite and positive.
pub(crate) fn rate(c: &Cell) -> Option<f64> {
    let t = c.throughput.as_ref()?;
    (c.status == Status::Ok && t.bytes_per_sec.is_finite() && t.bytes_per_sec > 0.0)
        .then_some(t.bytes_per_sec)
}

/// Transports that keep a CPU busy while they wait (they never sleep).
pub(crate) fn busy_waits(transport: &str) -> bool {
    transport == "limit" || transport.contains("spin") || transport.ends_with("-poll")
}

/// What a cell's figure was in each round, in round order: the repeats' RTT p50s
/// (latency) or bytes per second (throughput). A file without per-repeat figures
/// gives its single merged figure as one round.
pub(crate) fn rounds_of(c: &Cell) -> Vec<f64> {
    match c.kind {
        Kind::Latency => c.latency.as_ref().map_or_else(Vec::new, |l| {
            if l.repeats_p50_ns.is_empty() {
                vec![l.rtt_ns.p50 as f64]
            } else {
                l.repeats_p50_ns.clone()
            }
        }),
        Kind::Throughput => c.throughput.as_ref().map_or_else(Vec::new, |t| {
            if t.repeats_bytes_per_sec.is_empty() {
                vec![t.bytes_per_sec]
            } else {
                t.repeats_bytes_per_sec.clone()
            }
        }),
    }
}

/// The number of a cell a target compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    /// Half the median of the repeats' round-trip p50s, as the run summary shows it. Not
    /// `one_way_p50_ns` (the merged histogram's p50): on a VM one repeat may catch another
    /// vCPU placement, and the merged p50 follows whichever repeat fitted most round trips.
    OneWayP50,
    /// The median of the repeats' round-trip p50s.
    RttP50,
    /// `latency.rtt_ns.p999`.
    RttP999,
    /// `throughput.bytes_per_sec`.
    BytesPerSec,
    /// `throughput.msgs_per_sec`.
    MsgsPerSec,
}

impl Metric {
    pub(crate) fn kind(self) -> Kind {
        match self {
            Metric::OneWayP50 | Metric::RttP50 | Metric::RttP999 => Kind::Latency,
            Metric::BytesPerSec | Metric::MsgsPerSec => Kind::Throughput,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Metric::OneWayP50 => "one-way p50",
            Metric::RttP50 => "RTT p50",
            Metric::RttP999 => "RTT p99.9",
            Metric::BytesPerSec => "B/s",
            Metric::MsgsPerSec => "msg/s",
        }
    }

    /// Latencies are better low, rates high: decides the "best" of several transports.
    pub(crate) fn lower_is_better(self) -> bool {
        self.kind() == Kind::Latency
    }

    /// The figure of `c`, whatever its status, when present, finite and positive.
    pub(crate) fn raw(self, c: &Cell) -> Option<f64> {
        let v = match self {
            Metric::OneWayP50 => c.latency.as_ref()?.rtt_p50_over_repeats() / 2.0,
            Metric::RttP50 => c.latency.as_ref()?.rtt_p50_over_repeats(),
            Metric::RttP999 => c.latency.as_ref()?.rtt_ns.p999 as f64,
            Metric::BytesPerSec => c.throughput.as_ref()?.bytes_per_sec,
            Metric::MsgsPerSec => c.throughput.as_ref()?.msgs_per_sec,
        };
        (v.is_finite() && v > 0.0).then_some(v)
    }

    /// The figure of an OK cell. A timed-out cell's figure is what a bounded run happened to
    /// catch (often one scheduler tick), not the transport's speed, so ratios leave it out.
    pub(crate) fn of(self, c: &Cell) -> Option<f64> {
        (c.kind == self.kind() && c.status == Status::Ok)
            .then(|| self.raw(c))
            .flatten()
    }

    /// The figure of each round (see [`crate::analysis::paired`]), in the same unit as [`Metric::raw`].
    pub(crate) fn rounds(self, c: &Cell) -> Vec<f64> {
        match self {
            Metric::OneWayP50 => rounds_of(c).into_iter().map(|v| v / 2.0).collect(),
            Metric::RttP50 | Metric::BytesPerSec => rounds_of(c),
            Metric::MsgsPerSec => rounds_of(c)
                .into_iter()
                .map(|v| v / c.size_bytes.max(1) as f64)
                .collect(),
            Metric::RttP999 => self.raw(c).into_iter().collect(),
        }
    }

    pub(crate) fn fmt(self, v: f64) -> String {
        match self {
            Metric::OneWayP50 | Metric::RttP50 | Metric::RttP999 => fmt_ns(v),
            Metric::BytesPerSec => fmt_rate(v),
            Metric::MsgsPerSec => format!("{:.1} M msg/s", v / 1e6),
        }
    }
}

/// Which core pairs a target looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `pair.a != pair.b`.
    Cross,
    /// `pair.a == pair.b`: both processes on one CPU.
    Same,
}

impl Class {
    pub(crate) fn holds(self, p: CorePair) -> bool {
        (p.a == p.b) == (self == Class::Same)
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Class::Cross => "cross-core",
            Class::Same => "same core",
        }
    }
}
