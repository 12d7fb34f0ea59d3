//! HTML report rendering on synthetic result files.
//!
//! ipcbench is a binary crate, so the modules under test are compiled into this test crate by
//! path; not every item is used here.
#![allow(dead_code)]

#[path = "../src/analysis/mod.rs"]
mod analysis;
#[path = "../src/capacity.rs"]
mod capacity;
#[path = "../src/check/mod.rs"]
mod check;
#[path = "../src/machine.rs"]
mod machine;
#[path = "../src/report/mod.rs"]
mod report;
#[path = "../src/results/mod.rs"]
mod results;
#[path = "common/synthetic.rs"]
mod synthetic;
#[path = "../src/topology.rs"]
mod topology;
#[path = "../src/units.rs"]
mod units;

use std::path::Path;

use results::{Kind, Status};

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn one_heatmap_per_transport_and_size() {
    let file = synthetic::small();
    let html = report::render_html(std::slice::from_ref(&file));
    assert_eq!(count(&html, "<figure class=\"heatmap\""), 4);
    for t in ["mempipe-spin", "pipe"] {
        for size in [8, 4096] {
            let attr = format!("data-transport=\"{t}\" data-size=\"{size}\"");
            assert_eq!(count(&html, &attr), 1, "{attr}");
        }
    }
    // One shared legend, timed-out cells hatched, a throughput chart and a distribution chart.
    assert_eq!(count(&html, "id=\"latency-legend\""), 1);
    assert!(html.contains("url(#hatch-timeout)"));
    assert!(html.contains("id=\"throughput-0-"));
    assert!(html.contains("id=\"distribution-0\""));
    assert!(html.contains("<table class=\"verdicts\">"));
    assert!(html.contains("<table class=\"summary\">"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network references"
    );
    // Whole words only: the targets table says "info".
    assert!(!html
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "NaN" || w == "inf"));
}

#[test]
fn two_files_share_one_scale_and_sit_side_by_side() {
    let a = synthetic::small();
    let mut b = synthetic::small();
    b.machine.hostname = "other-host".into();
    let html = report::render_html(&[a, b]);
    assert_eq!(count(&html, "<figure class=\"heatmap\""), 8);
    assert!(html.contains("#2 other-host"));
}

#[test]
fn strings_from_files_are_escaped() {
    let mut file = synthetic::small();
    let evil = "<script>alert('x')</script>\"&";
    for c in file.cells.iter_mut().filter(|c| c.transport == "pipe") {
        c.transport = evil.into();
    }
    file.params.transports[1] = evil.into();
    file.machine.hostname = "<img src=x onerror=alert(1)>".into();
    file.machine.cpu_model = "A & B <C>".into();
    if let Some(c) = file.cells.iter_mut().find(|c| c.kind == Kind::Latency) {
        c.status = Status::Failed {
            error: "</title><script>bad()</script>".into(),
        };
    }
    let html = report::render_html(&[file]);
    assert!(!html.contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img"), "unescaped img tag");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"));
    assert!(html.contains("A &amp; B &lt;C&gt;"));
    assert_eq!(count(&html, "<figure class=\"heatmap\""), 4);
}

#[test]
fn empty_and_degenerate_files_render() {
    let mut file = synthetic::small();
    file.cells.clear();
    let html = report::render_html(&[file]);
    assert!(html.contains("</html>"));
    assert!(report::render_html(&[]).contains("</html>"));
    let mut weird = synthetic::small();
    for c in &mut weird.cells {
        if let Some(l) = &mut c.latency {
            l.one_way_p50_ns = f64::NAN;
        }
        if let Some(t) = &mut c.throughput {
            t.bytes_per_sec = -1.0;
        }
    }
    assert!(report::render_html(&[weird]).contains("</html>"));
}

#[test]
fn write_report_reads_files_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("run.json");
    results::write_json(&synthetic::small(), &input).unwrap();
    let out = dir.path().join("report.html");
    report::write_report(&[input], &out).unwrap();
    assert!(std::fs::read_to_string(&out).unwrap().contains("heatmap"));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{").unwrap();
    let e = report::write_report(&[bad], &out).unwrap_err();
    assert!(e.to_string().contains("bad.json"), "{e}");
    assert!(report::write_report(&[], &out).is_err());
}

/// Writes the example report when IPCBENCH_EXAMPLE_REPORT names an output path; used to make
/// docs/report-example.png with scripts/screenshot-report.sh.
#[test]
fn example_report() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let file = synthetic::rich(&fixtures);
    let html = report::render_html(std::slice::from_ref(&file));
    assert_eq!(count(&html, "<figure class=\"heatmap\""), 14);
    if let Ok(out) = std::env::var("IPCBENCH_EXAMPLE_REPORT") {
        std::fs::write(&out, &html).unwrap();
        let json = Path::new(&out).with_extension("json");
        results::write_json(&file, &json).unwrap();
    }
}

#[test]
fn the_report_opens_with_the_advice() {
    let file = synthetic::small();
    let html = report::render_html(std::slice::from_ref(&file));
    let advice = html
        .find("<section class=\"advice\"")
        .expect("an advice box");
    let machine = html.find("<h2>Machine").expect("a machine table");
    assert!(advice < machine, "the advice comes first");
    assert!(
        html.contains("for <b>request/response</b>, use <b>"),
        "a pick"
    );
    assert!(html.contains("<code>ipcbench profile --install</code> will make"));
}
