//! `ipcbench fanin` end to end: real client processes against every server,
//! a JSON file with one row per cell, and the bad-argument error naming the
//! allowed servers. Only completion is checked, never a figure.

use std::process::Command;

#[test]
fn fanin_runs_every_server_with_real_clients() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_ipcbench"))
        .args([
            "fanin",
            "--clients",
            "1,3",
            "--requests",
            "20",
            "--repeats",
            "1",
        ])
        .args(["--idle-ms", "100", "--out"])
        .arg(dir.path())
        .output()
        .expect("run ipcbench");
    assert!(
        out.status.success(),
        "ipcbench fanin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_dir(dir.path())
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON result file");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json).expect("read")).expect("JSON");
    let rows = doc["rows"].as_array().expect("rows");
    // Five servers by default, two client counts.
    assert_eq!(rows.len(), 10);
    for r in rows {
        assert!(r["requests_per_s"].as_f64().expect("rate") > 0.0, "{r}");
        assert!(
            r["last_done_ms"].as_f64().expect("done")
                >= r["first_done_ms"].as_f64().expect("first")
        );
    }
}

#[test]
fn an_unknown_server_names_the_allowed_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_ipcbench"))
        .args(["fanin", "--servers", "carrier-pigeon"])
        .output()
        .expect("run ipcbench");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mempipe-async") && err.contains("epoll-unix"),
        "{err}"
    );
}
