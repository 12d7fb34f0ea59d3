//! The performance-target table (`ipcbench check`'s verdicts) for one result file, so a
//! reader of the report sees where mempipe stands without running the tool.

use std::fmt::Write;

use super::esc;
use crate::check::{evaluate, ratio_text, verdict_text, Verdict};
use crate::results::{CorePair, ResultFile};

pub(crate) fn verdict_table(s: &mut String, f: &ResultFile) {
    let lines = evaluate(f);
    s.push_str(
        "<p class=\"note\">mempipe's targets as ratios within this file: per core pair, then the \
         median over the pairs used (min–max beside it); the verdict is on the median. \
         <code>abs</code> marks an absolute target (meaningful on the reference machine only), \
         <code>ref</code> a reference figure of a plain spinning shared-memory byte ring, measured by a separate C program \
         on a 2-vCPU AMD EPYC KVM guest (indicative). \
         <code>ipcbench check FILE</code> prints the same table, <code>--json</code> for scripts.</p>",
    );
    s.push_str("<table class=\"verdicts\"><tr><th>#</th><th>target</th><th>pairs</th><th>measured</th><th>ratio</th><th>goal</th><th>verdict</th><th>notes</th></tr>");
    for l in &lines {
        let class = match l.verdict {
            Verdict::Pass => "pass",
            Verdict::Short { .. } => "short",
            _ => "muted",
        };
        let notes: Vec<String> = l.explanations().map(esc).collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"verdict {class}\">{}</td><td>{}</td></tr>",
            esc(l.id),
            esc(&l.target),
            pairs_html(&l.pairs),
            esc(&l.measured),
            esc(&ratio_text(l)),
            esc(&l.goal_text),
            esc(&verdict_text(&l.verdict)),
            notes.join("<br>"),
        );
    }
    s.push_str("</table>");
}

/// Pairs that wrap between pairs, never inside "0->1"; the first 12 of a large matrix.
fn pairs_html(pairs: &[CorePair]) -> String {
    let mut v: Vec<String> = pairs
        .iter()
        .take(12)
        .map(|p| format!("<span class=\"nw\">{}</span>", esc(&p.to_string())))
        .collect();
    if pairs.len() > 12 {
        v.push(format!("… ({} in all)", pairs.len()));
    }
    v.join(", ")
}
