//! The text form of the verdicts: a line naming the file and its machine, then an aligned
//! table like the run summary's, each target's notes indented under it.

use std::fmt::Write;
use std::path::Path;

use super::figures::pairs_text;
use super::{Line, Verdict};
use crate::results::ResultFile;
use crate::units::{date, fmt_ratio};

/// How to read the table; the figures' caveats once rather than on every line.
const FOOTER: &str = "
ratio: per core pair, paired by round (repeat r of both cells, measured in round r; the
median over rounds, a round whose denominator is more than 25% off its median is flagged and
left out), then the median over the pairs used (min-max of the rounds kept); the verdict is
on the median. one-way = RTT p50 / 2; best: the fastest of several transports, per pair.
Only ratios within one file count: on a VM absolute figures move with the vCPU placement.
abs: an absolute target (figure / target), meaningful on the reference machine only.
ref: a plain spinning byte ring measured by a separate C program on a 2-vCPU AMD EPYC KVM
guest: indicative.
";

/// "PASS", "SHORT by 31%", "NOT MEASURED", "INFO", "NOT IN FILE".
pub(crate) fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "PASS".into(),
        Verdict::Short { by } if *by * 100.0 < 1.0 => format!("SHORT by {:.1}%", by * 100.0),
        Verdict::Short { by } => format!("SHORT by {:.0}%", by * 100.0),
        Verdict::NotMeasured { .. } => "NOT MEASURED".into(),
        Verdict::Info => "INFO".into(),
        Verdict::NotInFile { .. } => "NOT IN FILE".into(),
    }
}

/// "1.57x", with the range of the per-round ratios over all pairs used when they differ:
/// "1.27x (1.11-1.43)".
pub(crate) fn ratio_text(l: &Line) -> String {
    let Some(r) = l.ratio else {
        return "-".into();
    };
    match (l.ratio_min, l.ratio_max) {
        (Some(lo), Some(hi)) if fmt_ratio(lo) != fmt_ratio(hi) => {
            let unit = |s: String| s.trim_end_matches('x').to_string();
            format!(
                "{} ({}-{})",
                fmt_ratio(r),
                unit(fmt_ratio(lo)),
                unit(fmt_ratio(hi))
            )
        }
        _ => fmt_ratio(r),
    }
}

/// "results/x.json: AMD EPYC (host vm), 1 socket, 2 cores, 2 CPUs, SMT off, kvm; measured
/// 2026-11-24 21:32 UTC by ipcbench 0.1.0, git commit not recorded".
pub(crate) fn header(path: &Path, f: &ResultFile) -> String {
    let m = &f.machine;
    let virt = m
        .virtualization
        .as_deref()
        .unwrap_or("no virtualisation detected");
    let commit = f
        .tool
        .git_commit
        .as_deref()
        .map_or("git commit not recorded".to_string(), |c| {
            format!("git commit {c}")
        });
    format!(
        "{}: {} (host {}), {} socket{}, {} cores, {} CPUs, SMT {}, {virt}; measured {} by {} {}, {commit}",
        path.display(),
        m.cpu_model,
        m.hostname,
        m.sockets,
        if m.sockets == 1 { "" } else { "s" },
        m.physical_cores,
        m.logical_cpus,
        if m.smt { "on" } else { "off" },
        date(f.created_unix_s),
        f.tool.name,
        f.tool.version,
    )
}

/// The whole text output for one file.
pub(crate) fn text(path: &Path, f: &ResultFile, lines: &[Line]) -> String {
    let rows: Vec<[String; 7]> = lines
        .iter()
        .map(|l| {
            [
                l.id.to_string(),
                l.target.clone(),
                match l.pairs.len() {
                    0..=2 => pairs_text(&l.pairs, 2),
                    n => format!("{n} pairs"),
                },
                l.measured.clone(),
                ratio_text(l),
                l.goal_text.clone(),
                verdict_text(&l.verdict),
            ]
        })
        .collect();
    let head = [
        "id", "target", "pairs", "measured", "ratio", "goal", "verdict",
    ]
    .map(String::from);
    let mut w = [0usize; 7];
    for r in rows.iter().chain([&head]) {
        for (w, cell) in w.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let row = |out: &mut String, r: &[String; 7]| {
        let [id, target, pairs, measured, ratio, goal, verdict] = r;
        let line = format!(
            "{id:<a$}  {target:<b$}  {pairs:<c$}  {measured:>d$}  {ratio:>e$}  {goal:<g$}  {verdict}",
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3],
            e = w[4],
            g = w[5],
        );
        let _ = writeln!(out, "{}", line.trim_end());
    };
    let mut out = header(path, f);
    out.push_str("\n\n");
    row(&mut out, &head);
    let indent = " ".repeat(w[0] + 2);
    for (l, r) in lines.iter().zip(&rows) {
        row(&mut out, r);
        for note in l.explanations() {
            let _ = writeln!(out, "{indent}  - {note}");
        }
    }
    out.push_str(FOOTER);
    out
}
