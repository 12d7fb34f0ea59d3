//! The machine profile a run implies: what mempipe connections read to pick a
//! hybrid spin budget, a ring size and whether spinning pays off here (see
//! `mempipe::conn::MachineProfile` for the file and its format).
//!
//! * `wake_cost_ns`: median over cross-core pairs of `mempipe-futex`'s one-way
//!   p50 at the smallest latency size, less `mempipe-spin`'s on the same pair
//!   when measured (the price of a blocking wake over a spinning hand-off).
//! * `stream_peak_ring_bytes`: the ring size ipcbench used at the message size
//!   where the best mempipe streaming variant peaked, cross-core.
//! * `spin_viable`: false with a single logical CPU; otherwise whether
//!   `mempipe-spin` beat `mempipe-futex` on the median cross-core pair.
//!
//! `ipcbench profile` prints it and the run's advice says what it changes.

use crate::results::query::{Class, Metric};
use crate::results::{Cell, Kind, ResultFile};
use crate::units::civil_utc;
use mempipe::conn::MachineProfile;
use std::time::Duration;

/// The upper median: with an even count, the larger middle value (a tie between pairs where
/// spinning won and pairs where it lost counts as a win).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn cross_cells<'f>(
    f: &'f ResultFile,
    transport: &'f str,
    kind: Kind,
) -> impl Iterator<Item = &'f Cell> + 'f {
    f.cells
        .iter()
        .filter(move |c| c.transport == transport && c.kind == kind && Class::Cross.holds(c.pair))
}

/// The profile `f`'s cells imply; fields without the cells they need stay empty.
pub(crate) fn from_results(f: &ResultFile) -> MachineProfile {
    let size = f
        .cells
        .iter()
        .filter(|c| c.kind == Kind::Latency && c.transport == "mempipe-futex")
        .map(|c| c.size_bytes)
        .min();
    let one_way = |transport: &str, pair| {
        cross_cells(f, transport, Kind::Latency)
            .filter(|c| Some(c.size_bytes) == size && c.pair == pair)
            .find_map(|c| Metric::OneWayP50.of(c))
    };
    let mut wake = Vec::new();
    let mut spin_wins = Vec::new();
    for c in cross_cells(f, "mempipe-futex", Kind::Latency) {
        if Some(c.size_bytes) != size {
            continue;
        }
        let Some(futex) = Metric::OneWayP50.of(c) else {
            continue;
        };
        let spin = one_way("mempipe-spin", c.pair);
        wake.push((futex - spin.unwrap_or(0.0)).max(0.0));
        if let Some(spin) = spin {
            spin_wins.push(if spin < futex { 1.0 } else { 0.0 });
        }
    }
    let mut best: Option<(f64, u64)> = None;
    for name in [
        "mempipe-spin",
        "mempipe-hybrid",
        "mempipe-futex",
        "mempipe-eventfd",
    ] {
        for c in cross_cells(f, name, Kind::Throughput) {
            if let Some(rate) = Metric::BytesPerSec.of(c) {
                if best.is_none_or(|(b, _)| rate > b) {
                    best = Some((rate, c.size_bytes));
                }
            }
        }
    }
    let (y, m, d, _) = civil_utc(f.created_unix_s);
    MachineProfile {
        wake_cost: median(wake).map(|ns| Duration::from_nanos(ns as u64)),
        stream_peak_ring: best
            .map(|(_, size)| crate::capacity::ring_capacity(size as usize))
            .filter(|r| r.is_power_of_two()),
        spin_viable: if f.machine.logical_cpus < 2 {
            Some(false)
        } else {
            median(spin_wins).map(|w| w >= 1.0)
        },
        measured: Some(format!(
            "ipcbench run of {y:04}-{m:02}-{d:02} on {} ({} logical CPUs)",
            f.machine.cpu_model, f.machine.logical_cpus
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::{file, lat, thr};

    #[test]
    fn wake_cost_peak_ring_and_spin_come_from_the_cells() {
        let f = file(
            &[0, 1],
            vec![
                lat("mempipe-futex", 8, (0, 1), 3000.0),
                lat("mempipe-spin", 8, (0, 1), 200.0),
                lat("mempipe-futex", 8, (0, 0), 900.0), // same core: not counted
                thr("mempipe-spin", 4096, (0, 1), 5e9),
                thr("mempipe-spin", 65536, (0, 1), 9e9),
            ],
        );
        let p = from_results(&f);
        assert_eq!(p.wake_cost, Some(Duration::from_nanos(2800)));
        assert_eq!(
            p.stream_peak_ring,
            Some(crate::capacity::ring_capacity(65536))
        );
        assert_eq!(p.spin_viable, Some(true));
        assert!(p.measured.unwrap().contains("Test CPU"));
        let text = from_results(&file(&[0], vec![])).to_text();
        let empty = MachineProfile::parse(&text).unwrap();
        assert_eq!((empty.wake_cost, empty.spin_viable), (None, Some(false)));
    }
}
