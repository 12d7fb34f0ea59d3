//! The advice box the report opens with: the same advice the run ends with in the terminal
//! (see [`crate::analysis::advice`]), one box per result file.

use std::fmt::Write;

use super::esc;
use crate::analysis::advice::advise;
use crate::results::ResultFile;

/// Appends the advice for `f`; `title` names the file when the report holds several.
pub(crate) fn advice_box(s: &mut String, f: &ResultFile, title: &str) {
    let a = advise(f);
    let _ = write!(
        s,
        "<section class=\"advice\"><h2>Advice{title}</h2>\
         <p class=\"note\">On this machine, from this run (medians over the cross-core pairs measured):</p><ul>"
    );
    for (what, pick) in a.uses() {
        match pick {
            Some(p) => {
                let _ = write!(
                    s,
                    "<li>for <b>{}</b>, use <b>{}</b>: {}</li>",
                    esc(what),
                    esc(&p.transport),
                    code(&p.figure)
                );
            }
            None => {
                let _ = write!(s, "<li>for {}: not measured in this run</li>", esc(what));
            }
        }
    }
    let _ = write!(
        s,
        "<li><code>ipcbench profile --install</code> will make mempipe connections choose: {}.</li></ul>",
        code(&a.profile)
    );
    for n in &a.notes {
        let _ = write!(s, "<p class=\"note\">Note: {}</p>", code(n));
    }
    s.push_str("</section>");
}

/// Escaped text with its `backticked` spans set as code.
fn code(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}
