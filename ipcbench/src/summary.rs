//! The table printed at the end of a run: per transport, the one-way p50
//! latency at the headline size (8 B when measured, else the smallest) on the
//! best cross-core pair and on the best same-core pair, each with its ratio to
//! `limit` on the same kind of pair, the spread between repeats of the
//! cross-core value, and the best cross-core throughput at 4 KiB (else the
//! largest size measured).
//!
//! One-way = median over repeats of the round-trip p50, halved.

use crate::results::{Cell, Kind, ResultFile, Status};
use std::fmt::Write;

/// A latency figure for the table.
#[derive(Clone, Copy)]
struct Figure {
    /// One-way ns: median of the repeat p50s (or the merged p50), halved.
    one_way: f64,
    /// (max - min) / median of the repeat p50s, when there are several.
    spread: Option<f64>,
    timed_out: bool,
}

fn figure(c: &Cell) -> Option<Figure> {
    let l = c.latency.as_ref()?;
    let mut v = l.repeats_p50_ns.clone();
    v.sort_by(f64::total_cmp);
    let median = l.rtt_p50_over_repeats();
    let spread = (v.len() > 1 && median > 0.0).then(|| (v[v.len() - 1] - v[0]) / median);
    Some(Figure {
        one_way: median / 2.0,
        spread,
        timed_out: c.status == Status::TimedOut,
    })
}

/// Best (lowest) one-way latency of `transport` on cross-core or same-core pairs.
fn best(file: &ResultFile, transport: &str, size: u64, same_core: bool) -> Option<Figure> {
    file.cells
        .iter()
        .filter(|c| c.transport == transport && c.kind == Kind::Latency && c.size_bytes == size)
        .filter(|c| (c.pair.a == c.pair.b) == same_core)
        .filter_map(figure)
        .min_by(|x, y| x.one_way.total_cmp(&y.one_way))
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

/// `350x`, `1.2x`, `5.8e-4x`: enough digits to read ratios below one.
fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.1}x")
    } else {
        format!("{r:.1e}x")
    }
}

fn latency_text(v: Option<Figure>, limit: Option<Figure>) -> String {
    let Some(f) = v else { return "-".into() };
    let mark = if f.timed_out { "*" } else { "" };
    match limit {
        Some(l) if l.one_way > 0.0 => {
            format!(
                "{}{mark} ({})",
                fmt_ns(f.one_way),
                fmt_ratio(f.one_way / l.one_way)
            )
        }
        _ => format!("{}{mark}", fmt_ns(f.one_way)),
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
    let limit_cross = size.and_then(|s| best(file, "limit", s, false));
    let limit_same = size.and_then(|s| best(file, "limit", s, true));
    let w = file
        .params
        .transports
        .iter()
        .map(String::len)
        .chain([9])
        .max()
        .unwrap_or(9);
    let mut out = String::new();
    let lat = size.map_or("-".to_string(), |s| format!("{s} B"));
    let thr = tsize.map_or("-".to_string(), |s| format!("{s} B"));
    let _ = writeln!(
        out,
        "{:<w$} {:>22} {:>14} {:>22} {:>18}",
        "", "one-way p50 latency", "", "", "throughput"
    );
    let _ = writeln!(
        out,
        "{:<w$} {:>22} {:>14} {:>22} {:>18}",
        "transport",
        format!("{lat}, best cross-core"),
        "repeat spread",
        format!("{lat}, same core"),
        format!("{thr}, cross-core")
    );
    for t in &file.params.transports {
        let cross = size.and_then(|s| best(file, t, s, false));
        let same = size.and_then(|s| best(file, t, s, true));
        let spread = cross
            .and_then(|f| f.spread)
            .map_or("-".into(), |s| format!("{:.0}%", s * 100.0));
        let rate = tsize.and_then(|s| {
            file.cells
                .iter()
                .filter(|c| &c.transport == t && c.kind == Kind::Throughput && c.size_bytes == s)
                .filter(|c| c.pair.a != c.pair.b)
                .filter_map(|c| c.throughput.as_ref().map(|x| x.bytes_per_sec))
                .max_by(f64::total_cmp)
        });
        let _ = writeln!(
            out,
            "{:<w$} {:>22} {:>14} {:>22} {:>18}",
            t,
            latency_text(cross, limit_cross),
            spread,
            latency_text(same, limit_same),
            rate.map_or("-".into(), fmt_rate)
        );
    }
    let _ = writeln!(
        out,
        "(x) = ratio to `limit` on the same kind of pair; spread = (max-min)/median of the repeat p50s;\n\
         * = timed out (too few round trips within the time bound; value from what was measured)"
    );
    out
}
