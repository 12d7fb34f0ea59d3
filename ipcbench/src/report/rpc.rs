//! The request/response section: one table per framework with the
//! transports side by side, and the target ratios.

use std::fmt::Write;

use super::esc;
use crate::results::rpc::{targets, RpcRun, Spread};
use crate::results::ResultFile;
use crate::units::fmt_size;

fn cell_text(s: Option<Spread>, digits: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.digits$} <span class=\"muted\">({:.digits$}–{:.digits$})</span>",
            s.median, s.min, s.max
        ),
        None => "<span class=\"muted\">–</span>".into(),
    }
}

/// Appends the section when `f` holds request/response results.
pub(crate) fn rpc_section(s: &mut String, f: &ResultFile, title: &str) {
    let Some(run) = &f.rpc else { return };
    let _ = write!(s, "<h2>Request/response{title}</h2>");
    let _ = write!(
        s,
        "<p class=\"note\">Unary gRPC (tonic) and HTTP/1.1 GET (hyper) through the frameworks' own \
         clients and servers; client on CPU {}, each server in its own process on CPU {}, both on a \
         {} tokio runtime. gRPC callers share one channel; each HTTP/1.1 caller has its own \
         connection. Median over {} interleaved repeats of {} ms (min–max).</p>",
        run.pair.a,
        run.pair.b,
        esc(&run.runtime),
        run.repeats,
        run.duration_ms
    );
    s.push_str("<table><tr><th>framework</th><th>transport</th><th>payload</th><th>callers</th><th>p50 µs</th><th>p99 µs</th><th>requests/s</th><th>notes</th></tr>");
    for c in &run.cells {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&c.framework),
            esc(&c.transport),
            esc(&fmt_size(c.payload_bytes)),
            c.callers,
            cell_text(c.p50_us(), 1),
            cell_text(c.p99_us(), 1),
            cell_text(c.rate(), 0),
            esc(c.error.as_deref().unwrap_or("")),
        );
    }
    s.push_str("</table>");
    targets_table(s, run);
}

fn targets_table(s: &mut String, run: &RpcRun) {
    s.push_str("<p class=\"note\">Targets: ratios of mempipe to the UNIX socket, paired round by round; the verdict is on the median.</p>");
    s.push_str("<table class=\"verdicts\"><tr><th>target</th><th>ratio</th><th>verdict</th></tr>");
    for t in targets(run) {
        let class = match t.verdict() {
            "PASS" => "pass",
            "SHORT" => "short",
            _ => "muted",
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"verdict {class}\">{}</td></tr>",
            esc(&t.label()),
            cell_text(t.ratio, 2),
            t.verdict()
        );
    }
    s.push_str("</table>");
}
