//! Reading figures out of a result file for the targets: which number of a cell a target uses,
//! which transports it compares, which core pairs count, and, when nothing usable is there, a
//! sentence saying what is missing and which `ipcbench run` flags would measure it.

use crate::paired::rounds_of;
use crate::report::{fmt_ns, fmt_rate, fmt_size};
use crate::results::{Cell, CorePair, Kind, ResultFile, Status};

/// The number of a cell a target compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Half the median of the repeats' round-trip p50s, as the run summary shows it. Not
    /// `one_way_p50_ns` (the merged histogram's p50): on a VM one repeat may catch another
    /// vCPU placement, and the merged p50 follows whichever repeat fitted most round trips.
    OneWayP50,
    /// The median of the repeats' round-trip p50s.
    RttP50,
    /// `latency.rtt_ns.p999`.
    RttP999,
    /// `throughput.bytes_per_sec`.
    BytesPerSec,
    /// `throughput.msgs_per_sec`.
    MsgsPerSec,
}

impl Metric {
    pub fn kind(self) -> Kind {
        match self {
            Metric::OneWayP50 | Metric::RttP50 | Metric::RttP999 => Kind::Latency,
            Metric::BytesPerSec | Metric::MsgsPerSec => Kind::Throughput,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::OneWayP50 => "one-way p50",
            Metric::RttP50 => "RTT p50",
            Metric::RttP999 => "RTT p99.9",
            Metric::BytesPerSec => "B/s",
            Metric::MsgsPerSec => "msg/s",
        }
    }

    /// Latencies are better low, rates high: decides the "best" of several transports.
    pub fn lower_is_better(self) -> bool {
        self.kind() == Kind::Latency
    }

    /// The figure of `c`, whatever its status, when present, finite and positive.
    pub fn raw(self, c: &Cell) -> Option<f64> {
        let v = match self {
            Metric::OneWayP50 => c.latency.as_ref()?.rtt_p50_over_repeats() / 2.0,
            Metric::RttP50 => c.latency.as_ref()?.rtt_p50_over_repeats(),
            Metric::RttP999 => c.latency.as_ref()?.rtt_ns.p999 as f64,
            Metric::BytesPerSec => c.throughput.as_ref()?.bytes_per_sec,
            Metric::MsgsPerSec => c.throughput.as_ref()?.msgs_per_sec,
        };
        (v.is_finite() && v > 0.0).then_some(v)
    }

    /// The figure of an OK cell. A timed-out cell's figure is what a bounded run happened to
    /// catch (often one scheduler tick), not the transport's speed, so ratios leave it out.
    pub fn of(self, c: &Cell) -> Option<f64> {
        (c.kind == self.kind() && c.status == Status::Ok)
            .then(|| self.raw(c))
            .flatten()
    }

    /// The figure of each round (see [`crate::paired`]), in the same unit as [`Metric::raw`].
    pub fn rounds(self, c: &Cell) -> Vec<f64> {
        match self {
            Metric::OneWayP50 => rounds_of(c).into_iter().map(|v| v / 2.0).collect(),
            Metric::RttP50 | Metric::BytesPerSec => rounds_of(c),
            Metric::MsgsPerSec => rounds_of(c)
                .into_iter()
                .map(|v| v / c.size_bytes.max(1) as f64)
                .collect(),
            Metric::RttP999 => self.raw(c).into_iter().collect(),
        }
    }

    pub fn fmt(self, v: f64) -> String {
        match self {
            Metric::OneWayP50 | Metric::RttP50 | Metric::RttP999 => fmt_ns(v),
            Metric::BytesPerSec => fmt_rate(v),
            Metric::MsgsPerSec => format!("{:.1} M msg/s", v / 1e6),
        }
    }
}

/// Which core pairs a target looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `pair.a != pair.b`.
    Cross,
    /// `pair.a == pair.b`: both processes on one CPU.
    Same,
}

impl Class {
    pub fn holds(self, p: CorePair) -> bool {
        (p.a == p.b) == (self == Class::Same)
    }

    pub fn label(self) -> &'static str {
        match self {
            Class::Cross => "cross-core",
            Class::Same => "same core",
        }
    }
}

/// One side of a comparison: a transport, or the best of several on each pair.
#[derive(Debug)]
pub struct Subject {
    /// As printed in the target's title.
    pub name: &'static str,
    /// Transport names; with several, the best one on each pair counts and is named.
    pub members: &'static [&'static str],
    /// Where a member is only in some builds, how to get such a build.
    pub build: Option<&'static str>,
}

impl Subject {
    /// The best member's figure on `pair` at `size` (OK cells only), with that member's cell.
    pub fn best_on<'f>(
        &self,
        f: &'f ResultFile,
        metric: Metric,
        size: u64,
        pair: CorePair,
    ) -> Option<(&'f Cell, f64)> {
        let found = f
            .cells
            .iter()
            .filter(|c| c.size_bytes == size && c.pair == pair)
            .filter(|c| self.members.contains(&c.transport.as_str()))
            .filter_map(|c| metric.of(c).map(|v| (c, v)));
        if metric.lower_is_better() {
            found.min_by(|x, y| x.1.total_cmp(&y.1))
        } else {
            found.max_by(|x, y| x.1.total_cmp(&y.1))
        }
    }

    /// Why `pair` has no figure for this side: "limit timed_out", or "no limit cell".
    pub fn left_out(&self, f: &ResultFile, kind: Kind, size: u64, pair: CorePair) -> String {
        let statuses: Vec<String> = f
            .cells
            .iter()
            .filter(|c| c.kind == kind && c.size_bytes == size && c.pair == pair)
            .filter(|c| self.members.contains(&c.transport.as_str()))
            .map(|c| format!("{} {}", c.transport, c.status.name()))
            .collect();
        if statuses.is_empty() {
            format!("no {} cell", self.name)
        } else {
            statuses.join(", ")
        }
    }
}

/// Pairs of `class` that have a cell of `metric`'s kind at `size` for any member of `subjects`,
/// in ascending order.
pub fn pairs_with_cells(
    f: &ResultFile,
    subjects: &[&Subject],
    metric: Metric,
    size: u64,
    class: Class,
) -> Vec<CorePair> {
    let mut v: Vec<CorePair> = f
        .cells
        .iter()
        .filter(|c| c.kind == metric.kind() && c.size_bytes == size && class.holds(c.pair))
        .filter(|c| {
            subjects
                .iter()
                .any(|s| s.members.contains(&c.transport.as_str()))
        })
        .map(|c| c.pair)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Why `lacking` have no usable figure at `size` on pairs of `classes` (a transport, kind,
/// size or kind of pair the file lacks, else the statuses of the cells there), and the focused
/// `ipcbench run` command that would measure every side of the comparison (`all`) in one run:
/// ratios only mean something within one file.
pub fn missing(
    f: &ResultFile,
    lacking: &[&Subject],
    all: &[&Subject],
    metric: Metric,
    size: u64,
    classes: &[Class],
) -> String {
    let kind = metric.kind();
    let has = |t: &str| f.cells.iter().any(|c| c.transport == t);
    let mut reasons = Vec::new();
    let absent: Vec<&str> = lacking
        .iter()
        .filter(|s| !s.members.iter().any(|t| has(t)))
        .flat_map(|s| s.members.iter().copied())
        .collect();
    if !absent.is_empty() {
        reasons.push(format!("{} not in the file", absent.join(", ")));
    }
    if !f.cells.iter().any(|c| c.kind == kind) {
        reasons.push(format!("no {kind} cells"));
    } else if !f
        .cells
        .iter()
        .any(|c| c.kind == kind && c.size_bytes == size)
    {
        reasons.push(format!("no {kind} cells at {}", fmt_size(size)));
    }
    let pairs = f.params.pairs.iter().chain(f.cells.iter().map(|c| &c.pair));
    for class in classes {
        if !pairs.clone().any(|&p| class.holds(p)) {
            reasons.push(format!("no {} pair", class.label()));
        }
    }
    if reasons.is_empty() {
        for class in classes {
            reasons.extend(lacking.iter().map(|s| statuses(f, s, kind, size, *class)));
        }
    }
    let mut transports: Vec<&str> = Vec::new();
    for t in all.iter().flat_map(|s| s.members.iter().copied()) {
        if !transports.contains(&t) {
            transports.push(t);
        }
    }
    let build = all
        .iter()
        .filter(|s| s.members.iter().any(|t| !has(t)))
        .find_map(|s| s.build)
        .map(|b| format!(" (in a build with {b})"))
        .unwrap_or_default();
    let example: Vec<String> = classes.iter().map(|&c| example_pairs(f, c)).collect();
    format!(
        "{}; measure with: ipcbench run -t {} --kind {kind} --{kind}-sizes {size} --pairs {}{build}",
        reasons.join("; "),
        transports.join(","),
        example.join(",")
    )
}

/// "no mempipe-spin OK cell (0->0 timed_out, 1->1 timed_out)": what happened to the cells of
/// `s` that are there.
fn statuses(f: &ResultFile, s: &Subject, kind: Kind, size: u64, class: Class) -> String {
    let v: Vec<String> = f
        .cells
        .iter()
        .filter(|c| c.kind == kind && c.size_bytes == size && class.holds(c.pair))
        .filter(|c| s.members.contains(&c.transport.as_str()))
        .map(|c| format!("{} {} {}", c.transport, c.pair, c.status.name()))
        .collect();
    let what = format!(
        "no OK {} {kind} cell at {} on a {} pair",
        s.name,
        fmt_size(size),
        class.label()
    );
    if v.is_empty() {
        what
    } else {
        format!("{what} ({})", v.join(", "))
    }
}

/// Pairs to suggest with `--pairs`, from the file's own online CPUs: `0:1,1:0` or `0:0`.
fn example_pairs(f: &ResultFile, class: Class) -> String {
    let online = &f.machine.topology.online;
    let a = online.first().copied().unwrap_or(0);
    match (class, online.get(1).copied()) {
        (Class::Same, _) => format!("{a}:{a}"),
        (Class::Cross, Some(b)) => format!("{a}:{b},{b}:{a}"),
        (Class::Cross, None) => format!("{a}:{}", a + 1),
    }
}

/// "0->1,1->0", or "-" for none; after `cap` pairs, "... (N in all)" (a full matrix has
/// thousands; the JSON output lists them all).
pub fn pairs_text(pairs: &[CorePair], cap: usize) -> String {
    if pairs.is_empty() {
        return "-".into();
    }
    let mut s = pairs
        .iter()
        .take(cap)
        .map(CorePair::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if pairs.len() > cap {
        s += &format!(",... ({} in all)", pairs.len());
    }
    s
}

/// "mempipe-spin on 0->1,1->0; mempipe-spin-zc on 0->2": which member of a several-transport
/// side was best on which pairs.
pub fn best_text(best: &[(&str, CorePair)]) -> String {
    let mut groups: Vec<(&str, Vec<CorePair>)> = Vec::new();
    for &(t, p) in best {
        match groups.iter_mut().find(|g| g.0 == t) {
            Some(g) => g.1.push(p),
            None => groups.push((t, vec![p])),
        }
    }
    groups
        .iter()
        .map(|(t, p)| format!("{t} on {}", pairs_text(p, 8)))
        .collect::<Vec<_>>()
        .join("; ")
}
