//! What a run will measure: the transports, kinds, sizes and core pairs the command line asks
//! for, resolved against the machine; the cells they make, the order of a round and the time
//! it will take. `run` executes a plan.

use crate::cli::{PairsArg, RunArgs};
use crate::results::{CorePair, Kind, Machine, Params};
use crate::topology;
use crate::transport::{self, Transport};
use anyhow::bail;
use std::time::Duration;

/// Default sizes; 8 B is the headline latency size.
pub(crate) const LATENCY_SIZES: [usize; 3] = [8, 64, 4096];
pub(crate) const THROUGHPUT_SIZES: [usize; 4] = [64, 4096, 64 << 10, 1 << 20];
/// Fixed cost of one session (create, spawn + exec, attach, reap), for the
/// estimate only.
const SESSION_OVERHEAD: Duration = Duration::from_millis(15);

/// Extra time per session of a spinning transport on a shared CPU.
const SPIN_SAME_CPU_EXTRA: Duration = Duration::from_millis(16);

/// Timing of one repeat.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// The resolved suite.
pub(crate) struct Plan {
    pub(crate) transports: Vec<&'static dyn Transport>,
    pub(crate) kinds: Vec<Kind>,
    pub(crate) latency_sizes: Vec<usize>,
    pub(crate) throughput_sizes: Vec<usize>,
    pub(crate) pairs: Vec<CorePair>,
    pub(crate) timing: Timing,
    pub(crate) repeats: u32,
    pub(crate) verify: bool,
    /// Why these pairs (printed at the start).
    pub(crate) pairs_note: String,
}

/// A cell that will run (or be skipped for a reason).
pub(crate) struct PlannedCell {
    pub(crate) transport: &'static dyn Transport,
    pub(crate) kind: Kind,
    pub(crate) size: usize,
    pub(crate) pair: CorePair,
    pub(crate) skip: Option<String>,
}

impl Plan {
    pub(crate) fn resolve(args: &RunArgs, machine: &Machine) -> anyhow::Result<Plan> {
        let q = args.quick;
        let transports = if args.transports.is_empty() || args.transports.iter().any(|t| t == "all")
        {
            transport::registry()
        } else {
            let mut v: Vec<&'static dyn Transport> = Vec::new();
            for t in args.transports.iter().filter_map(|n| transport::find(n)) {
                if !v.iter().any(|x| x.name() == t.name()) {
                    v.push(t);
                }
            }
            v
        };
        let kinds = match args.kind.as_str() {
            "latency" => vec![Kind::Latency],
            "throughput" => vec![Kind::Throughput],
            _ => vec![Kind::Latency, Kind::Throughput],
        };
        let latency_sizes = match &args.latency_sizes {
            Some(l) => l.0.clone(),
            None if q => vec![8],
            None => LATENCY_SIZES.to_vec(),
        };
        let throughput_sizes = match &args.throughput_sizes {
            Some(l) => l.0.clone(),
            None if q => vec![4096],
            None => THROUGHPUT_SIZES.to_vec(),
        };
        let ms = |v: Option<u64>, quick: u64, normal: u64| {
            Duration::from_millis(v.unwrap_or(if q { quick } else { normal }))
        };
        let timing = Timing {
            warmup: ms(args.warmup_ms, 2, 10),
            duration: ms(args.duration_ms, 10, 60),
        };
        let repeats = args.repeats.unwrap_or(if q { 1 } else { 3 });
        let online = machine.online_cpus();
        let to_pairs = |v: Vec<(usize, usize)>| {
            v.into_iter()
                .map(|(a, b)| CorePair { a, b })
                .collect::<Vec<_>>()
        };
        let full = to_pairs(topology::full_matrix(&machine.topology));
        let repr = to_pairs(
            topology::representative_pairs(&machine.topology)
                .into_iter()
                .map(|(a, b, _)| (a, b))
                .collect(),
        );
        let mut plan = Plan {
            transports,
            kinds,
            latency_sizes,
            throughput_sizes,
            pairs: Vec::new(),
            timing,
            repeats,
            verify: args.verify,
            pairs_note: String::new(),
        };
        let pairs_arg = if q && args.pairs == PairsArg::Auto {
            PairsArg::Representative
        } else {
            args.pairs.clone()
        };
        match pairs_arg {
            PairsArg::Full => {
                (plan.pairs, plan.pairs_note) = (full, "full matrix (--pairs full)".into())
            }
            PairsArg::Representative => {
                (plan.pairs, plan.pairs_note) =
                    (repr, "representative pairs from the topology".into())
            }
            PairsArg::List(list) => {
                for p in &list {
                    for cpu in [p.a, p.b] {
                        if !online.contains(&cpu) {
                            bail!(
                                "--pairs {}:{}: cpu {cpu} is not online; online cpus: {}",
                                p.a,
                                p.b,
                                topology::format_cpu_list(online)
                            );
                        }
                    }
                }
                (plan.pairs, plan.pairs_note) = (list, "pairs from --pairs".into());
            }
            PairsArg::Auto => {
                plan.pairs = full;
                let est = plan.estimate();
                if est > Duration::from_secs(args.budget_s) {
                    plan.pairs_note = format!(
                        "representative pairs: the full matrix would take ~{}s, over the {}s budget",
                        est.as_secs(),
                        args.budget_s
                    );
                    plan.pairs = repr;
                } else {
                    plan.pairs_note = format!(
                        "full matrix ({} ordered pairs, fits the {}s budget)",
                        plan.pairs.len(),
                        args.budget_s
                    );
                }
            }
        }
        if plan.pairs.is_empty() {
            bail!(
                "no core pairs to measure (online cpus: {})",
                topology::format_cpu_list(online)
            );
        }
        Ok(plan)
    }

    pub(crate) fn cells(&self) -> Vec<PlannedCell> {
        let mut out = Vec::new();
        for &t in &self.transports {
            for &kind in &self.kinds {
                let sizes = if kind == Kind::Latency {
                    &self.latency_sizes
                } else {
                    &self.throughput_sizes
                };
                for &size in sizes {
                    for &pair in &self.pairs {
                        let skip = (size > t.max_size()).then(|| {
                            format!(
                                "{size} B exceeds the largest {} message ({} B)",
                                t.name(),
                                t.max_size()
                            )
                        });
                        out.push(PlannedCell {
                            transport: t,
                            kind,
                            size,
                            pair,
                            skip,
                        });
                    }
                }
            }
        }
        out
    }

    /// Expected wall time of the whole suite.
    pub(crate) fn estimate(&self) -> Duration {
        self.cells().iter().map(|c| self.cell_estimate(c)).sum()
    }

    /// Expected wall time of one cell, all repeats.
    pub(crate) fn cell_estimate(&self, c: &PlannedCell) -> Duration {
        if c.skip.is_some() {
            return Duration::ZERO;
        }
        let mut per_session = SESSION_OVERHEAD + self.timing.warmup + self.timing.duration;
        // A spinning transport on one CPU pays a few scheduler ticks per
        // session beyond its duration (first hand-offs, LAST, final ack).
        if c.transport.spins() && c.pair.a == c.pair.b {
            per_session += SPIN_SAME_CPU_EXTRA;
        }
        per_session * self.repeats
    }

    pub(crate) fn params(&self) -> Params {
        Params {
            latency_sizes_bytes: self.latency_sizes.iter().map(|&s| s as u64).collect(),
            throughput_sizes_bytes: self.throughput_sizes.iter().map(|&s| s as u64).collect(),
            warmup_ms: self.timing.warmup.as_millis() as u64,
            duration_ms: self.timing.duration.as_millis() as u64,
            repeats: self.repeats,
            pairs: self.pairs.clone(),
            transports: self
                .transports
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
            verify: self.verify,
            numa_placement: None,
        }
    }
}

/// The order of the cells within each round: grouped by (kind, size, pair) so
/// that a transport and the bound it is compared with are measured seconds
/// apart under the same conditions, the bound first in each group; otherwise
/// the plan's order. Repeat `r` of every cell then comes from round `r`.
pub(crate) fn round_order(cells: &[PlannedCell]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cells.len()).collect();
    order.sort_by_key(|&i| {
        let c = &cells[i];
        (c.kind, c.size, c.pair, c.transport.name() != "limit", i)
    });
    order
}

#[cfg(test)]
mod tests {
    use super::{round_order, PlannedCell};
    use crate::results::{CorePair, Kind};
    use crate::transport;

    #[test]
    fn a_round_runs_each_size_and_pair_back_to_back_with_the_bound_first() {
        let t = |n| transport::find(n).unwrap();
        let mut cells = Vec::new();
        for name in ["mempipe-spin", "pipe", "limit"] {
            for size in [8, 4096] {
                for (a, b) in [(0, 1), (1, 0)] {
                    cells.push(PlannedCell {
                        transport: t(name),
                        kind: Kind::Latency,
                        size,
                        pair: CorePair { a, b },
                        skip: None,
                    });
                }
            }
        }
        let order: Vec<(&str, usize, usize)> = round_order(&cells)
            .into_iter()
            .map(|i| (cells[i].transport.name(), cells[i].size, cells[i].pair.a))
            .collect();
        assert_eq!(
            &order[..6],
            &[
                ("limit", 8, 0),
                ("mempipe-spin", 8, 0),
                ("pipe", 8, 0),
                ("limit", 8, 1),
                ("mempipe-spin", 8, 1),
                ("pipe", 8, 1),
            ]
        );
        assert_eq!(order.len(), cells.len());
    }
}
