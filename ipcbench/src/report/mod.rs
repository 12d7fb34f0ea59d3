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
//! [`tables`] holds the summary and placement tables, [`verdicts`] the performance targets,
//! [`rpc`] the request/response section (`ipcbench rpc`).

mod advice;
mod charts;
mod heatmap;
mod html;
mod rpc;
mod sections;
mod tables;
mod verdicts;

use std::path::{Path, PathBuf};

use crate::results::{read_json, ResultFile, ResultsError};

/// Errors from `ipcbench report`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReportError {
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
pub(crate) fn write_report(inputs: &[PathBuf], out: &Path) -> Result<(), ReportError> {
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
pub(crate) fn render_html(files: &[ResultFile]) -> String {
    html::page(files)
}

/// Escapes text for HTML element content and quoted attribute values (also valid in SVG).
pub(crate) fn esc(s: &str) -> String {
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
