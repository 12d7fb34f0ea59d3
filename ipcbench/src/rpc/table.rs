//! The terminal table of an `ipcbench rpc` run and its target ratios.

use crate::results::rpc::{targets, RpcRun, Spread};
use std::fmt::Write;

fn range(s: Option<Spread>, digits: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.digits$} ({:.digits$}-{:.digits$})",
            s.median, s.min, s.max
        ),
        None => "-".into(),
    }
}

/// One line per cell (median over repeats, range in brackets), then the targets.
pub(crate) fn render(run: &RpcRun) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "request/response, client cpu {} -> server cpu {}, {} repeat(s) of {} ms; medians (min-max):",
        run.pair.a, run.pair.b, run.repeats, run.duration_ms
    );
    let _ = writeln!(
        s,
        "{:<6} {:<8} {:>8} {:>7}  {:<24} {:<24} {:<24}",
        "", "via", "payload", "callers", "p50 us", "p99 us", "requests/s"
    );
    for c in &run.cells {
        let size = if c.payload_bytes >= 1024 {
            format!("{}K", c.payload_bytes / 1024)
        } else {
            c.payload_bytes.to_string()
        };
        let _ = writeln!(
            s,
            "{:<6} {:<8} {:>8} {:>7}  {:<24} {:<24} {:<24}{}",
            c.framework,
            c.transport,
            size,
            c.callers,
            range(c.p50_us(), 1),
            range(c.p99_us(), 1),
            range(c.rate(), 0),
            c.error
                .as_deref()
                .map(|e| format!("  FAILED: {e}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(s, "targets (paired by round, median (min-max)):");
    for t in targets(run) {
        let _ = writeln!(
            s,
            "  {:<12} {:<52} {}",
            t.verdict(),
            t.label(),
            range(t.ratio, 2)
        );
    }
    s
}
