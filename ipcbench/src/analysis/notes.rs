//! Sentences for the figures of a run that would otherwise puzzle: a busy machine, cells that
//! cannot work by design (spinning on one CPU), stalled spinning hand-offs, repeats that
//! disagree and rounds left out of the ratios. Part of the advice.

use super::paired::BOUND_OUTLIER;
use super::profile::from_results;
use super::stats::median;
use crate::results::query::{busy_waits, rounds_of, Class};
use crate::results::{Kind, ResultFile, Status};
use crate::units::fmt_ns;

/// Repeats whose slowest p50 is more than this many times their fastest disagree: they did not
/// measure one behaviour, and the advice says why.
pub(crate) const BIMODAL: f64 = 3.0;

/// Load above this, per logical CPU, plus ipcbench's own two processes, is a busy machine.
const BUSY_LOAD_PER_CPU: f64 = 1.0;

/// A sentence for each kind of odd figure in `f`.
pub(crate) fn notes(f: &ResultFile, lat_size: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    let cpus = f.machine.logical_cpus.max(1);
    if let Some(load) = f
        .machine
        .load_avg
        .filter(|l| *l > BUSY_LOAD_PER_CPU * cpus as f64 + 2.0)
    {
        out.push(format!(
            "The machine was busy: its load average was {load:.1} on {cpus} CPUs as the run \
             ended (ipcbench itself accounts for about 2). Other processes took CPU time from the \
             measurement; that hurts spinning transports most (a spinning side preempted while \
             it holds its turn stalls the hand-off) and makes repeats disagree. Rerun on a quiet \
             machine before choosing."
        ));
    }
    let timed_out_spinners = |class: Class| -> Vec<&str> {
        f.params
            .transports
            .iter()
            .map(String::as_str)
            .filter(|t| {
                busy_waits(t)
                    && f.cells.iter().any(|c| {
                        c.transport == *t && c.status == Status::TimedOut && class.holds(c.pair)
                    })
            })
            .collect()
    };
    let stuck = timed_out_spinners(Class::Same);
    if !stuck.is_empty() {
        out.push(format!(
            "Same-core cells of {} time out by design: a spinning side that shares its CPU with \
             its peer holds that CPU until the scheduler preempts it, so every hand-off waits a \
             scheduler tick (milliseconds). Their figures are not speeds, `limit` gives no bound \
             on one CPU, and on a shared CPU a sleeping transport (futex, hybrid) is the choice.",
            stuck.join(", ")
        ));
    }
    let preempted = timed_out_spinners(Class::Cross);
    if !preempted.is_empty() {
        out.push(format!(
            "Cross-core cells of {} timed out: a repeat stalled, which a spinning hand-off only \
             does when something else runs on its CPUs (other load, or the hypervisor pausing a \
             vCPU). Where `limit` is among them, the ratios on those pairs have no bound.",
            preempted.join(", ")
        ));
    }
    if let Some(size) = lat_size {
        split_repeats(f, size, &mut out);
    }
    let flagged = f
        .cells
        .iter()
        .filter(|c| c.transport == "limit" && c.status == Status::Ok)
        .any(|b| {
            let r = rounds_of(b);
            median(r.clone()).is_some_and(|m| r.iter().any(|v| (v / m - 1.0).abs() > BOUND_OUTLIER))
        });
    if flagged {
        out.push(format!(
            "\"round N flagged\" beside a ratio: in round N the hardware bound `limit` ran more \
             than {:.0}% off its own median on that pair (the hypervisor moved or slowed a vCPU, \
             other load, or a first round on cold caches and clocks), so that round says nothing \
             about the transports and is left out; the ratio stands on the other rounds.",
            BOUND_OUTLIER * 100.0
        ));
    }
    out
}

/// One note naming the transports whose latency repeats disagree on some cross-core pair.
fn split_repeats(f: &ResultFile, size: u64, out: &mut Vec<String>) {
    let mut split: Vec<String> = Vec::new();
    for t in &f.params.transports {
        let range = f
            .cells
            .iter()
            .filter(|c| &c.transport == t && c.size_bytes == size && c.kind == Kind::Latency)
            .filter(|c| Class::Cross.holds(c.pair))
            .filter_map(|c| {
                let r = rounds_of(c);
                let lo = r.iter().copied().filter(|v| *v > 0.0).reduce(f64::min)?;
                let hi = r.iter().copied().reduce(f64::max)?;
                (hi > BIMODAL * lo).then_some((lo / 2.0, hi / 2.0))
            })
            .next();
        if let Some((lo, hi)) = range {
            split.push(format!("{t} ({} to {})", fmt_ns(lo), fmt_ns(hi)));
        }
    }
    if split.is_empty() {
        return;
    }
    let mut note = format!(
        "Repeats that disagree (\"!\" beside the spread; one-way p50s of the repeats on one \
         pair): {}. Such a median may land on either figure, so rerun on a quiet machine to \
         see which is typical. Something else ran on these CPUs during some repeats (other \
         load, or the hypervisor moved or paused a vCPU).",
        split.join(", ")
    );
    if split.iter().any(|s| s.contains("hybrid")) {
        note += " For hybrid: a wait that outlasts its spin budget (20 µs in these transports, \
                 mempipe's default) sleeps in the kernel, and a sleeping side answers late, which \
                 makes its peer outlast the budget too, so a repeat that falls into this slow mode \
                 stays there. Variants that differ only in how they write (-send, -zc) can land on \
                 either side of it in one run: the difference is the wait, not the write path.";
        if let Some(cost) = from_results(f).wake_cost {
            note += &format!(
                " A futex wake costs {} here{}; connections with the profile installed spin \
                 twice that before they sleep.",
                fmt_ns(cost.as_nanos() as f64),
                if cost.as_micros() >= 10 {
                    ", near or above the 20 µs budget, which makes the slow mode likely"
                } else {
                    ""
                }
            );
        }
    }
    out.push(note);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::advice::advise;
    use crate::analysis::advice::tests::with_transports;
    use crate::check::tests::{file, lat};

    #[test]
    fn spinning_same_core_timeouts_and_disagreeing_repeats_are_explained() {
        let mut stuck = lat("limit", 8, (0, 0), 4e6);
        stuck.status = Status::TimedOut;
        let mut hybrid = lat("mempipe-hybrid-send", 8, (0, 1), 120.0);
        hybrid.latency.as_mut().unwrap().repeats_p50_ns = vec![240.0, 119_000.0, 121_000.0];
        let f = with_transports(file(
            &[0, 1],
            vec![stuck, hybrid, lat("mempipe-futex", 8, (0, 0), 1_000.0)],
        ));
        let notes = advise(&f).notes;
        assert!(
            notes[0].starts_with("Same-core cells of limit time out by design"),
            "{notes:?}"
        );
        assert!(
            !notes[0].contains("mempipe-futex"),
            "a sleeping transport is not stuck"
        );
        assert!(
            notes[1].contains("mempipe-hybrid-send (120 ns to 60.5 µs)"),
            "{notes:?}"
        );
        assert!(notes[1].contains("not the write path"), "{notes:?}");
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn a_busy_machine_and_stalled_cross_core_spinning_are_named_first() {
        let mut stalled = lat("mempipe-spin", 8, (0, 1), 4e6);
        stalled.status = Status::TimedOut;
        let mut f = with_transports(file(&[0, 1], vec![stalled]));
        f.machine.load_avg = Some(3.9); // 2 CPUs + ipcbench's 2: not busy
        assert!(advise(&f).notes[0].starts_with("Cross-core cells of mempipe-spin timed out"));
        f.machine.load_avg = Some(15.4);
        let notes = advise(&f).notes;
        assert!(
            notes[0].starts_with("The machine was busy: its load average was 15.4 on 2 CPUs"),
            "{notes:?}"
        );
        assert!(notes[1].starts_with("Cross-core cells of mempipe-spin timed out"));
    }

    #[test]
    fn an_outlying_round_of_the_bound_is_explained_once() {
        let mut b = lat("limit", 8, (0, 1), 100.0);
        b.latency.as_mut().unwrap().repeats_p50_ns = vec![400.0, 200.0, 202.0];
        let f = with_transports(file(&[0, 1], vec![b]));
        let notes = advise(&f).notes;
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("\"round N flagged\""), "{notes:?}");
    }
}
