//! Verdicts on small result files built in code (the builders serve the profile tests too).

use super::{evaluate, render, Goal, Line, Verdict};
use crate::results::{
    Cell, CorePair, Kind, LatencyStats, Params, Percentiles, ResultFile, Status, ThroughputStats,
    Tool,
};
use crate::topology::Topology;

pub(crate) fn file(cpus: &[usize], cells: Vec<Cell>) -> ResultFile {
    let mut pairs: Vec<CorePair> = cells.iter().map(|c| c.pair).collect();
    pairs.sort_unstable();
    pairs.dedup();
    ResultFile {
        schema_version: crate::results::SCHEMA_VERSION,
        tool: Tool::current(),
        created_unix_s: 1_795_498_345,
        machine: crate::results::Machine {
            hostname: "test".into(),
            cpu_model: "Test CPU".into(),
            sockets: 1,
            physical_cores: cpus.len(),
            logical_cpus: cpus.len(),
            smt: false,
            kernel_release: "6.0".into(),
            virtualization: Some("kvm".into()),
            clocksource: None,
            load_avg: None,
            topology: Topology {
                online: cpus.to_vec(),
                ..Topology::default()
            },
        },
        params: Params {
            latency_sizes_bytes: vec![8],
            throughput_sizes_bytes: vec![64],
            warmup_ms: 1,
            duration_ms: 1,
            repeats: 1,
            pairs,
            transports: Vec::new(),
            verify: false,
            numa_placement: None,
        },
        cells,
        rpc: None,
    }
}

/// An OK latency cell: RTT p50 = 2 x one-way, p99.9 = 3 x RTT p50.
pub(crate) fn lat(transport: &str, size: u64, (a, b): (usize, usize), one_way_ns: f64) -> Cell {
    let rtt = (2.0 * one_way_ns) as u64;
    Cell {
        transport: transport.into(),
        kind: Kind::Latency,
        size_bytes: size,
        pair: CorePair { a, b },
        status: Status::Ok,
        latency: Some(LatencyStats {
            samples: 1000,
            rtt_ns: Percentiles {
                p50: rtt,
                p999: 3 * rtt,
                ..Percentiles::default()
            },
            one_way_p50_ns: one_way_ns,
            ..LatencyStats::default()
        }),
        throughput: None,
        ring_pages: None,
    }
}

pub(crate) fn thr(transport: &str, size: u64, (a, b): (usize, usize), bytes_per_sec: f64) -> Cell {
    Cell {
        transport: transport.into(),
        kind: Kind::Throughput,
        size_bytes: size,
        pair: CorePair { a, b },
        status: Status::Ok,
        latency: None,
        throughput: Some(ThroughputStats {
            bytes_per_sec,
            msgs_per_sec: bytes_per_sec / size as f64,
            ..ThroughputStats::default()
        }),
        ring_pages: None,
    }
}

/// The line of target `id` whose title contains `what`.
fn find<'a>(lines: &'a [Line], id: &str, what: &str) -> &'a Line {
    lines
        .iter()
        .find(|l| l.id == id && l.target.contains(what))
        .unwrap_or_else(|| panic!("no line {id} '{what}' in {lines:#?}"))
}

fn missing(l: &Line) -> &str {
    match &l.verdict {
        Verdict::NotMeasured { missing } => missing,
        v => panic!("{} should be NOT MEASURED, is {v:?}", l.target),
    }
}

#[test]
fn spin_within_the_factor_of_limit_passes_and_beyond_it_is_short_by_the_excess() {
    let pass = file(
        &[0, 1],
        vec![
            lat("limit", 8, (0, 1), 70.0),
            lat("mempipe-spin", 8, (0, 1), 75.0),
        ],
    );
    let l = evaluate(&pass);
    let t1 = find(&l, "1", "mempipe-spin / limit");
    assert_eq!(t1.verdict, Verdict::Pass);
    assert_eq!(t1.pairs, vec![CorePair { a: 0, b: 1 }]);
    assert!((t1.ratio.unwrap() - 75.0 / 70.0).abs() < 1e-9);

    let short = file(
        &[0, 1],
        vec![
            lat("limit", 8, (0, 1), 70.0),
            lat("mempipe-spin", 8, (0, 1), 100.0),
        ],
    );
    let l = evaluate(&short);
    let t1 = find(&l, "1", "mempipe-spin / limit");
    let Verdict::Short { by } = t1.verdict else {
        panic!("{t1:?}")
    };
    // 100/70 = 1.43 against 1.15: 24% over.
    assert!((by - (100.0 / 70.0 / 1.15 - 1.0)).abs() < 1e-9);
    assert_eq!(render::verdict_text(&t1.verdict), "SHORT by 24%");
}

#[test]
fn the_verdict_is_on_the_median_over_pairs_with_the_range_beside_it() {
    // Ratios 1.0, 1.1 and 2.0 on three cross-core pairs: one bad pair does not decide.
    let cells = vec![
        lat("limit", 8, (0, 1), 100.0),
        lat("mempipe-spin", 8, (0, 1), 100.0),
        lat("limit", 8, (1, 2), 100.0),
        lat("mempipe-spin", 8, (1, 2), 110.0),
        lat("limit", 8, (2, 0), 100.0),
        lat("mempipe-spin", 8, (2, 0), 200.0),
        // A pair with one side only is left out, and said so.
        lat("mempipe-spin", 8, (0, 2), 50.0),
        // Same-core cells do not count for a cross-core target.
        lat("limit", 8, (0, 0), 1.0),
        lat("mempipe-spin", 8, (0, 0), 1000.0),
    ];
    let l = evaluate(&file(&[0, 1, 2], cells));
    let t1 = find(&l, "1", "mempipe-spin / limit");
    assert_eq!(t1.verdict, Verdict::Pass);
    assert!((t1.ratio.unwrap() - 1.1).abs() < 1e-9);
    assert_eq!((t1.ratio_min, t1.ratio_max), (Some(1.0), Some(2.0)));
    assert_eq!(t1.pairs.len(), 3);
    assert!(!t1.pairs.contains(&CorePair { a: 0, b: 2 }));
    assert!(
        t1.notes.iter().any(|n| n.contains("0->2 left out")),
        "{t1:?}"
    );
    assert_eq!(render::ratio_text(t1), "1.10x (1.00-2.00)");
}

#[test]
fn an_absent_transport_is_not_measured_with_the_flags_that_would_measure_it() {
    let f = file(&[0, 1], vec![lat("mempipe-spin", 8, (0, 1), 100.0)]);
    let l = evaluate(&f);
    let m = missing(find(&l, "2", "8 B"));
    for needle in [
        "iceoryx2-poll not in the file",
        "-t mempipe-spin,iceoryx2-poll",
        "--latency-sizes 8",
        "--features peers",
    ] {
        assert!(m.contains(needle), "{needle:?} not in {m}");
    }
    // A size the file lacks is named too.
    assert!(missing(find(&l, "2", "64 KiB")).contains("no latency cells at 64 KiB"));
    // A kind of pair the file lacks: same-core targets ask for a same-core pair.
    assert!(missing(find(&l, "3b", "same core")).contains("--pairs 0:0"));
    // No throughput cells at all; the goal is still shown.
    let t7 = find(&l, "7", "same core / cross-core");
    assert!(missing(t7).contains("no throughput cells"));
    assert!(
        missing(t7).contains("--pairs 0:0,0:1,1:0"),
        "both kinds of pair"
    );
    assert_eq!(t7.goal_text, ">= 0.5x");
}

#[test]
fn timed_out_cells_do_not_count_for_ratios() {
    let mut limit = lat("limit", 8, (0, 1), 4e6);
    limit.status = Status::TimedOut;
    let f = file(&[0, 1], vec![limit, lat("mempipe-spin", 8, (0, 1), 100.0)]);
    let l = evaluate(&f);
    let m = missing(find(&l, "1", "mempipe-spin / limit"));
    assert!(m.contains("limit 0->1 timed_out"), "{m}");
}

#[test]
fn hybrid_same_core_is_compared_with_the_best_kernel_transport_on_that_core() {
    let f = file(
        &[0, 1],
        vec![
            lat("mempipe-hybrid", 8, (0, 0), 2600.0),
            lat("pipe", 8, (0, 0), 2500.0),
            lat("eventfd", 8, (0, 0), 2000.0),
            lat("tcp", 8, (0, 0), 7000.0),
        ],
    );
    let l = evaluate(&f);
    let t = find(&l, "3b", "best kernel");
    assert!((t.ratio.unwrap() - 1.3).abs() < 1e-9);
    assert!(matches!(t.verdict, Verdict::Short { .. }));
    assert!(
        t.notes.iter().any(|n| n.contains("eventfd on 0->0")),
        "{t:?}"
    );
}

#[test]
fn the_hybrid_tail_bound_names_the_worst_cell_timed_out_ones_included() {
    let mut slow = lat("mempipe-hybrid", 64, (1, 1), 1e6);
    slow.status = Status::TimedOut;
    let f = file(&[0, 1], vec![lat("mempipe-hybrid", 8, (0, 1), 100.0), slow]);
    let l = evaluate(&f);
    let t = find(&l, "3c", "every latency cell");
    // p99.9 = 3 x RTT p50 = 6 ms against 1 ms.
    assert_eq!(t.goal, Goal::Below(1.0));
    assert!(matches!(t.verdict, Verdict::Short { .. }), "{t:?}");
    assert!(t.notes[0].contains("64 B on 1->1 (timed_out)"), "{t:?}");
}

#[test]
fn throughput_targets_take_the_best_reserve_variant_and_cover_every_size() {
    let f = file(
        &[0, 1],
        vec![
            thr("mempipe-spin", 64, (0, 1), 1.0e9),
            thr("mempipe-spin-zc", 64, (0, 1), 1.2e9),
            // `-send` copies in: not a reserve variant, however fast.
            thr("mempipe-spin-send", 64, (0, 1), 9.0e9),
            thr("unix-stream", 64, (0, 1), 0.05e9),
            thr("limit", 64, (0, 1), 1.0e9),
            thr("mempipe-spin", 4096, (0, 1), 7.0e9),
            thr("limit", 4096, (0, 1), 8.0e9),
        ],
    );
    let l = evaluate(&f);
    let vs_unix = find(&l, "6a", "unix-stream");
    assert!((vs_unix.ratio.unwrap() - 24.0).abs() < 1e-9);
    assert_eq!(vs_unix.verdict, Verdict::Pass);
    let abs = find(&l, "6a", "msg/s");
    assert!((abs.ratio.unwrap() - 1.2e9 / 64.0 / 40e6).abs() < 1e-9);
    assert!(abs.goal_text.contains("abs"), "{abs:?}");
    let per_size: Vec<&Line> = l
        .iter()
        .filter(|x| x.id == "6c" && x.target.contains("/ limit"))
        .collect();
    assert_eq!(per_size.len(), 2, "one line per throughput size");
    assert!(
        per_size[1].target.contains("4 KiB")
            && per_size[1].verdict
                == Verdict::Short {
                    by: 1.0 - 7.0 / 8.0 / 0.9
                }
    );
    assert_eq!(find(&l, "6c", "64 B, cross-core").goal, Goal::AtLeast(0.9));
    assert!(l.iter().any(|x| x.id == "6c" && x.verdict == Verdict::Info));
}

#[test]
fn text_and_json_name_the_machine_and_every_verdict() {
    let f = file(
        &[0, 1],
        vec![
            lat("limit", 8, (0, 1), 70.0),
            lat("mempipe-spin", 8, (0, 1), 100.0),
        ],
    );
    let lines = evaluate(&f);
    let text = render::text(std::path::Path::new("x.json"), &f, &lines);
    let first = text.lines().next().unwrap();
    for needle in [
        "x.json",
        "Test CPU",
        "2 cores",
        "kvm",
        "2026-11-24",
        "git commit",
    ] {
        assert!(first.contains(needle), "{needle:?} not in {first}");
    }
    for needle in [
        "SHORT by 24%",
        "NOT MEASURED",
        "NOT IN FILE",
        "count-syscalls.sh",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let json = serde_json::to_value(&lines).unwrap();
    let t1 = &json[0];
    assert_eq!(t1["verdict"]["state"], "short");
    assert_eq!(t1["goal"]["at_most"], 1.15);
    assert_eq!(t1["pairs"][0]["b"], 1);
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["verdict"]["state"] == "not_measured"));
}

/// A latency cell with one RTT p50 per round (the one-way figures given are halved RTTs).
fn lat_rounds(transport: &str, (a, b): (usize, usize), one_way_ns: &[f64]) -> Cell {
    let mut c = lat(transport, 8, (a, b), one_way_ns[0]);
    let l = c.latency.as_mut().unwrap();
    l.repeats_p50_ns = one_way_ns.iter().map(|v| 2.0 * v).collect();
    c
}

#[test]
fn ratios_are_paired_by_round_and_a_round_with_an_outlying_bound_is_flagged() {
    // Round 2's limit is 5x slower: comparing medians of each side would say 1.57x
    // (110 / 70); per round it is 2.0x, 2.0x and (left out) 0.41x.
    let cells = vec![
        lat_rounds("limit", (0, 1), &[55.0, 265.0, 55.0]),
        lat_rounds("mempipe-spin", (0, 1), &[110.0, 110.0, 110.0]),
    ];
    let l = evaluate(&file(&[0, 1], cells));
    let t1 = find(&l, "1", "mempipe-spin / limit");
    assert!((t1.ratio.unwrap() - 2.0).abs() < 1e-9, "{t1:?}");
    assert!(
        t1.notes
            .iter()
            .any(|n| n.contains("0->1: round 2 flagged") && n.contains("limit")),
        "{t1:?}"
    );
    assert_eq!(render::ratio_text(t1), "2.00x");
    assert_eq!(
        t1.flagged_rounds,
        vec![super::FlaggedRound {
            pair: CorePair { a: 0, b: 1 },
            round: 2
        }]
    );

    // Bound and subject moving together in the same round give the same ratio.
    let cells = vec![
        lat_rounds("limit", (0, 1), &[100.0, 110.0, 120.0]),
        lat_rounds("mempipe-spin", (0, 1), &[105.0, 115.5, 126.0]),
    ];
    let l = evaluate(&file(&[0, 1], cells));
    let t1 = find(&l, "1", "mempipe-spin / limit");
    assert!((t1.ratio.unwrap() - 1.05).abs() < 1e-9);
    assert_eq!(render::ratio_text(t1), "1.05x");
}
