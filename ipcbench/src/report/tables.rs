//! The summary tables: which transport is fastest across cores, and how much placement matters.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::esc;
use crate::analysis::paired::{over_pairs, paired, BOUND_OUTLIER};
use crate::analysis::stats::median;
use crate::results::query::rounds_of;
use crate::results::query::{default_latency_size, one_way, rate, transports};
use crate::results::{CorePair, Kind, ResultFile, Status};
use crate::topology::Relation;
use crate::units::{fmt_ns, fmt_rate, fmt_size};

/// One-way p50s at the default size for `t`, with pairs, cross-core only or same-CPU only.
fn latencies(f: &ResultFile, t: &str, size: u64, cross: bool) -> Vec<(CorePair, f64)> {
    f.cells
        .iter()
        .filter(|c| c.kind == Kind::Latency && c.transport == t && c.size_bytes == size)
        .filter(|c| (c.pair.a != c.pair.b) == cross)
        .filter_map(|c| one_way(c).map(|v| (c.pair, v)))
        .collect()
}

pub(crate) fn summary_table(s: &mut String, f: &ResultFile) {
    let Some(size) = default_latency_size(f) else {
        s.push_str("<p class=\"note\">No latency cells.</p>");
        return;
    };
    let topo = &f.machine.topology;
    let mut rows: Vec<(String, Option<f64>, String)> = Vec::new();
    for t in transports(std::slice::from_ref(f)) {
        let cross = latencies(f, &t, size, true);
        let med = median(cross.iter().map(|x| x.1).collect());
        let best = cross.iter().min_by(|x, y| x.1.total_cmp(&y.1));
        let worst = cross.iter().max_by(|x, y| x.1.total_cmp(&y.1));
        let pair_cell = |p: Option<&(CorePair, f64)>| match p {
            Some((p, v)) => format!(
                "<td class=\"num\">{}</td><td>{} <span class=\"muted\">({})</span></td>",
                esc(&fmt_ns(*v)),
                p,
                topo.relation(p.a, p.b)
            ),
            None => "<td class=\"num muted\">–</td><td></td>".into(),
        };
        let same = median(
            latencies(f, &t, size, false)
                .into_iter()
                .map(|x| x.1)
                .collect(),
        );
        let ratio = esc(&limit_ratio(f, &t, size));
        let peak = f
            .cells
            .iter()
            .filter(|c| c.kind == Kind::Throughput && c.transport == t && c.pair.a != c.pair.b)
            .filter_map(|c| rate(c).map(|r| (r, c.size_bytes)))
            .max_by(|x, y| x.0.total_cmp(&y.0));
        let bad = f
            .cells
            .iter()
            .filter(|c| c.transport == t)
            .filter(|c| matches!(c.status, Status::TimedOut | Status::Failed { .. }))
            .count();
        let row = format!(
            "<td>{}</td><td class=\"num\">{}</td>{}{}<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            esc(&t),
            med.map(fmt_ns).unwrap_or_else(|| "–".into()),
            pair_cell(best),
            pair_cell(worst),
            same.map(fmt_ns).unwrap_or_else(|| "–".into()),
            ratio,
            peak.map(|(r, sz)| format!("{} @ {}", fmt_rate(r), fmt_size(sz)))
                .unwrap_or_else(|| "–".into()),
            bad,
        );
        rows.push((t, med, row));
    }
    rows.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let _ = write!(
        s,
        "<p class=\"note\">One-way p50 at {} across cores (median over measured cross-core pairs), fastest first. \
         “× limit” compares with the raw cache-line ping-pong <code>limit</code>, the floor for any shared-memory transport on this machine: \
         a paired ratio, taken per round against <code>limit</code> on the same pair, then the median (range of the rounds beside it); \
         a round whose <code>limit</code> is more than {:.0}% off its median is flagged and left out.</p>",
        esc(&fmt_size(size)),
        BOUND_OUTLIER * 100.0
    );
    s.push_str("<table class=\"summary\"><tr><th>transport</th><th>cross-core p50</th><th>best</th><th>pair</th><th>worst</th><th>pair</th><th>same CPU</th><th>× limit</th><th>peak throughput (cross-core)</th><th>timed out / failed cells</th></tr>");
    let first_real = rows.iter().position(|r| r.0 != "limit" && r.1.is_some());
    for (i, (_, _, row)) in rows.iter().enumerate() {
        let class = if Some(i) == first_real {
            " class=\"best\""
        } else {
            ""
        };
        let _ = write!(s, "<tr{class}>{row}</tr>");
    }
    s.push_str("</table>");
}

/// `t`'s paired ratio to `limit` over the cross-core pairs where both have OK cells at
/// `size`, or why there is no bound to compare with.
fn limit_ratio(f: &ResultFile, t: &str, size: u64) -> String {
    if t == "limit" {
        return "bound".into();
    }
    let cell = |name: &str, p: CorePair| {
        f.cells.iter().find(|c| {
            c.kind == Kind::Latency && c.transport == name && c.size_bytes == size && c.pair == p
        })
    };
    let (mut ratios, mut measured) = (Vec::new(), false);
    let mut why = "no limit cell";
    for c in f.cells.iter().filter(|c| {
        c.kind == Kind::Latency && c.transport == t && c.size_bytes == size && c.pair.a != c.pair.b
    }) {
        if one_way(c).is_none() {
            continue;
        }
        measured = true;
        match cell("limit", c.pair) {
            Some(b) if b.status == Status::Ok => {
                ratios.extend(paired(&rounds_of(c), &rounds_of(b)));
            }
            Some(_) => why = "limit did not finish",
            None => {}
        }
    }
    if !measured {
        return "–".into();
    }
    over_pairs(&ratios).map_or_else(|| format!("no bound ({why})"), |r| r.text())
}

/// How much placement matters: median one-way p50 per pair relation, per transport.
pub(crate) fn placement_table(s: &mut String, f: &ResultFile) {
    let Some(size) = default_latency_size(f) else {
        return;
    };
    let topo = &f.machine.topology;
    let mut by: BTreeMap<(String, Relation), Vec<f64>> = BTreeMap::new();
    for c in f
        .cells
        .iter()
        .filter(|c| c.kind == Kind::Latency && c.size_bytes == size)
    {
        if let Some(v) = one_way(c) {
            by.entry((c.transport.clone(), topo.relation(c.pair.a, c.pair.b)))
                .or_default()
                .push(v);
        }
    }
    let mut rels: Vec<Relation> = by.keys().map(|k| k.1).collect();
    rels.sort();
    rels.dedup();
    if rels.len() < 2 {
        return;
    }
    let _ = write!(
        s,
        "<h3>Placement: one-way p50 at {} by core-pair relation</h3><table class=\"placement\"><tr><th>transport</th>",
        esc(&fmt_size(size))
    );
    for r in &rels {
        let _ = write!(s, "<th>{r}</th>");
    }
    s.push_str("</tr>");
    for t in transports(std::slice::from_ref(f)) {
        let _ = write!(s, "<tr><td>{}</td>", esc(&t));
        for r in &rels {
            let v = by.get(&(t.clone(), *r)).and_then(|v| median(v.clone()));
            let _ = write!(
                s,
                "<td class=\"num\">{}</td>",
                v.map(fmt_ns).unwrap_or_else(|| "–".into())
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
}
