//! The fan-in results: a terminal table, a JSON file and an HTML section.

use super::{FaninArgs, FaninRow};
use crate::units::fmt_ns;
use std::path::{Path, PathBuf};

/// One line of progress.
pub(crate) fn row_line(r: &FaninRow) -> String {
    format!(
        "{:<17} {:>5} clients #{}: {:>9.0} req/s  p50 {}  p99 {}  done {:.0}/{:.0}/{:.0} ms  idle CPU {:.1}%",
        r.server,
        r.clients,
        r.repeat,
        r.requests_per_s,
        fmt_ns(r.p50_ns as f64),
        fmt_ns(r.p99_ns as f64),
        r.first_done_ms,
        r.median_done_ms,
        r.last_done_ms,
        r.idle_server_cpu_pct
    )
}

/// Median of `v` (sorted in place); 0 for none.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Per (clients, server): medians over repeats, with min..max of the rate.
struct Summary {
    clients: u32,
    server: String,
    repeats: usize,
    rate: f64,
    rate_min: f64,
    rate_max: f64,
    p50: f64,
    p99: f64,
    fairness: f64,
    /// The first client's completion over the median's.
    first: f64,
    idle_cpu: f64,
}

fn summarize(rows: &[FaninRow]) -> Vec<Summary> {
    let mut keys: Vec<(u32, String)> = Vec::new();
    for r in rows {
        let k = (r.clients, r.server.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(clients, server)| {
            let cell: Vec<&FaninRow> = rows
                .iter()
                .filter(|r| r.clients == clients && r.server == server)
                .collect();
            let col =
                |f: &dyn Fn(&FaninRow) -> f64| -> Vec<f64> { cell.iter().map(|r| f(r)).collect() };
            let mut rate = col(&|r| r.requests_per_s);
            let mut p50 = col(&|r| r.p50_ns as f64);
            let mut p99 = col(&|r| r.p99_ns as f64);
            let mut fair = col(&|r| r.last_done_ms / r.median_done_ms.max(1e-9));
            let mut first = col(&|r| r.first_done_ms / r.median_done_ms.max(1e-9));
            let mut idle = col(&|r| r.idle_server_cpu_pct);
            let rate_min = rate.iter().copied().fold(f64::INFINITY, f64::min);
            let rate_max = rate.iter().copied().fold(0.0, f64::max);
            Summary {
                clients,
                server,
                repeats: cell.len(),
                rate: median(&mut rate),
                rate_min,
                rate_max,
                p50: median(&mut p50),
                p99: median(&mut p99),
                fairness: median(&mut fair),
                first: median(&mut first),
                idle_cpu: median(&mut idle),
            }
        })
        .collect()
}

/// The terminal table: medians over repeats.
pub(crate) fn table(rows: &[FaninRow]) -> String {
    let mut t = format!(
        "\nfan-in: medians over repeats (rate min..max); fairness = last client's completion / median's, first = first client's / median's\n{:>7}  {:<17} {:>10} {:>21} {:>10} {:>10} {:>9} {:>6} {:>9}\n",
        "clients", "server", "req/s", "(min..max)", "p50", "p99", "fairness", "first", "idle CPU"
    );
    for s in summarize(rows) {
        t += &format!(
            "{:>7}  {:<17} {:>10.0} {:>21} {:>10} {:>10} {:>9.2} {:>6.2} {:>8.1}%\n",
            s.clients,
            s.server,
            s.rate,
            format!("({:.0}..{:.0})", s.rate_min, s.rate_max),
            fmt_ns(s.p50),
            fmt_ns(s.p99),
            s.fairness,
            s.first,
            s.idle_cpu
        );
    }
    t
}

/// The HTML section: the same medians, one row per (clients, server).
pub(crate) fn html_section(rows: &[FaninRow]) -> String {
    let mut h = String::from(
        "<section id=\"fanin\"><h2>Fan-in: many clients, one server thread</h2>\n\
         <p>Medians over repeats; fairness is the last client's completion time over the median client's.</p>\n\
         <table><tr><th>clients</th><th>server</th><th>req/s</th><th>min..max</th><th>p50</th><th>p99</th>\
         <th>fairness</th><th>first/median</th><th>idle server CPU</th><th>repeats</th></tr>\n",
    );
    for s in summarize(rows) {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.0}..{:.0}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.1}%</td><td>{}</td></tr>\n",
            s.clients,
            s.server,
            s.rate,
            s.rate_min,
            s.rate_max,
            fmt_ns(s.p50),
            fmt_ns(s.p99),
            s.fairness,
            s.first,
            s.idle_cpu,
            s.repeats
        );
    }
    h += "</table></section>\n";
    h
}

/// Writes `fanin-<unix s>.json` (every row, and the options) and `.html`.
pub(crate) fn write(
    rows: &[FaninRow],
    args: &FaninArgs,
    dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stem = format!("fanin-{now}-{}", std::process::id());
    let json = dir.join(format!("{stem}.json"));
    let html = dir.join(format!("{stem}.html"));
    let doc = serde_json::json!({
        "kind": "fanin",
        "created_unix_s": now,
        "requests_per_client": args.requests,
        "size": args.size,
        "repeats": args.repeats,
        "idle_ms": args.idle_ms,
        "rows": rows,
    });
    std::fs::write(&json, serde_json::to_vec_pretty(&doc)?)?;
    std::fs::write(
        &html,
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>ipcbench fan-in</title>\
             <style>td,th{{padding:2px 8px;text-align:right}}</style></head><body>\n{}</body></html>\n",
            html_section(rows)
        ),
    )?;
    Ok(vec![json, html])
}
