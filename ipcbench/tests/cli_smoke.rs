//! Runs the real binary: tiny runs of two transports, `list`, `report`, and
//! the named errors for bad arguments. Never asserts on timings.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ipcbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipcbench"))
        .args(args)
        .output()
        .expect("run ipcbench")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect()
}

fn run_tiny(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = dir.to_str().unwrap();
    let mut args = vec![
        "run",
        "--quick",
        "--duration-ms",
        "5",
        "--warmup-ms",
        "1",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    let o = ipcbench(&args);
    assert!(o.status.success(), "exit {:?}\n{}", o.status, stderr(&o));
    // Every run ends with the advice.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("On this machine"), "{stdout}");
    assert!(
        stdout.contains("`ipcbench profile --install` will make mempipe connections choose"),
        "{stdout}"
    );
    let files = json_files(dir);
    assert_eq!(files.len(), 1, "one result file expected: {files:?}");
    assert!(files[0].with_extension("html").exists() && files[0].with_extension("csv").exists());
    serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()
}

#[test]
fn quick_run_of_two_transports_writes_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let v = run_tiny(dir.path(), &["--transports", "pipe,limit"]);
    let pairs = v["params"]["pairs"].as_array().unwrap().len();
    assert!(pairs >= 1);
    assert!(
        v["machine"]["load_avg"].is_f64(),
        "the load as the run ended"
    );
    let cells = v["cells"].as_array().unwrap();
    // 2 transports x (latency 8 B + throughput 4 KiB) x pairs
    assert_eq!(cells.len(), 2 * 2 * pairs);
    for t in ["pipe", "limit"] {
        for (kind, size) in [("latency", 8), ("throughput", 4096)] {
            let n = cells
                .iter()
                .filter(|c| c["transport"] == t && c["kind"] == kind && c["size_bytes"] == size)
                .count();
            assert_eq!(n, pairs, "{t} {kind} {size}");
        }
    }
    for c in cells {
        let state = c["status"]["state"].as_str().unwrap();
        assert!(state == "ok" || state == "timed_out", "{c}");
    }
    // A cross-core pipe latency cell has its statistics.
    if let Some(c) = cells.iter().find(|c| {
        c["transport"] == "pipe" && c["kind"] == "latency" && c["pair"]["a"] != c["pair"]["b"]
    }) {
        assert!(c["latency"]["samples"].as_u64().unwrap() > 0);
    }
    // `report` re-renders the file.
    let json = json_files(dir.path()).pop().unwrap();
    let html = dir.path().join("again.html");
    let o = ipcbench(&[
        "report",
        json.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(html.exists());
}

#[test]
fn oversized_udp_cells_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let v = run_tiny(
        dir.path(),
        &[
            "-t",
            "udp",
            "--kind",
            "throughput",
            "--throughput-sizes",
            "64K",
            "--pairs",
            "0:0",
        ],
    );
    let c = &v["cells"][0];
    assert_eq!(c["status"]["state"], "skipped");
    assert!(c["status"]["reason"].as_str().unwrap().contains("65507"));
}

#[test]
fn verify_mode_checks_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let v = run_tiny(
        dir.path(),
        &[
            "-t",
            "futex",
            "--kind",
            "throughput",
            "--throughput-sizes",
            "100",
            "--pairs",
            "0:0",
            "--verify",
        ],
    );
    let c = &v["cells"][0];
    assert_eq!(c["status"]["state"], "ok", "{c}");
    assert_eq!(c["throughput"]["verified"], true);
}

#[test]
fn list_names_every_transport() {
    let o = ipcbench(&["list"]);
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    for t in [
        "pipe",
        "unix-stream",
        "unix-seqpacket",
        "tcp",
        "tcp-nodelay",
        "udp",
        "eventfd",
        "futex",
        "limit",
    ] {
        assert!(
            s.lines().any(|l| l.split_whitespace().next() == Some(t)),
            "{t} missing from:\n{s}"
        );
    }
}

#[test]
fn bad_arguments_give_named_errors() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "--transports", "carrier-pigeon"],
            &["--transports", "unknown transport", "pipe", "limit"],
        ),
        (
            &["run", "--latency-sizes", "8,0"],
            &["--latency-sizes", "at least 1 byte"],
        ),
        (
            &["run", "--throughput-sizes", "65M"],
            &["--throughput-sizes", "64M"],
        ),
        (
            &["run", "--throughput-sizes", "lots"],
            &["--throughput-sizes", "not a size"],
        ),
        (&["run", "--pairs", "zero-one"], &["--pairs", "core pair"]),
        (
            &[
                "run",
                "--pairs",
                "0:4095",
                "--out",
                "/nonexistent/never-created",
            ],
            &["--pairs", "not online", "online cpus"],
        ),
    ];
    for (args, needles) in cases {
        let o = ipcbench(args);
        assert!(!o.status.success(), "{args:?} should fail");
        let e = stderr(&o);
        for n in *needles {
            assert!(e.contains(n), "{args:?}: {n:?} not in: {e}");
        }
        assert!(!e.contains("panicked"), "{args:?} panicked: {e}");
    }
}

#[test]
fn same_cpu_spinning_cell_is_bounded_and_recorded() {
    // Spinning with both ends on one CPU costs a scheduler tick per hand-off;
    // the cell must end (timed_out or, on a fast-ticking kernel, ok) and the
    // run must succeed.
    let dir = tempfile::tempdir().unwrap();
    let v = run_tiny(
        dir.path(),
        &["-t", "limit", "--kind", "latency", "--pairs", "0:0"],
    );
    let c = &v["cells"][0];
    let state = c["status"]["state"].as_str().unwrap();
    assert!(state == "timed_out" || state == "ok", "{c}");
}

#[test]
fn dry_run_prints_the_plan_and_estimate() {
    let o = ipcbench(&["--dry-run", "-t", "pipe,udp", "--pairs", "0:0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("estimated duration"), "{s}");
    assert!(s.contains("udp throughput 1048576 B 0->0  (skipped"), "{s}");
}

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../results/epyc-2c-kvm-20261124.json"
);

#[test]
fn check_prints_every_target_for_the_committed_result_file() {
    let o = ipcbench(&["check", COMMITTED]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.lines().next().unwrap().contains("AMD EPYC"), "{s}");
    for (id, target) in [
        ("1", "mempipe-spin / limit, one-way p50, 8 B, cross-core"),
        ("1", "mempipe-spin / limit, one-way p50, 4 KiB, cross-core"),
        ("1", "mempipe-spin / limit, one-way p50, 64 KiB, cross-core"),
        (
            "2",
            "mempipe-spin / iceoryx2-poll, one-way p50, 8 B, cross-core",
        ),
        (
            "3a",
            "mempipe-hybrid / mempipe-spin, one-way p50, 8 B, cross-core",
        ),
        (
            "3b",
            "mempipe-hybrid / best kernel, one-way p50, 8 B, same core",
        ),
        ("3c", "mempipe-hybrid RTT p99.9, every latency cell"),
        ("4", "mempipe-futex / futex, RTT p50, 8 B, same core"),
        ("4", "mempipe-eventfd / eventfd, RTT p50, 8 B, cross-core"),
        ("5", "syscalls per message"),
        ("5", "wakes per message, slow consumer, futex, 64 B"),
        (
            "6a",
            "mempipe-spin(-zc) / unix-stream, B/s, 64 B, cross-core",
        ),
        ("6b", "mempipe-spin(-zc) B/s, 64 KiB, cross-core"),
        ("6c", "mempipe-spin(-zc) / limit, B/s, 1 MiB, cross-core"),
        ("6d", "mempipe-spin(-zc) / limit, B/s, 64 KiB, cross-core"),
        ("7", "mempipe-hybrid B/s, 4 KiB, same core / cross-core"),
    ] {
        assert!(
            s.lines()
                .any(|l| l.starts_with(&format!("{id} ")) && l.contains(target)),
            "target {id} '{target}' missing from:\n{s}"
        );
    }
    // iceoryx2 needs the peers build: said, with the flag.
    assert!(
        s.contains("NOT MEASURED") && s.contains("--features peers"),
        "{s}"
    );

    let o = ipcbench(&["check", "--json", COMMITTED]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let targets = v[0]["targets"].as_array().unwrap();
    assert!(targets.len() >= 12);
    assert!(targets.iter().all(|t| t["verdict"]["state"].is_string()));
}

#[test]
fn check_of_an_unreadable_file_names_it_and_still_checks_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-json.json");
    std::fs::write(&bad, "{").unwrap();
    let bad = bad.to_str().unwrap();
    let o = ipcbench(&["check", bad]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("not-json.json") && !e.contains("panicked"),
        "{e}"
    );

    let o = ipcbench(&["check", COMMITTED, bad]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("mempipe-spin / limit"));
    assert!(stderr(&o).contains("1 of 2 result files"), "{}", stderr(&o));

    let o = ipcbench(&["check"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("FILES"), "{}", stderr(&o));
}
