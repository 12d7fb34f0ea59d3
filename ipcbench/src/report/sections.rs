//! The chart sections: throughput vs size per pair class, and RTT percentile curves.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::charts::{line_chart, nines, style, Axis, Series};
use super::esc;
use crate::analysis::stats::median;
use crate::results::query::{default_latency_size, one_way, rate, sizes};
use crate::results::{CorePair, Kind, ResultFile};
use crate::topology::Relation;
use crate::units::{fmt_ns, fmt_rate, fmt_size};

pub(crate) fn throughput_section(
    s: &mut String,
    i: usize,
    f: &ResultFile,
    all: &[String],
    title: &str,
) {
    let topo = &f.machine.topology;
    // (relation, transport, size) -> rates over the pairs of that relation.
    let mut by: BTreeMap<Relation, BTreeMap<String, BTreeMap<u64, Vec<f64>>>> = BTreeMap::new();
    for c in f.cells.iter().filter(|c| c.kind == Kind::Throughput) {
        if let Some(r) = rate(c) {
            by.entry(topo.relation(c.pair.a, c.pair.b))
                .or_default()
                .entry(c.transport.clone())
                .or_default()
                .entry(c.size_bytes)
                .or_default()
                .push(r);
        }
    }
    if by.is_empty() {
        return;
    }
    let _ = write!(s, "<h2>Throughput vs message size{title}</h2><p class=\"note\">One-way streaming, median over the pairs of each relation class.</p><div class=\"grid-wrap\">");
    let xs = sizes(f, Kind::Throughput);
    for (rel, per_t) in &by {
        let mut series = Vec::new();
        for t in all.iter().filter(|t| per_t.contains_key(*t)) {
            let (color, dashed) = style(all, t);
            let points = per_t[t]
                .iter()
                .filter_map(|(&sz, v)| median(v.clone()).map(|m| (sz as f64, m)))
                .collect();
            series.push(Series {
                name: t.clone(),
                color,
                dashed,
                points,
            });
        }
        let xv: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        let x = Axis::log_at_values("message size", &xv, |v| fmt_size(v as u64));
        let y = Axis::log_fit(
            "bytes per second",
            series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
            fmt_rate,
        );
        let id = format!("throughput-{i}-{}", super::heatmap::slug(&rel.to_string()));
        s.push_str(&line_chart(&id, &format!("Pairs: {rel}"), &x, &y, &series));
    }
    s.push_str("</div>");
}

/// The cross-core pair with the most OK latency cells at `size` (ties: first measured).
fn distribution_pair(f: &ResultFile, size: u64) -> Option<CorePair> {
    let mut count: Vec<(CorePair, usize)> = Vec::new();
    for c in f.cells.iter().filter(|c| {
        c.kind == Kind::Latency
            && c.size_bytes == size
            && c.pair.a != c.pair.b
            && one_way(c).is_some()
    }) {
        match count.iter_mut().find(|x| x.0 == c.pair) {
            Some(x) => x.1 += 1,
            None => count.push((c.pair, 1)),
        }
    }
    count.iter().rev().max_by_key(|x| x.1).map(|x| x.0)
}

pub(crate) fn distribution_section(
    s: &mut String,
    i: usize,
    f: &ResultFile,
    all: &[String],
    title: &str,
) {
    let Some(size) = default_latency_size(f) else {
        return;
    };
    let Some(pair) = distribution_pair(f, size) else {
        return;
    };
    let mut series = Vec::new();
    for c in f.cells.iter().filter(|c| {
        c.kind == Kind::Latency && c.size_bytes == size && c.pair == pair && one_way(c).is_some()
    }) {
        let Some(l) = &c.latency else { continue };
        let mut pts: Vec<(f64, f64)> = l
            .distribution
            .iter()
            .filter(|(p, _)| (0.0..=99.99).contains(p))
            .map(|&(p, ns)| (nines(p), ns as f64))
            .collect();
        if pts.is_empty() {
            // Older or minimal writers: fall back to the stored percentiles.
            let r = l.rtt_ns;
            pts = [(50.0, r.p50), (90.0, r.p90), (99.0, r.p99), (99.9, r.p999)]
                .iter()
                .map(|&(p, v)| (nines(p), v as f64))
                .collect();
        }
        let (color, dashed) = style(all, &c.transport);
        series.push(Series {
            name: c.transport.clone(),
            color,
            dashed,
            points: pts,
        });
    }
    let x = Axis {
        label: "percentile".into(),
        min: 0.0,
        max: 4.0,
        log: false,
        ticks: [0.0, 50.0, 90.0, 99.0, 99.9, 99.99]
            .iter()
            .map(|&p| (nines(p), format!("p{p}")))
            .collect(),
    };
    let y = Axis::log_fit(
        "round-trip time",
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        fmt_ns,
    );
    let topo = &f.machine.topology;
    let _ = write!(
        s,
        "<h2>Latency distribution{title}</h2><p class=\"note\">Round-trip time percentiles at {}, CPUs {} ({}). The x axis is in “nines”: equal steps from p90 to p99 to p99.9.</p>",
        esc(&fmt_size(size)),
        pair,
        topo.relation(pair.a, pair.b)
    );
    let id = format!("distribution-{i}");
    s.push_str(&line_chart(
        &id,
        &format!("RTT percentiles, {}, CPUs {pair}", fmt_size(size)),
        &x,
        &y,
        &series,
    ));
}
