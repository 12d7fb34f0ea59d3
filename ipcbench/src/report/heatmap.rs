//! Core x core latency heatmaps on one shared logarithmic colour scale.
//!
//! One scale for the whole report so that colours compare across transports and sizes: a pipe
//! heatmap should look uniformly "slow" next to a spinning ring, not re-normalised to its own
//! range. Latencies span decades (100 ns spin vs 50 µs wakeup), hence log.

use std::collections::HashMap;
use std::fmt::Write;

use super::esc;
use crate::results::{Cell, Kind, ResultFile, Status};
use crate::units::{fmt_ns, fmt_ns_short, fmt_size};

/// Colour stops, fast (light yellow) to slow (dark red): "hot" reads as "slow".
const STOPS: [(u8, u8, u8); 6] = [
    (255, 255, 204),
    (254, 217, 118),
    (253, 141, 60),
    (240, 59, 32),
    (189, 0, 38),
    (103, 0, 13),
];

/// Colour for cells with no measurement.
pub(crate) const MISSING: &str = "#e4e4e4";

/// Maps nanoseconds to colours on a log scale shared by all heatmaps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColorScale {
    lo: f64,
    hi: f64,
}

impl ColorScale {
    /// A scale spanning every OK latency cell in `files` (one-way p50, ns).
    pub(crate) fn from_files(files: &[ResultFile]) -> ColorScale {
        let vals = files
            .iter()
            .flat_map(|f| &f.cells)
            .filter(|c| c.kind == Kind::Latency)
            .filter_map(crate::results::query::one_way);
        let (lo, hi) = vals.fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo.is_finite() && hi > 0.0 {
            // Snap to 1-2-5 steps so the legend starts and ends on round numbers.
            ColorScale {
                lo: snap_down(lo),
                hi: snap_up(hi).max(snap_down(lo) * 10.0),
            }
        } else {
            ColorScale { lo: 10.0, hi: 1e6 }
        }
    }

    /// Position of `ns` on the scale, 0..=1.
    pub(crate) fn position(&self, ns: f64) -> f64 {
        let t = (ns.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10());
        t.clamp(0.0, 1.0)
    }

    /// RGB at position `t` (0..=1), piecewise-linear between stops.
    fn rgb_at(t: f64) -> (u8, u8, u8) {
        let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
        let i = (x.floor() as usize).min(STOPS.len() - 2);
        let f = x - i as f64;
        let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
        let (a, b) = (STOPS[i], STOPS[i + 1]);
        (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// Fill colour for `ns`.
    pub(crate) fn color(&self, ns: f64) -> String {
        let (r, g, b) = Self::rgb_at(self.position(ns));
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// Text colour readable on the fill for `ns`.
    pub(crate) fn text_color(&self, ns: f64) -> &'static str {
        let (r, g, b) = Self::rgb_at(self.position(ns));
        let lum = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
        if lum > 140.0 {
            "#222"
        } else {
            "#fff"
        }
    }

    /// The shared legend: a gradient bar with 1-2-5 ticks in ns, and swatches for the states
    /// that have no value.
    pub(crate) fn legend_svg(&self) -> String {
        let (w, bar_x, bar_w) = (840.0, 10.0, 460.0);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="legend" id="latency-legend" width="{w}" height="54" viewBox="0 0 {w} 54" role="img" aria-label="latency colour scale"><defs><linearGradient id="legend-gradient" x1="0" x2="1" y1="0" y2="0">"#
        );
        for i in 0..=20 {
            let t = i as f64 / 20.0;
            let (r, g, b) = Self::rgb_at(t);
            let _ = write!(
                s,
                r##"<stop offset="{t}" stop-color="#{r:02x}{g:02x}{b:02x}"/>"##
            );
        }
        let _ = write!(
            s,
            r##"</linearGradient></defs><rect x="{bar_x}" y="6" width="{bar_w}" height="16" fill="url(#legend-gradient)" stroke="#999" stroke-width="0.5"/>"##
        );
        for (v, label) in super::charts::log_ticks(self.lo, self.hi, fmt_ns) {
            let x = bar_x + bar_w * self.position(v);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="22" y2="27" stroke="#555"/><text x="{x:.1}" y="39" text-anchor="middle" class="tick">{}</text>"##,
                esc(&label)
            );
        }
        let sw_x = bar_x + bar_w + 30.0;
        let items = [
            ("url(#hatch-timeout)", "timed out"),
            ("url(#hatch-failed)", "failed"),
            (MISSING, "not measured"),
        ];
        for (i, (fill, label)) in items.iter().enumerate() {
            let x = sw_x + i as f64 * 92.0;
            let _ = write!(
                s,
                r##"<rect x="{x}" y="6" width="16" height="16" fill="{fill}" stroke="#999" stroke-width="0.5"/><text x="{}" y="18" class="tick">{label}</text>"##,
                x + 21.0
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// Hatch patterns referenced by heatmap cells; emitted once per page.
pub(crate) fn pattern_defs() -> &'static str {
    r##"<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="hatch-timeout" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#d9d9d9"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="2.5"/></pattern>
<pattern id="hatch-failed" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="6" height="6" fill="#f3d0d0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b00" stroke-width="2"/></pattern>
</defs></svg>"##
}

fn snap_down(v: f64) -> f64 {
    let e = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0]
        .iter()
        .map(|m| m * e)
        .find(|&x| x <= v)
        .unwrap_or(e)
}

fn snap_up(v: f64) -> f64 {
    let e = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * e)
        .find(|&x| x >= v)
        .unwrap_or(10.0 * e)
}

/// Renders one heatmap: rows are initiator CPUs `a`, columns responder CPUs `b`.
pub(crate) fn heatmap(
    file_index: usize,
    file: &ResultFile,
    transport: &str,
    size: u64,
    scale: &ColorScale,
) -> String {
    let cells: HashMap<(usize, usize), &Cell> = file
        .cells
        .iter()
        .filter(|c| c.kind == Kind::Latency && c.transport == transport && c.size_bytes == size)
        .map(|c| ((c.pair.a, c.pair.b), c))
        .collect();
    // Axis: the CPUs that were asked for or measured (not every online CPU: a run over a few
    // representative pairs of a 128-CPU box should not draw a mostly empty 128x128 grid).
    let mut cpus: Vec<usize> = file
        .params
        .pairs
        .iter()
        .flat_map(|p| [p.a, p.b])
        .chain(cells.keys().flat_map(|&(a, b)| [a, b]))
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    let n = cpus.len().max(1);
    let cs = (250 / n).clamp(14, 44) as f64;
    let (left, top) = (44.0, 40.0);
    let (w, h) = (left + cs * n as f64 + 8.0, top + cs * n as f64 + 8.0);
    let font = (cs * 0.3).clamp(8.0, 12.0);
    let show_text = cs >= 24.0;
    let topo = &file.machine.topology;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<figure class="heatmap" id="heatmap-{file_index}-{}-{size}" data-transport="{}" data-size="{size}" data-file="{file_index}"><figcaption><b>{}</b> · {} · one-way p50</figcaption><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{} {} latency heatmap">"##,
        slug(transport),
        esc(transport),
        esc(transport),
        esc(&fmt_size(size)),
        esc(transport),
        esc(&fmt_size(size)),
    );
    let _ = write!(
        s,
        r##"<text x="{}" y="11" text-anchor="middle" class="axis">responder b →</text><text x="11" y="{}" text-anchor="middle" class="axis" transform="rotate(-90 11 {})">initiator a →</text>"##,
        left + cs * n as f64 / 2.0,
        top + cs * n as f64 / 2.0,
        top + cs * n as f64 / 2.0,
    );
    for (i, cpu) in cpus.iter().enumerate() {
        let c = left + cs * (i as f64 + 0.5);
        let _ = write!(
            s,
            r##"<text x="{c:.1}" y="{}" text-anchor="middle" class="tick">{cpu}</text><text x="{}" y="{:.1}" text-anchor="end" class="tick">{cpu}</text>"##,
            top - 6.0,
            left - 5.0,
            top + cs * (i as f64 + 0.5) + 3.5,
        );
    }
    for (ri, &a) in cpus.iter().enumerate() {
        for (ci, &b) in cpus.iter().enumerate() {
            let (x, y) = (left + cs * ci as f64, top + cs * ri as f64);
            let rel = match topo.node_distance(a, b) {
                Some(d) if a != b => format!("{}, NUMA distance {d}", topo.relation(a, b)),
                _ => topo.relation(a, b).to_string(),
            };
            let cell = cells.get(&(a, b));
            let (fill, text, tcolor, tip) = match cell {
                None => (
                    MISSING.to_string(),
                    String::new(),
                    "#222",
                    "not measured".into(),
                ),
                Some(c) => match (&c.status, crate::results::query::one_way(c)) {
                    (Status::Ok, Some(v)) => {
                        let l = c.latency.as_ref().map(|l| l.rtt_ns).unwrap_or_default();
                        (
                            scale.color(v),
                            fmt_ns_short(v),
                            scale.text_color(v),
                            format!(
                                "one-way p50 {} (RTT p50 {}, p99 {})",
                                fmt_ns(v),
                                fmt_ns(l.p50 as f64),
                                fmt_ns(l.p99 as f64)
                            ),
                        )
                    }
                    (Status::TimedOut, _) => (
                        "url(#hatch-timeout)".into(),
                        "T/O".into(),
                        "#111",
                        "timed out".into(),
                    ),
                    (Status::Failed { error }, _) => (
                        "url(#hatch-failed)".into(),
                        "ERR".into(),
                        "#600",
                        format!("failed: {error}"),
                    ),
                    (Status::Skipped { reason }, _) => (
                        MISSING.into(),
                        "skip".into(),
                        "#666",
                        format!("skipped: {reason}"),
                    ),
                    (Status::Ok, None) => {
                        (MISSING.into(), "?".into(), "#666", "no latency data".into())
                    }
                },
            };
            let _ = write!(
                s,
                r##"<g><title>{a} → {b} ({rel}): {}</title><rect x="{x}" y="{y}" width="{cs}" height="{cs}" fill="{fill}" stroke="#fff" stroke-width="1"/>"##,
                esc(&tip)
            );
            if show_text && !text.is_empty() {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{font:.1}" fill="{tcolor}" class="cellv">{}</text>"##,
                    x + cs / 2.0,
                    y + cs / 2.0 + font * 0.35,
                    esc(&text)
                );
            }
            s.push_str("</g>");
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// A safe id fragment from an untrusted name: ASCII alphanumerics and '-' only.
pub(crate) fn slug(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    if out.is_empty() {
        "x".into()
    } else {
        out
    }
}
