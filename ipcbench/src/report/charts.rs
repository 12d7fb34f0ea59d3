//! Hand-written SVG line charts: throughput vs message size, and latency percentile curves.
//!
//! Both axes of both charts span decades, so the chart supports log axes; the percentile chart's
//! x axis is in "nines" (-log10(1 - p)), which spreads p90..p99.99 where tails live.

use std::fmt::Write;

use super::esc;

/// Categorical colours (Tableau 10), assigned to transports in report order.
pub(crate) const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Colour and dash style for a transport, stable across the report.
pub(crate) fn style(all: &[String], t: &str) -> (&'static str, bool) {
    if t == "limit" {
        return ("#222", true);
    }
    let i = all.iter().position(|x| x == t).unwrap_or(0);
    (PALETTE[i % PALETTE.len()], false)
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    /// Legend label (untrusted: escaped when drawn).
    pub(crate) name: String,
    /// Stroke colour (trusted: from [`PALETTE`] or a constant).
    pub(crate) color: &'static str,
    /// Dashed lines mark reference series such as the hardware `limit`.
    pub(crate) dashed: bool,
    /// Points in data units, drawn in order.
    pub(crate) points: Vec<(f64, f64)>,
}

/// An axis in data units.
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) label: String,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) log: bool,
    /// Tick positions (data units) and labels.
    pub(crate) ticks: Vec<(f64, String)>,
}

impl Axis {
    /// A log axis covering `values`, with 1-2-5 ticks formatted by `fmt`.
    pub(crate) fn log_fit(
        label: &str,
        values: impl Iterator<Item = f64>,
        fmt: fn(f64) -> String,
    ) -> Axis {
        let (lo, hi) = values
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (min, max) = if lo.is_finite() {
            let min = 10f64.powf(lo.log10().floor());
            let max = 10f64.powf(hi.log10().ceil()).max(min * 10.0);
            (min, max)
        } else {
            (1.0, 10.0)
        };
        Axis {
            label: label.to_string(),
            min,
            max,
            log: true,
            ticks: log_ticks(min, max, fmt),
        }
    }

    /// A log axis with a tick at each of `values` (e.g. the measured message sizes, which are
    /// powers of two and read badly on decade ticks), padded by 2x on both ends.
    pub(crate) fn log_at_values(label: &str, values: &[f64], fmt: fn(f64) -> String) -> Axis {
        let mut v: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        let (min, max) = match (v.first(), v.last()) {
            (Some(&lo), Some(&hi)) => (lo / 2.0, hi * 2.0),
            _ => (1.0, 10.0),
        };
        Axis {
            label: label.to_string(),
            min,
            max,
            log: true,
            ticks: v.iter().map(|&x| (x, fmt(x))).collect(),
        }
    }

    /// Position of `v` along the axis, 0..=1 (clamped).
    fn frac(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.max(f64::MIN_POSITIVE).log10() - self.min.log10())
                / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        };
        if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// Ticks at 1-2-5 x 10^k between `lo` and `hi`; only powers of ten when that gives enough.
pub(crate) fn log_ticks(lo: f64, hi: f64, fmt: fn(f64) -> String) -> Vec<(f64, String)> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
        return Vec::new();
    }
    let decades = (hi / lo).log10();
    let mults: &[f64] = if decades > 3.5 {
        &[1.0]
    } else if decades > 1.5 {
        &[1.0, 3.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut out = Vec::new();
    let mut e = 10f64.powf(lo.log10().floor());
    while e <= hi * 1.0001 {
        for m in mults {
            let v = m * e;
            if v >= lo * 0.9999 && v <= hi * 1.0001 {
                out.push((v, tidy(&fmt(v))));
            }
        }
        e *= 10.0;
    }
    out
}

/// Drops zero decimals from a tick label: "10.0 GB/s" -> "10 GB/s", "1.00 µs" -> "1 µs".
fn tidy(label: &str) -> String {
    label.replace(".00 ", " ").replace(".0 ", " ")
}

/// The "nines" of a percentile: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3, 99.99 → 4.
pub(crate) fn nines(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(1e-6);
    -rest.log10()
}

/// A line chart with a legend on the right. `id` must be safe (caller-made, not from a file).
pub(crate) fn line_chart(id: &str, title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let (w, h) = (640.0, 340.0);
    let (l, r, t, b) = (92.0, 140.0, 28.0, 44.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let px = |v: f64| l + pw * x.frac(v);
    let py = |v: f64| t + ph * (1.0 - y.frac(v));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<figure class="chart" id="{id}"><svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><text x="{l}" y="16" class="title">{}</text>"##,
        esc(title),
        esc(title)
    );
    for (v, label) in &x.ticks {
        let xx = px(*v);
        let _ = write!(
            s,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{t}" y2="{}" class="grid"/><text x="{xx:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"##,
            t + ph,
            t + ph + 14.0,
            esc(label)
        );
    }
    for (v, label) in &y.ticks {
        let yy = py(*v);
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            l + pw,
            l - 6.0,
            yy + 3.5,
            esc(label)
        );
    }
    let _ = write!(
        s,
        r##"<rect x="{l}" y="{t}" width="{pw}" height="{ph}" fill="none" stroke="#888"/><text x="{}" y="{}" text-anchor="middle" class="axis">{}</text><text x="14" y="{}" text-anchor="middle" class="axis" transform="rotate(-90 14 {})">{}</text>"##,
        l + pw / 2.0,
        h - 6.0,
        esc(&x.label),
        t + ph / 2.0,
        t + ph / 2.0,
        esc(&y.label)
    );
    for (i, se) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = se
            .points
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite() && (!y.log || *b > 0.0))
            .map(|&(a, b)| (px(a), py(b)))
            .collect();
        let dash = if se.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        if !pts.is_empty() {
            let d: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = write!(
                s,
                r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}><title>{}</title></polyline>"##,
                d.join(" "),
                se.color,
                esc(&se.name)
            );
            if pts.len() <= 12 {
                for (a, b) in &pts {
                    let _ = write!(
                        s,
                        r##"<circle cx="{a:.1}" cy="{b:.1}" r="2.8" fill="{}"/>"##,
                        se.color
                    );
                }
            }
        }
        let ly = t + 8.0 + 18.0 * i as f64;
        let lx = l + pw + 14.0;
        let _ = write!(
            s,
            r##"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2.5"{dash}/><text x="{}" y="{}" class="legend-label">{}</text>"##,
            lx + 20.0,
            se.color,
            lx + 26.0,
            ly + 4.0,
            esc(&truncate(&se.name, 18))
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// Shortens long legend labels (the full name is in the line's tooltip).
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
