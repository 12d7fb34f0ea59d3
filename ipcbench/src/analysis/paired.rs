//! Paired ratios: a subject against its bound, round by round.
//!
//! `ipcbench run` measures repeats in rounds, and within a round it runs every
//! transport of one (kind, size, core pair) back to back, the bound `limit`
//! first (see `runner`). Repeat `r` of every cell therefore comes from round
//! `r`, and two cells' repeat `r` were measured seconds apart at most, under
//! the same host placement of the vCPUs. A ratio compares figures taken under
//! the same conditions: it is taken per round, and the median of the per-round
//! ratios is the ratio, with their range as its spread. A round whose bound is
//! far off the bound's own median is flagged and left out, not averaged in.
//!
//! `ipcbench check`, the run summary and the HTML report all use [`paired`].

use super::stats::median;
use crate::units::fmt_ratio;

/// A round whose bound differs from the median of the bound's rounds by more
/// than this fraction is an outlier: flagged, and left out of the ratio.
pub(crate) const BOUND_OUTLIER: f64 = 0.25;

/// The ratio of two cells over the rounds both have.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PairedRatio {
    /// Median of the per-round ratios of the rounds kept.
    pub(crate) median: f64,
    /// Smallest and largest per-round ratio kept.
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// Per-round ratios kept, in round order.
    pub(crate) kept: Vec<f64>,
    /// Rounds (from 0) left out because the bound was an outlier in them.
    pub(crate) flagged: Vec<usize>,
}

/// Per-round ratios `num[r] / den[r]` over the rounds both have (non-finite or
/// non-positive figures skip their round), with bound outliers flagged and left
/// out. `None` when no round has both figures.
pub(crate) fn paired(num: &[f64], den: &[f64]) -> Option<PairedRatio> {
    let usable = |v: f64| v.is_finite() && v > 0.0;
    let rounds: Vec<(usize, f64, f64)> = num
        .iter()
        .zip(den)
        .enumerate()
        .filter(|(_, (n, d))| usable(**n) && usable(**d))
        .map(|(r, (n, d))| (r, *n, *d))
        .collect();
    let bound = median(rounds.iter().map(|x| x.2).collect())?;
    let (mut kept, mut flagged) = (Vec::new(), Vec::new());
    for (r, n, d) in rounds {
        if (d / bound - 1.0).abs() > BOUND_OUTLIER {
            flagged.push(r);
        } else {
            kept.push(n / d);
        }
    }
    // The round(s) at the bound's median are never more than 0% off, so `kept`
    // is not empty here.
    Some(PairedRatio {
        median: median(kept.clone())?,
        min: kept.iter().copied().reduce(f64::min)?,
        max: kept.iter().copied().reduce(f64::max)?,
        kept,
        flagged,
    })
}

impl PairedRatio {
    /// "1.05x (1.03-1.08)", or "1.05x" when the rounds agree to the digits shown;
    /// flagged rounds are named: "1.05x (1.03-1.08; round 2 flagged)".
    pub(crate) fn text(&self) -> String {
        let mut inner = Vec::new();
        let (lo, hi) = (fmt_ratio(self.min), fmt_ratio(self.max));
        if lo != hi {
            inner.push(format!(
                "{}-{}",
                lo.trim_end_matches('x'),
                hi.trim_end_matches('x')
            ));
        }
        if !self.flagged.is_empty() {
            inner.push(flagged_text(&self.flagged));
        }
        if inner.is_empty() {
            fmt_ratio(self.median)
        } else {
            format!("{} ({})", fmt_ratio(self.median), inner.join("; "))
        }
    }
}

/// Several pairs' paired ratios as one: the median of their medians, the range
/// of every round kept, and every flagged round. `None` for none.
pub(crate) fn over_pairs(ratios: &[PairedRatio]) -> Option<PairedRatio> {
    let kept: Vec<f64> = ratios.iter().flat_map(|r| r.kept.iter().copied()).collect();
    let mut flagged: Vec<usize> = ratios
        .iter()
        .flat_map(|r| r.flagged.iter().copied())
        .collect();
    flagged.sort_unstable();
    flagged.dedup();
    Some(PairedRatio {
        median: median(ratios.iter().map(|r| r.median).collect())?,
        min: kept.iter().copied().reduce(f64::min)?,
        max: kept.iter().copied().reduce(f64::max)?,
        kept,
        flagged,
    })
}

/// "round 2 flagged", "rounds 1, 3 flagged" (rounds counted from 1 for people).
pub(crate) fn flagged_text(rounds: &[usize]) -> String {
    let list: Vec<String> = rounds.iter().map(|r| (r + 1).to_string()).collect();
    let s = if rounds.len() == 1 { "" } else { "s" };
    format!("round{s} {} flagged", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_taken_per_round_and_the_median_of_them_counts() {
        // Subject and bound move together: every round says 1.1x.
        let r = paired(&[220.0, 231.0, 209.0], &[200.0, 210.0, 190.0]).unwrap();
        assert!(r.flagged.is_empty());
        assert!((r.median - 1.1).abs() < 1e-9);
        assert!((r.min - 1.1).abs() < 1e-9 && (r.max - 1.1).abs() < 1e-9);
        assert_eq!(r.text(), "1.10x");
    }

    #[test]
    fn a_round_whose_bound_is_an_outlier_is_flagged_not_averaged_in() {
        // Round 2's bound is 5x slower than the others: its ratio (0.4x) is left out.
        let r = paired(&[220.0, 220.0, 221.0], &[110.0, 531.0, 115.0]).unwrap();
        assert_eq!(r.flagged, vec![1]);
        assert_eq!(r.kept.len(), 2);
        assert!(r.median > 1.9 && r.median < 2.01, "{r:?}");
        assert!(r.text().ends_with("; round 2 flagged)"), "{}", r.text());
    }

    #[test]
    fn rounds_missing_on_either_side_are_skipped_and_none_left_means_no_ratio() {
        let r = paired(&[100.0, f64::NAN, 120.0, 130.0], &[100.0, 100.0, 0.0]).unwrap();
        assert_eq!(r.kept, vec![1.0]);
        assert_eq!(paired(&[], &[1.0]), None);
        assert_eq!(paired(&[1.0], &[0.0]), None);
    }
}
