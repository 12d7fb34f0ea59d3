//! Runs `ipcbench rpc` for real: a server process per framework and
//! transport, the client in the parent, every cell measured with a checked
//! payload; and the named errors for bad arguments. Never asserts on timings.

use std::process::{Command, Output};

fn ipcbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipcbench"))
        .args(args)
        .output()
        .expect("run ipcbench")
}

#[test]
fn every_framework_and_transport_answers_and_is_written() {
    let dir = tempfile::tempdir().unwrap();
    // Both ends on CPU 0: runs on any machine (nothing spins without bound).
    let out = ipcbench(&[
        "rpc",
        "--sizes",
        "64,64K",
        "--callers",
        "1,4",
        "--pair",
        "0:0",
        "--duration-ms",
        "20",
        "--warmup-ms",
        "10",
        "--repeats",
        "1",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("targets"), "{stdout}");
    let json = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a result file");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cells = file["rpc"]["cells"].as_array().expect("rpc cells");
    // 2 frameworks x 3 transports x 2 sizes x 2 caller counts.
    assert_eq!(cells.len(), 24);
    for c in cells {
        assert!(c["error"].is_null(), "{c}");
        let repeats = c["repeats"].as_array().unwrap();
        assert_eq!(repeats.len(), 1, "{c}");
        assert!(repeats[0]["requests"].as_u64().unwrap() > 0, "{c}");
    }
    let html = std::fs::read_to_string(json.with_extension("html")).unwrap();
    assert!(html.contains("Request/response"));
    assert!(html.contains("mempipe / unix"));
}

#[test]
fn bad_arguments_name_the_allowed_values() {
    let out = ipcbench(&["rpc", "--transports", "pigeon"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mempipe") && err.contains("unix") && err.contains("tcp"),
        "{err}"
    );
    let out = ipcbench(&["rpc", "--frameworks", "soap"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("grpc") && err.contains("http1"), "{err}");
    let out = ipcbench(&["rpc", "--pair", "0-1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("client:server"), "{err}");
}
