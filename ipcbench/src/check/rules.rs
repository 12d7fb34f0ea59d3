//! How each kind of target rule turns a result file into [`Line`]s: per-pair ratios with the
//! median over pairs, figures against an absolute value, a bound on every cell, and same-core
//! against cross-core medians.

use super::figures::{best_text, missing, pairs_text, pairs_with_cells, Subject};
use super::{FlaggedRound, Goal, Line, Verdict};
use crate::analysis::paired::{flagged_text, paired, BOUND_OUTLIER};
use crate::analysis::stats::median;
use crate::results::query::sizes;
use crate::results::query::{Class, Metric};
use crate::results::{CorePair, Kind, ResultFile};
use crate::units::{fmt_ns, fmt_size};
use Goal::Info;
use Size::{Bytes, EachThroughput};

/// Message size of a target: one size, or one line per throughput size in the file.
#[derive(Debug)]
pub(crate) enum Size {
    Bytes(u64),
    EachThroughput,
}

/// How a target is computed.
#[derive(Debug)]
pub(crate) enum Rule {
    /// `num / den` on each pair of `class` that has both, as a paired ratio (per round, then
    /// the median over rounds: see [`crate::analysis::paired`]); the verdict is on the median over
    /// those pairs (one noisy pair cannot decide it), the range of the per-round ratios is
    /// shown beside it.
    PairRatio {
        num: &'static Subject,
        den: &'static Subject,
        metric: Metric,
        size: Size,
        class: Class,
        goal: Goal,
    },
    /// `subject / value` per pair of `class`, median over pairs: a target given in absolute
    /// units, so only indicative on another machine.
    Absolute {
        subject: &'static Subject,
        metric: Metric,
        size: u64,
        class: Class,
        value: f64,
        /// Where `value` comes from, a short label in the goal column: "abs", "ref".
        against: &'static str,
        goal: Goal,
    },
    /// Every cell of `subject`'s kind (any size, any pair, timed-out ones included: a tail is
    /// what this bounds) has `metric` below `bound`; the worst cell is named.
    EveryCell {
        subject: &'static Subject,
        metric: Metric,
        bound: f64,
    },
    /// Median over same-core pairs / median over cross-core pairs.
    SameOverCross {
        subject: &'static Subject,
        metric: Metric,
        size: u64,
        goal: Goal,
    },
    /// Not in a result file; measured by a separate tool.
    Elsewhere {
        what: &'static str,
        see: &'static str,
    },
}

/// One target: its number ("1", "3b") and its rule.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) id: &'static str,
    pub(crate) rule: Rule,
}

impl Target {
    /// The lines of this target for `f`: one, or one per throughput size for `EachThroughput`.
    pub(crate) fn lines(&self, f: &ResultFile) -> Vec<Line> {
        let id = self.id;
        match &self.rule {
            Rule::PairRatio {
                size: EachThroughput,
                num,
                den,
                metric,
                class,
                goal,
            } => {
                let all = sizes(f, Kind::Throughput);
                // With no throughput cells at all, one line says what would measure them.
                let all = if all.is_empty() { vec![4096] } else { all };
                all.into_iter()
                    .map(|s| pair_ratio(id, f, num, den, *metric, s, *class, *goal))
                    .collect()
            }
            Rule::PairRatio {
                size: Bytes(s),
                num,
                den,
                metric,
                class,
                goal,
            } => vec![pair_ratio(id, f, num, den, *metric, *s, *class, *goal)],
            Rule::Absolute {
                subject,
                metric,
                size,
                class,
                value,
                against,
                goal,
            } => {
                let title = format!(
                    "{} {}, {}, {}",
                    subject.name,
                    metric.label(),
                    fmt_size(*size),
                    class.label()
                );
                let mut l = per_pair(
                    Line::new(id, title),
                    f,
                    subject,
                    None,
                    *metric,
                    *size,
                    *class,
                );
                let goal_text = match goal {
                    Info => format!("{against} {}", metric.fmt(*value)),
                    _ => format!("{} {against}", goal.text_for(|g| metric.fmt(g * value))),
                };
                l.finish(*goal, goal_text, |r| r / value);
                vec![l]
            }
            Rule::EveryCell {
                subject,
                metric,
                bound,
            } => vec![every_cell(id, f, subject, *metric, *bound)],
            Rule::SameOverCross {
                subject,
                metric,
                size,
                goal,
            } => vec![same_over_cross(id, f, subject, *metric, *size, *goal)],
            Rule::Elsewhere { what, see } => {
                let mut l = Line::new(id, what.to_string());
                l.goal = Info;
                l.goal_text = "-".into();
                l.measured = "-".into();
                l.verdict = Verdict::NotInFile {
                    see: see.to_string(),
                };
                l.notes
                    .push(format!("not in a result file: measure with {see}"));
                vec![l]
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn pair_ratio(
    id: &'static str,
    f: &ResultFile,
    num: &Subject,
    den: &Subject,
    metric: Metric,
    size: u64,
    class: Class,
    goal: Goal,
) -> Line {
    let title = format!(
        "{} / {}, {}, {}, {}",
        num.name,
        den.name,
        metric.label(),
        fmt_size(size),
        class.label()
    );
    let mut l = per_pair(Line::new(id, title), f, num, Some(den), metric, size, class);
    l.finish(goal, ratio_goal_text(goal), |r| r);
    l
}

/// Fills `l` with `num` (over `den`, when given) on every pair of `class`: the pairs used,
/// the medians of each side as "measured", the per-pair values in `l.samples`, which member
/// was best where a side has several, and the pairs left out for lack of one side.
fn per_pair(
    mut l: Line,
    f: &ResultFile,
    num: &Subject,
    den: Option<&Subject>,
    metric: Metric,
    size: u64,
    class: Class,
) -> Line {
    let subjects: Vec<&Subject> = std::iter::once(num).chain(den).collect();
    let (mut nums, mut dens) = (Vec::new(), Vec::new());
    let (mut best_num, mut best_den) = (Vec::new(), Vec::new());
    for p in pairs_with_cells(f, &subjects, metric, size, class) {
        let n = num.best_on(f, metric, size, p);
        let d = den.map(|d| d.best_on(f, metric, size, p));
        match (n, d) {
            (Some(n), None) => {
                l.pairs.push(p);
                l.samples.push(n.1);
                nums.push(n.1);
                best_num.push((n.0.transport.as_str(), p));
            }
            (Some(n), Some(Some(d))) => {
                let Some(r) = paired(&metric.rounds(n.0), &metric.rounds(d.0)) else {
                    l.notes
                        .push(format!("{p} left out: no round has both figures"));
                    continue;
                };
                l.flagged_rounds
                    .extend(r.flagged.iter().map(|&r| FlaggedRound {
                        pair: p,
                        round: r + 1,
                    }));
                if !r.flagged.is_empty() {
                    l.notes.push(format!(
                        "{p}: {} and left out ({} more than {:.0}% off its median there)",
                        flagged_text(&r.flagged),
                        d.0.transport,
                        BOUND_OUTLIER * 100.0
                    ));
                }
                l.pairs.push(p);
                l.samples.push(r.median);
                l.round_ratios.extend(r.kept);
                nums.push(n.1);
                dens.push(d.1);
                best_num.push((n.0.transport.as_str(), p));
                best_den.push((d.0.transport.as_str(), p));
            }
            (None, _) => {
                let why = num.left_out(f, metric.kind(), size, p);
                l.notes.push(format!("{p} left out: {why}"));
            }
            (Some(_), Some(None)) => {
                let why = den.map_or(String::new(), |d| d.left_out(f, metric.kind(), size, p));
                l.notes.push(format!("{p} left out: {why}"));
            }
        }
    }
    if l.samples.is_empty() {
        let lacking: Vec<&Subject> = subjects
            .iter()
            .copied()
            .filter(|s| {
                pairs_with_cells(f, &[s], metric, size, class)
                    .iter()
                    .all(|&p| s.best_on(f, metric, size, p).is_none())
            })
            .collect();
        let text = missing(f, &lacking, &subjects, metric, size, &[class]);
        l.verdict = Verdict::NotMeasured { missing: text };
        l.notes.clear();
        return l;
    }
    let mut m = metric.fmt(median(nums).unwrap_or(f64::NAN));
    if let Some(d) = median(dens) {
        m = format!("{m} / {}", metric.fmt(d));
    }
    l.measured = m;
    if l.pairs.len() > 2 {
        l.notes.push(format!("pairs: {}", pairs_text(&l.pairs, 12)));
    }
    if num.members.len() > 1 {
        l.notes.push(format!("best: {}", best_text(&best_num)));
    }
    if let Some(d) = den.filter(|d| d.members.len() > 1) {
        l.notes
            .push(format!("{}: {}", d.name, best_text(&best_den)));
    }
    l
}

fn every_cell(
    id: &'static str,
    f: &ResultFile,
    subject: &Subject,
    metric: Metric,
    bound: f64,
) -> Line {
    let kind = metric.kind();
    let title = format!("{} {}, every {kind} cell", subject.name, metric.label());
    let mut l = Line::new(id, title);
    let goal_text = format!("< {}", fmt_ns(bound));
    let cells: Vec<_> = f
        .cells
        .iter()
        .filter(|c| c.kind == kind && subject.members.contains(&c.transport.as_str()))
        .collect();
    let measured: Vec<_> = cells
        .iter()
        .filter_map(|c| metric.raw(c).map(|v| (*c, v)))
        .collect();
    let Some(&(worst, v)) = measured.iter().max_by(|x, y| x.1.total_cmp(&y.1)) else {
        let sizes = sizes(f, kind);
        let size = sizes.first().copied().unwrap_or(8);
        let text = missing(
            f,
            &[subject],
            &[subject],
            metric,
            size,
            &[Class::Cross, Class::Same],
        );
        l.verdict = Verdict::NotMeasured { missing: text };
        l.finish(Goal::Below(1.0), goal_text, |r| r);
        return l;
    };
    let mut pairs: Vec<CorePair> = measured.iter().map(|x| x.0.pair).collect();
    pairs.sort_unstable();
    pairs.dedup();
    l.pairs = pairs;
    l.samples = vec![v / bound];
    l.measured = format!("worst {}", metric.fmt(v));
    l.notes.push(format!(
        "worst of {} cells on {}: {} on {} ({})",
        measured.len(),
        pairs_text(&l.pairs, 12),
        fmt_size(worst.size_bytes),
        worst.pair,
        worst.status.name()
    ));
    let without = cells.len() - measured.len();
    if without > 0 {
        l.notes
            .push(format!("{without} cell(s) without figures left out"));
    }
    l.finish(Goal::Below(1.0), goal_text, |r| r);
    l
}

fn same_over_cross(
    id: &'static str,
    f: &ResultFile,
    subject: &Subject,
    metric: Metric,
    size: u64,
    goal: Goal,
) -> Line {
    let title = format!(
        "{} {}, {}, same core / cross-core",
        subject.name,
        metric.label(),
        fmt_size(size)
    );
    let mut l = Line::new(id, title);
    let side = |class: Class| -> (Vec<CorePair>, Option<f64>) {
        let pairs: Vec<CorePair> = pairs_with_cells(f, &[subject], metric, size, class)
            .into_iter()
            .filter(|&p| subject.best_on(f, metric, size, p).is_some())
            .collect();
        let values = pairs
            .iter()
            .filter_map(|&p| subject.best_on(f, metric, size, p).map(|x| x.1))
            .collect();
        (pairs, median(values))
    };
    let (same_pairs, same) = side(Class::Same);
    let (cross_pairs, cross) = side(Class::Cross);
    let (Some(s), Some(c)) = (same, cross) else {
        let classes = [Class::Same, Class::Cross];
        let text = missing(f, &[subject], &[subject], metric, size, &classes);
        l.verdict = Verdict::NotMeasured { missing: text };
        l.finish(goal, ratio_goal_text(goal), |r| r);
        return l;
    };
    l.pairs = same_pairs.iter().chain(&cross_pairs).copied().collect();
    l.samples = vec![s / c];
    l.measured = format!("{} / {}", metric.fmt(s), metric.fmt(c));
    l.notes.push(format!(
        "same core: {}; cross-core: {} (medians over pairs)",
        pairs_text(&same_pairs, 12),
        pairs_text(&cross_pairs, 12)
    ));
    l.finish(goal, ratio_goal_text(goal), |r| r);
    l
}

/// "<= 1.15x", ">= 20x", "info".
fn ratio_goal_text(goal: Goal) -> String {
    goal.text_for(|g| format!("{g}x"))
}
