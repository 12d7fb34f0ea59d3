//! `ipcbench report FILES...`: one self-contained static HTML page (inline CSS and SVG, no
//! scripts, no network) that answers "which transport should my two processes use here, and how
//! much does core placement matter?".
//!
//! Everything read from result files is untrusted (a file may come from anyone), so every string
//! goes through [`esc`] before it reaches the page.
//!
//! Layout: [`html`] assembles the page (machine table, summary table, sections), [`heatmap`]
//! draws the core x core latency matrices on one shared logarithmic colour scale, [`charts`]
//! draws the line charts that [`sections`] fills with throughput and percentile curves, and
//! [`tables`] holds the summary and placement tables, [`verdicts`] the performance targets.

mod charts;
mod heatmap;
mod html;
mod sections;
mod tables;
mod verdicts;

pub(crate) use html::date;

use std::path::{Path, PathBuf};

use crate::results::{read_json, Cell, Kind, ResultFile, ResultsError, Status};

/// Errors from `ipcbench report`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No input files were given.
    #[error("no result files given: pass one or more .json files written by `ipcbench run`")]
    NoInputs,
    /// An input could not be read or parsed (the error names the file).
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The output could not be written.
    #[error("cannot write report {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Reads every input and writes the HTML report to `out`.
pub fn write_report(inputs: &[PathBuf], out: &Path) -> Result<(), ReportError> {
    if inputs.is_empty() {
        return Err(ReportError::NoInputs);
    }
    let files = inputs
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::write(out, render_html(&files)).map_err(|source| ReportError::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// Renders the whole report for `files` (measured on one or several machines).
pub fn render_html(files: &[ResultFile]) -> String {
    html::page(files)
}

/// Escapes text for HTML element content and quoted attribute values (also valid in SVG).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML (inline SVG); drop them.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Nanoseconds for people: "65 ns", "1.23 µs", "45.4 µs", "8.00 ms". The one duration
/// format of ipcbench: the run summary, `ipcbench check` and the HTML report all use it.
pub fn fmt_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "–".to_string();
    }
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", three_digits(v))
}

/// Compact form for heatmap cells: "65", "1.2µ", "45µ", "8.0m".
pub fn fmt_ns_short(ns: f64) -> String {
    if !ns.is_finite() {
        return "–".to_string();
    }
    let (v, unit) = if ns < 1e3 {
        (ns, "")
    } else if ns < 1e6 {
        (ns / 1e3, "µ")
    } else if ns < 1e9 {
        (ns / 1e6, "m")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if v < 10.0 && !unit.is_empty() {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    format!("{digits}{unit}")
}

/// Bytes per second in decimal units: "3.00 GB/s", "180 MB/s"; the one rate format, like
/// [`fmt_ns`].
pub fn fmt_rate(bps: f64) -> String {
    if !bps.is_finite() {
        return "–".to_string();
    }
    let (v, unit) = if bps >= 1e9 {
        (bps / 1e9, "GB/s")
    } else if bps >= 1e6 {
        (bps / 1e6, "MB/s")
    } else if bps >= 1e3 {
        (bps / 1e3, "kB/s")
    } else {
        (bps, "B/s")
    };
    format!("{} {unit}", three_digits(v))
}

/// Ratios, three significant digits around one: "1.05x", "12.3x", "350x", "6.4e-3x".
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "–".to_string()
    } else if r >= 100.0 {
        format!("{r:.0}x")
    } else if r >= 10.0 {
        format!("{r:.1}x")
    } else if r >= 0.01 {
        format!("{r:.2}x")
    } else {
        format!("{r:.1e}x")
    }
}

/// Message sizes: "8 B", "4 KiB", "1 MiB".
pub fn fmt_size(bytes: u64) -> String {
    crate::machine::format_bytes(bytes)
}

/// Three significant digits without trailing noise: 1.23, 12.3, 123.
fn three_digits(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

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

pub(crate) use crate::paired::median;
