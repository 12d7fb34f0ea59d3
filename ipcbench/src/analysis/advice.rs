//! The advice a run ends with: which transport to use on this machine for request/response, for
//! streaming and for a mostly idle server, each with the figure behind it; what
//! `ipcbench profile --install` will make mempipe connections choose; and a sentence for each
//! figure of the run that would otherwise puzzle (cells that cannot work by design, repeats that
//! disagree, rounds left out of the ratios). The run summary prints it and the HTML report shows
//! it first.
//!
//! Every figure is a median over the cross-core pairs measured (one pair's luck does not decide),
//! at the headline sizes: 8 B latency (else the smallest), 4 KiB throughput (else the largest).

use super::notes::notes;
use super::paired::{over_pairs, paired};
use super::profile::from_results;
use super::stats::median;
use crate::results::query::{busy_waits, default_latency_size, rounds_of, Class, Metric};
use crate::results::{Kind, ResultFile, Status};
use crate::units::{fmt_ns, fmt_rate, fmt_ratio, fmt_size};
use mempipe::conn::MachineProfile;
use std::time::Duration;

/// A transport recommended for one use, with the figure that earned it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pick {
    pub(crate) transport: String,
    /// "167 ns one-way p50 at 8 B, 1.05x the hardware bound".
    pub(crate) figure: String,
}

/// What a run advises; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Advice {
    pub(crate) request_response: Option<Pick>,
    pub(crate) streaming: Option<Pick>,
    pub(crate) idle_friendly: Option<Pick>,
    /// What the machine profile of this run makes connections choose.
    pub(crate) profile: String,
    /// Why odd figures of the run are what they are.
    pub(crate) notes: Vec<String>,
}

/// Median over cross-core pairs of `metric` for `transport` at `size`, OK cells only.
fn cross_median(f: &ResultFile, transport: &str, metric: Metric, size: u64) -> Option<f64> {
    let v: Vec<f64> = f
        .cells
        .iter()
        .filter(|c| c.transport == transport && c.size_bytes == size && Class::Cross.holds(c.pair))
        .filter_map(|c| metric.of(c))
        .collect();
    median(v)
}

/// Paired ratio of `transport` to `limit` over the cross-core pairs, at `size`.
fn to_bound(f: &ResultFile, transport: &str, kind: Kind, size: u64) -> Option<f64> {
    let cells = |t: &'static str| {
        f.cells
            .iter()
            .filter(move |c| c.transport == t && c.kind == kind && c.size_bytes == size)
            .filter(|c| c.status == Status::Ok && Class::Cross.holds(c.pair))
    };
    let ratios: Vec<_> = f
        .cells
        .iter()
        .filter(|c| c.transport == transport && c.kind == kind && c.size_bytes == size)
        .filter(|c| c.status == Status::Ok && Class::Cross.holds(c.pair))
        .filter_map(|c| {
            let b = cells("limit").find(|b| b.pair == c.pair)?;
            paired(&rounds_of(c), &rounds_of(b))
        })
        .collect();
    over_pairs(&ratios).map(|r| r.median)
}

/// ", 1.05x the hardware bound", or why a ratio to the bound would mislead: a transport cannot
/// beat the bound by much, so where it does, the bound itself was held up (a spinning `limit`
/// stalls when its CPUs are shared).
fn bound_text(f: &ResultFile, transport: &str, kind: Kind, size: u64) -> String {
    let Some(r) = to_bound(f, transport, kind, size) else {
        return String::new();
    };
    let beats = if kind == Kind::Latency {
        r < 0.8
    } else {
        r > 1.25
    };
    if beats {
        ", no ratio to the bound: `limit` ran slower than this, so it was held up".into()
    } else {
        format!(", {} the hardware bound", fmt_ratio(r))
    }
}

/// The best transport (not `limit`) by `metric` at `size` among those `allowed` keeps.
fn best(
    f: &ResultFile,
    metric: Metric,
    size: u64,
    allowed: impl Fn(&str) -> bool,
) -> Option<(String, f64)> {
    let mut best: Option<(String, f64)> = None;
    for t in &f.params.transports {
        if t == "limit" || !allowed(t) {
            continue;
        }
        let Some(v) = cross_median(f, t, metric, size) else {
            continue;
        };
        let better = match &best {
            None => true,
            Some((_, b)) if metric.lower_is_better() => v < *b,
            Some((_, b)) => v > *b,
        };
        if better {
            best = Some((t.clone(), v));
        }
    }
    best
}

fn latency_pick(f: &ResultFile, size: u64, allowed: impl Fn(&str) -> bool) -> Option<Pick> {
    let (t, v) = best(f, Metric::OneWayP50, size, allowed)?;
    let mut figure = format!("{} one-way p50 at {}", fmt_ns(v), fmt_size(size));
    figure += &bound_text(f, &t, Kind::Latency, size);
    figure += if busy_waits(&t) {
        "; spins, so each waiting side keeps a CPU busy"
    } else if t.contains("hybrid") {
        "; spins briefly, then sleeps in the kernel"
    } else {
        "; sleeps in the kernel while it waits"
    };
    Some(Pick {
        transport: t,
        figure,
    })
}

/// The advice `f` supports; uses without the cells they need stay `None`.
pub(crate) fn advise(f: &ResultFile) -> Advice {
    let lat_size = default_latency_size(f);
    let tsizes = crate::results::query::sizes(f, Kind::Throughput);
    let thr_size = if tsizes.contains(&4096) {
        Some(4096)
    } else {
        tsizes.last().copied()
    };
    let streaming = thr_size.and_then(|size| {
        let (t, v) = best(f, Metric::BytesPerSec, size, |_| true)?;
        let mut figure = format!("{} at {} messages", fmt_rate(v), fmt_size(size));
        figure += &bound_text(f, &t, Kind::Throughput, size);
        Some(Pick {
            transport: t,
            figure,
        })
    });
    Advice {
        request_response: lat_size.and_then(|s| latency_pick(f, s, |_| true)),
        streaming,
        idle_friendly: lat_size.and_then(|s| latency_pick(f, s, |t| !busy_waits(t))),
        profile: profile_effect(&from_results(f)),
        notes: notes(f, lat_size),
    }
}

/// What connections choose with `p` installed (the rules of `mempipe::conn::ConnConfig`: a
/// hybrid budget of twice the wake cost within 2-200 µs, spin for lowest latency when viable).
pub(crate) fn profile_effect(p: &MachineProfile) -> String {
    let mut parts = Vec::new();
    match p.spin_viable {
        Some(true) => parts.push(
            "lowest-latency connections spin (spinning beat a futex wait on the cross-core pairs)"
                .to_string(),
        ),
        Some(false) => parts.push(
            "lowest-latency connections use hybrid with a long spin instead of spinning \
             (spinning did not beat a futex wait here)"
                .to_string(),
        ),
        None => {}
    }
    if let Some(cost) = p.wake_cost {
        let budget = (cost * 2).clamp(Duration::from_micros(2), Duration::from_micros(200));
        parts.push(format!(
            "balanced connections (the default) spin {} before they sleep, twice the {} a \
             futex wake costs here (default 20 µs)",
            fmt_ns(budget.as_nanos() as f64),
            fmt_ns(cost.as_nanos() as f64)
        ));
    }
    match p.stream_peak_ring {
        Some(ring) if ring != 1 << 20 => parts.push(format!(
            "rings of {} (default 1 MiB), where streaming peaked",
            fmt_size(ring as u64)
        )),
        Some(_) => parts.push("rings stay at 1 MiB, where streaming peaked".into()),
        None => {}
    }
    if p.wake_cost.is_none() {
        parts.push(
            "the balanced spin budget stays 20 µs: no mempipe-futex latency cell finished \
             cross-core"
                .into(),
        );
    }
    if p.spin_viable.is_none() {
        parts.push(
            "whether to spin stays the default (spin on two or more CPUs): no mempipe-spin \
             cell beside a mempipe-futex one finished cross-core"
                .into(),
        );
    }
    if parts.is_empty() {
        "nothing: this run has no cells a profile needs (measure mempipe-futex and mempipe-spin)"
            .into()
    } else {
        parts.join("; ")
    }
}

impl Advice {
    /// The three uses with their picks, for the terminal and the report.
    pub(crate) fn uses(&self) -> [(&'static str, Option<&Pick>); 3] {
        [
            ("request/response", self.request_response.as_ref()),
            ("streaming", self.streaming.as_ref()),
            ("an idle-friendly server", self.idle_friendly.as_ref()),
        ]
    }

    /// The advice as plain text, as the run ends with it.
    pub(crate) fn text(&self) -> String {
        let mut s = String::from("On this machine (medians over the cross-core pairs measured):\n");
        for (what, pick) in self.uses() {
            match pick {
                Some(p) => s += &format!("  for {what}, use {}: {}\n", p.transport, p.figure),
                None => s += &format!("  for {what}: not measured in this run\n"),
            }
        }
        s += &format!(
            "  `ipcbench profile --install` will make mempipe connections choose: {}.\n",
            self.profile
        );
        for n in &self.notes {
            s += &format!("note: {n}\n");
        }
        s
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::check::tests::{file, lat, thr};

    pub(crate) fn with_transports(mut f: ResultFile) -> ResultFile {
        let mut ts: Vec<String> = Vec::new();
        for c in &f.cells {
            if !ts.contains(&c.transport) {
                ts.push(c.transport.clone());
            }
        }
        f.params.transports = ts;
        f.params.throughput_sizes_bytes = vec![4096];
        f
    }

    #[test]
    fn each_use_gets_the_best_transport_allowed_with_its_figure() {
        let f = with_transports(file(
            &[0, 1],
            vec![
                lat("limit", 8, (0, 1), 100.0),
                lat("mempipe-spin", 8, (0, 1), 110.0),
                lat("mempipe-hybrid", 8, (0, 1), 130.0),
                lat("mempipe-futex", 8, (0, 1), 20_000.0),
                lat("pipe", 8, (0, 1), 9_000.0),
                thr("mempipe-spin", 4096, (0, 1), 5e9),
                thr("mempipe-futex-zc", 4096, (0, 1), 7e9),
                thr("pipe", 4096, (0, 1), 1e9),
            ],
        ));
        let a = advise(&f);
        let rr = a.request_response.clone().unwrap();
        assert_eq!(rr.transport, "mempipe-spin");
        assert!(
            rr.figure.starts_with("110 ns one-way p50 at 8 B, 1.10x"),
            "{}",
            rr.figure
        );
        assert!(rr.figure.contains("spins"), "{}", rr.figure);
        // The idle-friendly pick never busy-waits: hybrid, not the faster spin.
        let idle = a.idle_friendly.clone().unwrap();
        assert_eq!(idle.transport, "mempipe-hybrid");
        assert!(idle.figure.contains("then sleeps"), "{}", idle.figure);
        let stream = a.streaming.clone().unwrap();
        assert_eq!(stream.transport, "mempipe-futex-zc");
        assert!(
            stream.figure.starts_with("7.00 GB/s at 4 KiB"),
            "{}",
            stream.figure
        );
        // Spin beat futex on the one cross-core pair: the profile makes lowest-latency spin.
        assert!(
            a.profile.contains("lowest-latency connections spin"),
            "{}",
            a.profile
        );
        assert!(
            a.profile.contains("spin 39.8 µs before they sleep"),
            "{}",
            a.profile
        );
        let text = a.text();
        assert!(
            text.contains("for request/response, use mempipe-spin: 110 ns"),
            "{text}"
        );
        assert!(
            text.contains("`ipcbench profile --install` will make"),
            "{text}"
        );
    }

    #[test]
    fn a_bound_that_was_held_up_gives_no_ratio() {
        let f = with_transports(file(
            &[0, 1],
            vec![
                thr("limit", 4096, (0, 1), 1e8),
                thr("mempipe-futex", 4096, (0, 1), 2e9),
            ],
        ));
        let stream = advise(&f).streaming.unwrap();
        assert!(
            stream.figure.contains("no ratio to the bound"),
            "{}",
            stream.figure
        );
        assert!(advise(&f).profile.contains("budget stays 20 µs"));
    }

    #[test]
    fn the_median_over_pairs_decides_not_one_lucky_pair() {
        let f = with_transports(file(
            &[0, 1, 2],
            vec![
                lat("pipe", 8, (0, 1), 1_000.0),
                lat("pipe", 8, (0, 2), 9_000.0),
                lat("pipe", 8, (1, 2), 9_000.0),
                lat("unix-stream", 8, (0, 1), 5_000.0),
                lat("unix-stream", 8, (0, 2), 5_000.0),
                lat("unix-stream", 8, (1, 2), 5_000.0),
            ],
        ));
        let a = advise(&f);
        assert_eq!(a.request_response.clone().unwrap().transport, "unix-stream");
        assert_eq!(a.streaming, None);
        assert!(a.text().contains("for streaming: not measured in this run"));
    }
}
