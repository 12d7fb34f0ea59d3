//! Runs a [`Plan`] cell by cell with a progress bar. Each cell runs `repeats` fresh sessions,
//! interleaved in rounds across cells; within a round, the cells of one (kind, size, pair) run
//! back to back, `limit` first (see [`round_order`]), so that ratios can be paired by round
//! (see `crate::analysis::paired`).
//!
//! [`session`] runs one repeat (spawn the pinned child, measure, reap), [`child`] is the
//! re-executed responder, and [`cells`] turns a cell's sessions into its result.

pub(crate) mod cells;
pub(crate) mod child;
pub(crate) mod session;

use crate::plan::{round_order, Plan};
use crate::results::{ResultFile, Status};
use crate::transport::CellParams;
use crate::{affinity, stop};
use indicatif::{ProgressBar, ProgressStyle};

/// Run every planned cell; stops early (keeping what it has) on Ctrl-C.
pub(crate) fn run(plan: &Plan, file: &mut ResultFile, run_id: &str) -> anyhow::Result<()> {
    let cells = plan.cells();
    let original_affinity = affinity::current_cpus()?;
    let bar = ProgressBar::new(plan.estimate().as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {percent:>3}% ETA {eta:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Repeats run in rounds: round r measures repeat r of every cell. On a
    // virtual machine the host may move the two vCPUs closer or further apart
    // at any moment; interleaving spreads such a change over all transports
    // instead of making the ones measured after it look slower.
    let mut sessions: Vec<Vec<session::Session>> = cells.iter().map(|_| Vec::new()).collect();
    let mut errors: Vec<Option<String>> = cells.iter().map(|_| None).collect();
    // A cell leaves the rounds once it is stuck (a stuck hand-off will be stuck
    // again: don't pay the time bound once per repeat) or failed.
    let mut active: Vec<bool> = cells.iter().map(|c| c.skip.is_none()).collect();
    let order = round_order(&cells);
    'rounds: for _ in 0..plan.repeats {
        for &index in &order {
            let c = &cells[index];
            if stop::interrupted() {
                break 'rounds;
            }
            if !active[index] {
                continue;
            }
            bar.set_message(format!(
                "{} {} {} B {}",
                c.transport.name(),
                c.kind,
                c.size,
                c.pair
            ));
            let params = CellParams {
                kind: c.kind,
                size: c.size,
                name_prefix: format!("{run_id}-c{index}"),
            };
            match session::run(c.transport, &params, c.pair, plan.timing, plan.verify) {
                Ok(s) => {
                    active[index] = !s.expired;
                    sessions[index].push(s);
                }
                Err(e) => {
                    errors[index] = Some(format!("{e:#}"));
                    active[index] = false;
                }
            }
            bar.inc((plan.cell_estimate(c) / plan.repeats).as_millis() as u64);
        }
    }
    for ((c, sessions), error) in cells.iter().zip(&sessions).zip(errors) {
        if let Some(reason) = &c.skip {
            file.cells.push(cells::skipped(c, reason.clone()));
            continue;
        }
        if sessions.is_empty() && error.is_none() {
            // Never reached (Ctrl-C in the first round): not part of the result.
            continue;
        }
        let mut cell = cells::assemble(c, sessions, plan.verify, error);
        if stop::interrupted()
            && cell.status == Status::Ok
            && sessions.len() < plan.repeats as usize
        {
            cell.status = Status::Failed {
                error: "interrupted by Ctrl-C".into(),
            };
        }
        if cell.status != Status::Ok {
            bar.println(format!(
                "  {} {} {} B {}: {}",
                c.transport.name(),
                c.kind,
                c.size,
                c.pair,
                cell.status
            ));
        }
        file.cells.push(cell);
    }
    bar.finish_and_clear();
    affinity::restore(&original_affinity)?;
    Ok(())
}
