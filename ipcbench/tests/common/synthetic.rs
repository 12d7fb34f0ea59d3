//! Synthetic result files for tests and for the example report (docs/report-example.png).
//!
//! Numbers are modelled on figures measured on a 2-vCPU KVM guest on AMD EPYC scaled by
//! core-pair relation, with deterministic jitter, so the example report looks like a real one.

use std::path::Path;

use crate::machine::Machine;
use crate::results::{
    Cell, CorePair, Kind, LatencyStats, Params, Percentiles, ResultFile, Status, ThroughputStats,
    Tool,
};
use crate::topology::{CacheInstance, CpuTopology, NumaNode, Relation, Topology};

/// Tiny deterministic PRNG (xorshift) so fixtures are stable without a rand dependency.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A factor in [1 - r, 1 + r].
    fn around(&mut self, r: f64) -> f64 {
        1.0 + r * (2.0 * self.next() - 1.0)
    }
}

/// A 2-CPU KVM guest like this project's machine.
pub fn two_cpu_machine() -> Machine {
    let cpu = |c: usize| CpuTopology {
        cpu: c,
        package: 0,
        die: 0,
        core_id: c as i64,
        core_cpus: vec![c],
        cluster_cpus: Some(vec![c]),
        node: Some(0),
    };
    let mut caches = Vec::new();
    for c in 0..2 {
        for (level, ty, size) in [
            (1, "Data", 32),
            (1, "Instruction", 32),
            (2, "Unified", 1024),
        ] {
            caches.push(CacheInstance {
                level,
                cache_type: ty.into(),
                size_bytes: size * 1024,
                cpus: vec![c],
            });
        }
    }
    caches.push(CacheInstance {
        level: 3,
        cache_type: "Unified".into(),
        size_bytes: 32 << 20,
        cpus: vec![0, 1],
    });
    let topology = Topology {
        online: vec![0, 1],
        cpus: vec![cpu(0), cpu(1)],
        caches,
        nodes: vec![NumaNode {
            id: 0,
            cpus: vec![0, 1],
            distances: vec![10],
        }],
        warnings: vec![],
    };
    machine_from(topology, "vm", "AMD EPYC", Some("kvm"))
}

fn machine_from(topology: Topology, host: &str, model: &str, virt: Option<&str>) -> Machine {
    Machine {
        hostname: host.into(),
        cpu_model: model.into(),
        sockets: topology.packages(),
        physical_cores: topology.physical_cores(),
        logical_cpus: topology.online.len(),
        smt: topology.smt(),
        kernel_release: "6.18.44".into(),
        virtualization: virt.map(str::to_string),
        clocksource: Some("tsc".into()),
        load_avg: None,
        topology,
    }
}

/// Modelled one-way latency (ns) of `transport` for a pair `rel` apart; `None` = times out.
fn one_way_ns(transport: &str, rel: Relation, size: u64) -> Option<f64> {
    let hop = match rel {
        Relation::SameCpu => 0.0,
        Relation::SmtSibling => 25.0,
        Relation::SameL2 | Relation::SameLlc => 60.0,
        Relation::OtherLlc => 110.0,
        Relation::OtherPackage | Relation::OtherNode => 180.0,
    };
    let copy = size as f64 / 20.0; // ~20 B/ns across cores
    let spin = rel != Relation::SameCpu;
    let v = match transport {
        "limit" if spin => hop + copy * 0.5,
        "mempipe-spin" if spin => hop * 1.3 + 10.0 + copy,
        "mempipe-futex" if spin => hop * 1.4 + 15.0 + copy,
        "mempipe-futex" => 2300.0 + copy,
        "futex" if spin => 24_000.0 + hop * 4.0,
        "futex" => 2200.0,
        "pipe" if spin => 23_500.0 + hop * 4.0 + copy,
        "pipe" => 2400.0 + copy,
        "unix-stream" if spin => 21_600.0 + hop * 4.0 + copy,
        "unix-stream" => 4560.0 + copy,
        "eventfd" if spin => 22_700.0 + hop * 4.0,
        "eventfd" => 2170.0,
        _ => return None,
    };
    Some(v)
}

/// Modelled streaming throughput (bytes/s).
fn bytes_per_sec(transport: &str, rel: Relation, size: u64) -> Option<f64> {
    let s = size as f64;
    let penalty = match rel {
        Relation::SameCpu => 0.5,
        Relation::SmtSibling => 1.1,
        Relation::SameL2 | Relation::SameLlc => 1.0,
        Relation::OtherLlc => 0.8,
        Relation::OtherPackage | Relation::OtherNode => 0.6,
    };
    let per_msg_ns = match transport {
        "limit" | "mempipe-spin" | "mempipe-futex" => 20.0 + s / 30.0,
        "pipe" => 350.0 + s / 5.0,
        "unix-stream" => 900.0 + s / 6.5,
        "futex" | "eventfd" => return None,
        _ => 1000.0 + s,
    };
    Some(s / per_msg_ns * 1e9 * penalty)
}

/// Percentile curve: 50 points from p0 to p99.99, tail growing by `tail` per nine.
fn curve(p50_rtt: f64, tail: f64) -> Vec<(f64, u64)> {
    (0..50)
        .map(|i| {
            let nines = 4.0 * i as f64 / 49.0;
            let p = 100.0 * (1.0 - 10f64.powf(-nines));
            let v = p50_rtt * (0.85 + 0.15 * nines) * tail.powf((nines - 0.3).max(0.0));
            (p, v.max(1.0) as u64)
        })
        .collect()
}

fn latency_cell(t: &str, rel: Relation, size: u64, pair: CorePair, j: &mut Jitter) -> Cell {
    let mut cell = Cell {
        transport: t.into(),
        kind: Kind::Latency,
        size_bytes: size,
        pair,
        status: Status::TimedOut,
        latency: None,
        throughput: None,
        ring_pages: None,
    };
    if let Some(ow) = one_way_ns(t, rel, size) {
        let p50 = (2.0 * ow * j.around(0.08)).round();
        let tail = if ow > 5000.0 { 1.4 } else { 1.25 };
        let distribution = curve(p50, tail);
        let at = |q: f64| {
            distribution
                .iter()
                .find(|(p, _)| *p >= q)
                .map_or(p50 as u64, |x| x.1)
        };
        cell.status = Status::Ok;
        cell.latency = Some(LatencyStats {
            samples: 100_000,
            rtt_ns: Percentiles {
                min: (p50 * 0.8) as u64,
                p50: p50 as u64,
                p90: at(90.0),
                p99: at(99.0),
                p999: at(99.9),
                max: at(99.99) * 3,
                mean: p50 * 1.05,
            },
            one_way_p50_ns: p50 / 2.0,
            repeats_p50_ns: (0..3).map(|_| p50 * j.around(0.05)).collect(),
            distribution,
        });
    }
    cell
}

fn throughput_cell(t: &str, rel: Relation, size: u64, pair: CorePair, j: &mut Jitter) -> Cell {
    let mut cell = Cell {
        transport: t.into(),
        kind: Kind::Throughput,
        size_bytes: size,
        pair,
        status: Status::Skipped {
            reason: format!("{t} has no streaming mode"),
        },
        latency: None,
        throughput: None,
        ring_pages: None,
    };
    let spin = matches!(t, "limit" | "mempipe-spin");
    if spin && rel == Relation::SameCpu {
        cell.status = Status::TimedOut;
    } else if let Some(bps) = bytes_per_sec(t, rel, size) {
        let bps = bps * j.around(0.1);
        let seconds = 3.0;
        let bytes = (bps * seconds) as u64;
        cell.status = Status::Ok;
        cell.throughput = Some(ThroughputStats {
            messages: bytes / size.max(1),
            bytes,
            seconds,
            msgs_per_sec: bps / size.max(1) as f64,
            bytes_per_sec: bps,
            repeats_bytes_per_sec: (0..3).map(|_| bps * j.around(0.05)).collect(),
            verified: true,
        });
    }
    cell
}

fn build(
    machine: Machine,
    transports: &[&str],
    lat_sizes: &[u64],
    tp_sizes: &[u64],
    pairs: Vec<CorePair>,
) -> ResultFile {
    let mut j = Jitter(0x9E37_79B9_7F4A_7C15);
    let mut cells = Vec::new();
    for t in transports {
        for &size in lat_sizes {
            for &p in &pairs {
                let rel = machine.topology.relation(p.a, p.b);
                cells.push(latency_cell(t, rel, size, p, &mut j));
            }
        }
        for &size in tp_sizes {
            for &p in &pairs {
                let rel = machine.topology.relation(p.a, p.b);
                cells.push(throughput_cell(t, rel, size, p, &mut j));
            }
        }
    }
    ResultFile {
        schema_version: crate::results::SCHEMA_VERSION,
        tool: Tool {
            name: "ipcbench".into(),
            version: "0.1.0".into(),
            git_commit: Some("0123456789abcdef".into()),
        },
        created_unix_s: 1_767_225_600,
        machine,
        params: Params {
            latency_sizes_bytes: lat_sizes.to_vec(),
            throughput_sizes_bytes: tp_sizes.to_vec(),
            warmup_ms: 200,
            duration_ms: 1000,
            repeats: 3,
            pairs,
            transports: transports.iter().map(|s| s.to_string()).collect(),
            verify: true,
            numa_placement: None,
        },
        cells,
        rpc: None,
    }
}

fn all_pairs(cpus: &[usize]) -> Vec<CorePair> {
    cpus.iter()
        .flat_map(|&a| cpus.iter().map(move |&b| CorePair { a, b }))
        .collect()
}

/// 2 transports x 2 sizes x 4 pairs (latency and throughput) on a 2-CPU guest, one timed-out cell
/// per spinning same-CPU pair.
pub fn small() -> ResultFile {
    build(
        two_cpu_machine(),
        &["mempipe-spin", "pipe"],
        &[8, 4096],
        &[64, 65536],
        all_pairs(&[0, 1]),
    )
}

/// A richer file for the example report: the 2-socket SMT fixture, 8 of its CPUs (covering every
/// relation it has), six transports.
pub fn rich(fixtures: &Path) -> ResultFile {
    let topology = Topology::from_sysfs(&fixtures.join("sysfs/two_socket_smt")).expect("fixture");
    let machine = machine_from(
        topology,
        "db-host-2s",
        "Intel(R) Xeon(R) Gold 6134 CPU @ 3.20GHz",
        None,
    );
    build(
        machine,
        &[
            "limit",
            "mempipe-spin",
            "mempipe-futex",
            "futex",
            "eventfd",
            "pipe",
            "unix-stream",
        ],
        &[8, 4096],
        &[64, 1024, 16384, 262_144, 1 << 20],
        all_pairs(&[0, 1, 2, 4, 5, 8, 9, 12]),
    )
}
