//! The bottom layer: how ipcbench writes numbers for people. One format per unit, shared by the
//! run summary, the advice, `ipcbench check`, `ipcbench profile` and the HTML report.

/// Nanoseconds for people: "65 ns", "1.23 µs", "45.4 µs", "8.00 ms". The one duration
/// format of ipcbench: the run summary, `ipcbench check` and the HTML report all use it.
pub(crate) fn fmt_ns(ns: f64) -> String {
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
pub(crate) fn fmt_ns_short(ns: f64) -> String {
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
pub(crate) fn fmt_rate(bps: f64) -> String {
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
pub(crate) fn fmt_ratio(r: f64) -> String {
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
pub(crate) fn fmt_size(bytes: u64) -> String {
    format_bytes(bytes)
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

/// Human-readable size: "32 KiB", "1 MiB".
pub(crate) fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// "2026-01-01 00:00 UTC" from Unix seconds.
pub(crate) fn date(unix_s: u64) -> String {
    let (y, m, d, secs) = civil_utc(unix_s);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// UTC calendar time of Unix seconds: `(year, month, day, seconds into the
/// day)`, by H. Hinnant's civil-from-days algorithm (no date crate needed).
pub(crate) fn civil_utc(unix_s: u64) -> (i64, i64, i64, u64) {
    let days = (unix_s / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, unix_s % 86_400)
}
