//! Reading figures out of a result file for the targets: which number of a cell a target uses,
//! which transports it compares, which core pairs count, and, when nothing usable is there, a
//! sentence saying what is missing and which `ipcbench run` flags would measure it.

use crate::results::query::{Class, Metric};
use crate::results::{Cell, CorePair, Kind, ResultFile};
use crate::units::fmt_size;

/// One side of a comparison: a transport, or the best of several on each pair.
#[derive(Debug)]
pub(crate) struct Subject {
    /// As printed in the target's title.
    pub(crate) name: &'static str,
    /// Transport names; with several, the best one on each pair counts and is named.
    pub(crate) members: &'static [&'static str],
    /// Where a member is only in some builds, how to get such a build.
    pub(crate) build: Option<&'static str>,
}

impl Subject {
    /// The best member's figure on `pair` at `size` (OK cells only), with that member's cell.
    pub(crate) fn best_on<'f>(
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
    pub(crate) fn left_out(&self, f: &ResultFile, kind: Kind, size: u64, pair: CorePair) -> String {
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
pub(crate) fn pairs_with_cells(
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
pub(crate) fn missing(
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
pub(crate) fn pairs_text(pairs: &[CorePair], cap: usize) -> String {
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
pub(crate) fn best_text(best: &[(&str, CorePair)]) -> String {
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
