//! The table printed at the end of a run: per transport, the one-way p50
//! latency at the headline size (8 B when measured, else the smallest) on the
//! best cross-core pair and on a same-core pair, each as a ratio to `limit`,
//! and the best cross-core throughput at 4 KiB (else the largest size).
//!
//! One-way = median over repeats of the round-trip p50, halved.

use crate::results::{Cell, Kind, ResultFile, Status};
use std::fmt::Write;

/// Median of the repeat p50s (falls back to the merged p50), one-way, ns.
fn one_way_ns(c: &Cell) -> Option<f64> {
    let l = c.latency.as_ref()?;
    let mut v = l.repeats_p50_ns.clone();
    v.sort_by(f64::total_cmp);
    let rtt = if v.is_empty() {
        l.rtt_ns.p50 as f64
    } else {
        v[v.len() / 2]
    };
    Some(rtt / 2.0)
}

/// Best (lowest) one-way latency over the cells matching `same_core`.
fn best_latency(
    file: &ResultFile,
    transport: &str,
    size: u64,
    same_core: bool,
) -> Option<(f64, bool)> {
    file.cells
        .iter()
        .filter(|c| c.transport == transport && c.kind == Kind::Latency && c.size_bytes == size)
        .filter(|c| (c.pair.a == c.pair.b) == same_core)
        .filter_map(|c| Some((one_way_ns(c)?, c.status == Status::TimedOut)))
        .min_by(|x, y| x.0.total_cmp(&y.0))
}

pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn fmt_rate(bps: f64) -> String {
    if bps >= 1e9 {
        format!("{:.2} GB/s", bps / 1e9)
    } else {
        format!("{:.0} MB/s", bps / 1e6)
    }
}

/// `350x`, `1.2x`, `0.0006x`: enough digits to read ratios below one.
fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.1}x")
    } else {
        format!("{r:.1e}x")
    }
}

fn cell_text(v: Option<(f64, bool)>, limit: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some((ns, timed_out)) => {
            let mark = if timed_out { "*" } else { "" };
            match limit {
                Some(l) if l > 0.0 => format!("{}{mark} ({})", fmt_ns(ns), fmt_ratio(ns / l)),
                _ => format!("{}{mark}", fmt_ns(ns)),
            }
        }
    }
}

/// Render the summary table.
pub fn render(file: &ResultFile) -> String {
    let sizes = &file.params.latency_sizes_bytes;
    let size = if sizes.contains(&8) {
        Some(8)
    } else {
        sizes.iter().copied().min()
    };
    let tsizes = &file.params.throughput_sizes_bytes;
    let tsize = if tsizes.contains(&4096) {
        Some(4096)
    } else {
        tsizes.iter().copied().max()
    };
    let limit_cross = size
        .and_then(|s| best_latency(file, "limit", s, false))
        .map(|v| v.0);
    let limit_same = size
        .and_then(|s| best_latency(file, "limit", s, true))
        .map(|v| v.0);
    let mut out = String::new();
    let lat_head = size.map_or("latency".to_string(), |s| format!("one-way p50 @ {s} B"));
    let thr_head = tsize.map_or("throughput".to_string(), |s| {
        format!("best cross-core @ {s} B")
    });
    let _ = writeln!(
        out,
        "{:<16} {:>22} {:>22} {:>24}",
        "transport",
        format!("{lat_head}, cross-core"),
        "same core",
        thr_head
    );
    for t in &file.params.transports {
        let cross = size.and_then(|s| best_latency(file, t, s, false));
        let same = size.and_then(|s| best_latency(file, t, s, true));
        let thr = tsize.and_then(|s| {
            file.cells
                .iter()
                .filter(|c| {
                    &c.transport == t
                        && c.kind == Kind::Throughput
                        && c.size_bytes == s
                        && c.pair.a != c.pair.b
                })
                .filter_map(|c| c.throughput.as_ref().map(|x| x.bytes_per_sec))
                .max_by(f64::total_cmp)
        });
        let _ = writeln!(
            out,
            "{:<16} {:>22} {:>22} {:>24}",
            t,
            cell_text(cross, limit_cross),
            cell_text(same, limit_same),
            thr.map_or("-".into(), fmt_rate)
        );
    }
    let _ = writeln!(out, "(x) = ratio to `limit` on the same kind of pair; * = timed out (too few round trips, value from what was measured)");
    out
}
