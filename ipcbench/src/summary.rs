//! The table printed at the end of a run: per transport, the one-way p50
//! latency at the headline size (8 B when measured, else the smallest) on the
//! best cross-core pair and on the best same-core pair, each with its paired
//! ratio to `limit` on that same pair (per round, median over rounds, see
//! `crate::analysis::paired`), the spread between repeats of the cross-core value, and
//! the best cross-core throughput at 4 KiB (else the largest size measured).
//!
//! One-way = median over repeats of the round-trip p50, halved.

use crate::analysis::notes::BIMODAL;
use crate::analysis::paired::{paired, BOUND_OUTLIER};
use crate::results::query::rounds_of;
use crate::results::{Cell, Kind, ResultFile, Status};
use crate::units::{fmt_ns, fmt_rate, fmt_size};
use std::fmt::Write;

/// A latency figure for the table.
#[derive(Clone, Copy)]
struct Figure<'f> {
    cell: &'f Cell,
    /// One-way ns: median of the repeat p50s (or the merged p50), halved.
    one_way: f64,
    /// (max - min) / median of the repeat p50s, when there are several.
    spread: Option<f64>,
    /// The slowest repeat is over [`BIMODAL`] times the fastest: they disagree.
    split: bool,
    timed_out: bool,
}

fn figure(c: &Cell) -> Option<Figure<'_>> {
    let l = c.latency.as_ref()?;
    let mut v = l.repeats_p50_ns.clone();
    v.sort_by(f64::total_cmp);
    let median = l.rtt_p50_over_repeats();
    let spread = (v.len() > 1 && median > 0.0).then(|| (v[v.len() - 1] - v[0]) / median);
    Some(Figure {
        cell: c,
        one_way: median / 2.0,
        spread,
        split: v.len() > 1 && v[v.len() - 1] > BIMODAL * v[0],
        timed_out: c.status == Status::TimedOut,
    })
}

/// Best (lowest) one-way latency of `transport` on cross-core or same-core pairs.
fn best<'f>(
    file: &'f ResultFile,
    transport: &str,
    size: u64,
    same_core: bool,
) -> Option<Figure<'f>> {
    file.cells
        .iter()
        .filter(|c| c.transport == transport && c.kind == Kind::Latency && c.size_bytes == size)
        .filter(|c| (c.pair.a == c.pair.b) == same_core)
        .filter_map(figure)
        .min_by(|x, y| x.one_way.total_cmp(&y.one_way))
}

/// The value with its timed-out mark: "167 ns", "4.00 ms*".
fn latency_text(v: Option<Figure>) -> String {
    match v {
        Some(f) => format!(
            "{}{}",
            fmt_ns(f.one_way),
            if f.timed_out { "*" } else { "" }
        ),
        None => "-".into(),
    }
}

/// The paired ratio of `v` to `limit` on the same pair, or why there is none.
fn ratio_text(file: &ResultFile, v: Option<Figure>) -> String {
    let Some(f) = v else { return "-".into() };
    let c = f.cell;
    if c.transport == "limit" {
        return "bound".into();
    }
    let bound = file.cells.iter().find(|b| {
        b.transport == "limit"
            && b.kind == c.kind
            && b.size_bytes == c.size_bytes
            && b.pair == c.pair
    });
    match bound {
        None => "no bound (no limit cell)".into(),
        Some(b) if b.status == Status::TimedOut && b.pair.a == b.pair.b => {
            "no bound (limit spins: one CPU)".into()
        }
        Some(b) if b.status != Status::Ok => {
            format!("no bound (limit {})", b.status.name().replace('_', " "))
        }
        Some(b) => paired(&rounds_of(c), &rounds_of(b))
            .map_or_else(|| "no bound (no common round)".into(), |r| r.text()),
    }
}

/// Render the summary table.
pub(crate) fn render(file: &ResultFile) -> String {
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
    let lat = size.map_or("-".to_string(), fmt_size);
    let thr = tsize.map_or("-".to_string(), fmt_size);
    let mut rows: Vec<[String; 7]> = vec![[
        "transport".into(),
        format!("{lat}, best cross-core"),
        "x limit".into(),
        "repeat spread".into(),
        format!("{lat}, same core"),
        "x limit".into(),
        format!("{thr}, cross-core"),
    ]];
    for t in &file.params.transports {
        let cross = size.and_then(|s| best(file, t, s, false));
        let same = size.and_then(|s| best(file, t, s, true));
        let spread = cross
            .and_then(|f| Some((f.spread?, f.split)))
            .map_or("-".into(), |(s, split)| {
                format!("{:.0}%{}", s * 100.0, if split { " !" } else { "" })
            });
        let rate = tsize.and_then(|s| {
            file.cells
                .iter()
                .filter(|c| &c.transport == t && c.kind == Kind::Throughput && c.size_bytes == s)
                .filter(|c| c.pair.a != c.pair.b)
                .filter_map(|c| c.throughput.as_ref().map(|x| x.bytes_per_sec))
                .max_by(f64::total_cmp)
        });
        rows.push([
            t.clone(),
            latency_text(cross),
            ratio_text(file, cross),
            spread,
            latency_text(same),
            ratio_text(file, same),
            rate.map_or("-".into(), fmt_rate),
        ]);
    }
    let mut w = [0usize; 7];
    for r in &rows {
        for (w, cell) in w.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "one-way p50 latency; throughput");
    for r in &rows {
        let mut line = format!("{:<a$}", r[0], a = w[0]);
        for (cell, w) in r.iter().zip(w).skip(1) {
            let _ = write!(line, "  {cell:>w$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "x limit = paired ratio to `limit` on the same pair: per round, median over rounds (range);\n\
         a round whose `limit` is more than {:.0}% off its median is flagged and left out.\n\
         spread = (max-min)/median of the repeat p50s; ! = the repeats disagree (see the notes);\n\
         * = timed out (too few round trips within the time bound; value from what was measured)\n\
         no bound (limit spins: one CPU) = `limit` spins, and spinning cannot hand off on one CPU",
        BOUND_OUTLIER * 100.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::results::{
        Cell, CorePair, Kind, LatencyStats, Machine, Params, Percentiles, ResultFile, Status,
    };

    fn cell(t: &str, (a, b): (usize, usize), rounds: &[f64], status: Status) -> Cell {
        Cell {
            transport: t.into(),
            kind: Kind::Latency,
            size_bytes: 8,
            pair: CorePair { a, b },
            status,
            latency: Some(LatencyStats {
                samples: 100,
                rtt_ns: Percentiles {
                    p50: rounds[0] as u64,
                    ..Percentiles::default()
                },
                repeats_p50_ns: rounds.to_vec(),
                ..LatencyStats::default()
            }),
            throughput: None,
            ring_pages: None,
        }
    }

    fn file(cells: Vec<Cell>) -> ResultFile {
        let machine = Machine {
            hostname: "test".into(),
            cpu_model: "Test CPU".into(),
            sockets: 1,
            physical_cores: 2,
            logical_cpus: 2,
            smt: false,
            kernel_release: "6.0".into(),
            virtualization: None,
            clocksource: None,
            load_avg: None,
            topology: crate::topology::Topology::default(),
        };
        let mut f = ResultFile::new(
            machine,
            Params {
                latency_sizes_bytes: vec![8],
                throughput_sizes_bytes: vec![],
                warmup_ms: 1,
                duration_ms: 1,
                repeats: 3,
                pairs: vec![],
                transports: vec!["limit".into(), "mempipe-spin".into()],
                verify: false,
                numa_placement: None,
            },
        );
        f.cells = cells;
        f
    }

    #[test]
    fn ratios_are_paired_on_the_same_pair_and_a_bound_that_did_not_run_is_named() {
        let ok = Status::Ok;
        let f = file(vec![
            cell("limit", (0, 1), &[200.0, 220.0, 210.0], ok.clone()),
            cell("mempipe-spin", (0, 1), &[220.0, 242.0, 231.0], ok.clone()),
            cell("limit", (0, 0), &[8e6, 8e6, 8e6], Status::TimedOut),
            cell("mempipe-spin", (0, 0), &[8e6, 8e6, 8e6], Status::TimedOut),
        ]);
        let text = render(&f);
        let spin = text
            .lines()
            .find(|l| l.starts_with("mempipe-spin"))
            .unwrap();
        assert!(spin.contains(" 1.10x "), "{text}");
        assert!(spin.contains("no bound (limit spins: one CPU)"), "{text}");
        let tiny = |w: &str| w.ends_with('x') && w.contains("e-");
        assert!(!text.split_whitespace().any(tiny), "no tiny ratios: {text}");
    }
}
