//! Request/response results (`ipcbench rpc`): unary gRPC and HTTP/1.1 GET
//! through the frameworks' own clients and servers, one cell per framework,
//! transport, payload size and caller count, with every repeat kept in round
//! order so that transports can be compared round by round.

use super::CorePair;
use serde::{Deserialize, Serialize};

/// One `ipcbench rpc` run: how it was run and its cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RpcRun {
    /// The tokio runtime each process ran on ("current_thread": one thread per process).
    pub(crate) runtime: String,
    /// mempipe's spin budget if the run set one (`--mempipe-spin-us`), microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mempipe_spin_us: Option<u64>,
    /// Calls before each measured window, per caller, milliseconds (not recorded).
    pub(crate) warmup_ms: u64,
    /// Measured window per repeat, milliseconds.
    pub(crate) duration_ms: u64,
    /// Repeats per cell; repeat r of every cell ran in round r.
    pub(crate) repeats: u32,
    /// Client on `pair.a`, server on `pair.b`.
    pub(crate) pair: CorePair,
    /// One per (framework, transport, payload, callers).
    #[serde(default)]
    pub(crate) cells: Vec<RpcCell>,
}

/// One framework over one transport at one payload size and caller count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RpcCell {
    /// "grpc" (tonic, unary) or "http1" (hyper, GET).
    pub(crate) framework: String,
    /// "mempipe" (a connection by name), "unix" (a UNIX stream socket) or "tcp" (loopback).
    pub(crate) transport: String,
    /// Request and reply payload for gRPC; response body for HTTP GET.
    pub(crate) payload_bytes: u64,
    /// Concurrent callers: tasks on one gRPC channel; HTTP/1.1 connections.
    pub(crate) callers: u32,
    /// Measured repeats, in round order.
    #[serde(default)]
    pub(crate) repeats: Vec<RpcRepeat>,
    /// Why the cell has fewer repeats than asked, if it failed.
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// One repeat's window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct RpcRepeat {
    /// The round (0-based) this repeat ran in; a failed repeat leaves a gap.
    #[serde(default)]
    pub(crate) round: u32,
    /// Median call time (request sent to reply checked), nanoseconds.
    pub(crate) p50_ns: u64,
    /// 99th percentile call time, nanoseconds.
    pub(crate) p99_ns: u64,
    /// Calls completed per second, all callers together.
    pub(crate) requests_per_sec: f64,
    /// Calls measured.
    pub(crate) requests: u64,
}

/// A median over repeats with its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// The median (upper median for an even count) and range of `values`; `None` when empty.
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        Some(Spread {
            median: *values.get(values.len() / 2)?,
            min: *values.first()?,
            max: *values.last()?,
        })
    }
}

impl RpcCell {
    /// p50 over repeats, microseconds.
    pub(crate) fn p50_us(&self) -> Option<Spread> {
        Spread::of(self.repeats.iter().map(|r| r.p50_ns as f64 / 1e3).collect())
    }

    /// p99 over repeats, microseconds.
    pub(crate) fn p99_us(&self) -> Option<Spread> {
        Spread::of(self.repeats.iter().map(|r| r.p99_ns as f64 / 1e3).collect())
    }

    /// Requests per second over repeats.
    pub(crate) fn rate(&self) -> Option<Spread> {
        Spread::of(self.repeats.iter().map(|r| r.requests_per_sec).collect())
    }
}

/// Which figure a ratio compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    P50,
    Rate,
}

/// A target ratio of one framework over mempipe against the same over a UNIX socket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcTarget {
    pub(crate) framework: &'static str,
    pub(crate) payload_bytes: u64,
    pub(crate) callers: u32,
    pub(crate) figure: Figure,
    /// Pass when the ratio is at most this (p50) or at least this (rate).
    pub(crate) goal: f64,
    /// mempipe / unix, paired round by round: median and range; `None` if not measured.
    pub(crate) ratio: Option<Spread>,
}

impl RpcTarget {
    /// "PASS", "SHORT" or "NOT MEASURED".
    pub(crate) fn verdict(&self) -> &'static str {
        match (self.ratio, self.figure) {
            (None, _) => "NOT MEASURED",
            (Some(r), Figure::P50) if r.median <= self.goal => "PASS",
            (Some(r), Figure::Rate) if r.median >= self.goal => "PASS",
            _ => "SHORT",
        }
    }

    /// What is compared, for people.
    pub(crate) fn label(&self) -> String {
        let size = if self.payload_bytes >= 1024 {
            format!("{} KiB", self.payload_bytes / 1024)
        } else {
            format!("{} B", self.payload_bytes)
        };
        let (what, op) = match self.figure {
            Figure::P50 => ("p50", "<="),
            Figure::Rate => ("requests/s", ">="),
        };
        format!(
            "{} {size}, {} caller(s): {what} mempipe / unix {op} {}",
            self.framework, self.callers, self.goal
        )
    }
}

/// The targets: tonic over mempipe has at most half the p50 of tonic over a
/// UNIX socket at 64 B and 64 KiB (one caller), and at least twice its
/// requests per second with 64 callers.
pub(crate) fn targets(run: &RpcRun) -> Vec<RpcTarget> {
    let mut out = Vec::new();
    for (callers, figure, goal) in [(1, Figure::P50, 0.5), (64, Figure::Rate, 2.0)] {
        for payload_bytes in [64, 64 << 10] {
            out.push(RpcTarget {
                framework: "grpc",
                payload_bytes,
                callers,
                figure,
                goal,
                ratio: paired_ratio(run, "grpc", payload_bytes, callers, figure),
            });
        }
    }
    out
}

/// mempipe over unix for one framework's cell, one ratio per round both measured.
pub(crate) fn paired_ratio(
    run: &RpcRun,
    framework: &str,
    payload_bytes: u64,
    callers: u32,
    figure: Figure,
) -> Option<Spread> {
    let find = |transport: &str| {
        run.cells.iter().find(|c| {
            c.framework == framework
                && c.transport == transport
                && c.payload_bytes == payload_bytes
                && c.callers == callers
        })
    };
    let (a, b) = (find("mempipe")?, find("unix")?);
    let value = |r: &RpcRepeat| match figure {
        Figure::P50 => r.p50_ns as f64,
        Figure::Rate => r.requests_per_sec,
    };
    Spread::of(
        a.repeats
            .iter()
            .filter_map(|x| {
                let y = b.repeats.iter().find(|y| y.round == x.round)?;
                Some(value(x) / value(y))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(transport: &str, p50s: &[u64], rates: &[f64]) -> RpcCell {
        RpcCell {
            framework: "grpc".into(),
            transport: transport.into(),
            payload_bytes: 64,
            callers: 1,
            repeats: p50s
                .iter()
                .zip(rates)
                .enumerate()
                .map(|(round, (&p50_ns, &requests_per_sec))| RpcRepeat {
                    round: round as u32,
                    p50_ns,
                    p99_ns: p50_ns * 2,
                    requests_per_sec,
                    requests: 100,
                })
                .collect(),
            error: None,
        }
    }

    fn run(cells: Vec<RpcCell>) -> RpcRun {
        RpcRun {
            runtime: "current_thread".into(),
            mempipe_spin_us: None,
            warmup_ms: 1,
            duration_ms: 1,
            repeats: 3,
            pair: CorePair { a: 0, b: 1 },
            cells,
        }
    }

    #[test]
    fn ratios_pair_rounds_and_verdicts_follow_the_goal() {
        let r = run(vec![
            cell("mempipe", &[10, 40, 10], &[1.0, 1.0, 1.0]),
            cell("unix", &[40, 40, 20], &[1.0, 1.0, 1.0]),
        ]);
        // Per round: 0.25, 1.0, 0.5 -> median 0.5.
        let ratio = paired_ratio(&r, "grpc", 64, 1, Figure::P50).unwrap();
        assert_eq!((ratio.median, ratio.min, ratio.max), (0.5, 0.25, 1.0));
        let t = targets(&r);
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].verdict(), "PASS");
        assert_eq!(t[1].verdict(), "NOT MEASURED");
        assert!(t[0].label().contains("64 B") && t[1].label().contains("64 KiB"));
    }

    #[test]
    fn a_missing_round_pairs_nothing_with_the_next() {
        let mut a = cell("mempipe", &[10, 30], &[1.0, 1.0]);
        a.repeats[1].round = 2; // round 1 failed
        let b = cell("unix", &[20, 60, 30], &[1.0, 1.0, 1.0]);
        let ratio = paired_ratio(&run(vec![a, b]), "grpc", 64, 1, Figure::P50).unwrap();
        assert_eq!((ratio.min, ratio.max), (0.5, 1.0));
    }

    #[test]
    fn a_cell_without_repeats_has_no_figures() {
        let c = cell("unix", &[], &[]);
        assert_eq!(c.p50_us(), None);
        assert_eq!(Spread::of(vec![f64::NAN]), None);
    }

    #[test]
    fn a_run_without_cells_reads() {
        let json = r#"{"runtime":"current_thread","warmup_ms":1,"duration_ms":2,"repeats":1,"pair":{"a":0,"b":1}}"#;
        let r: RpcRun = serde_json::from_str(json).unwrap();
        assert!(r.cells.is_empty());
    }
}
