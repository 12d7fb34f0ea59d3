//! Result-file schema: round trip, version checks, garbage input, CSV export.
//!
//! ipcbench is a binary crate, so the modules under test are compiled into this test crate by
//! path; not every item is used here.
#![allow(dead_code)]

#[path = "../src/machine.rs"]
mod machine;
#[path = "../src/results/mod.rs"]
mod results;
#[path = "common/synthetic.rs"]
mod synthetic;
#[path = "../src/topology.rs"]
mod topology;
#[path = "../src/units.rs"]
mod units;

use results::{read_json, write_csv, write_json, ResultsError, SCHEMA_VERSION};

#[test]
fn write_then_read_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let file = synthetic::small();
    write_json(&file, &path).unwrap();
    let back = read_json(&path).unwrap();
    assert_eq!(back, file);
    assert_eq!(back.schema_version, SCHEMA_VERSION);
    // Units are in the names, statuses readable.
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "\"one_way_p50_ns\"",
        "\"bytes_per_sec\"",
        "\"size_bytes\"",
        "\"state\": \"timed_out\"",
    ] {
        assert!(text.contains(key), "missing {key}");
    }
}

#[test]
fn newer_schema_is_refused_with_upgrade_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.json");
    let mut v = serde_json::to_value(synthetic::small()).unwrap();
    v["schema_version"] = serde_json::json!(2);
    v["something_new"] = serde_json::json!({"x": 1});
    std::fs::write(&path, v.to_string()).unwrap();
    let e = read_json(&path).unwrap_err();
    assert!(matches!(e, ResultsError::NewerSchema { found: 2, .. }));
    let msg = e.to_string();
    assert_eq!(
        msg,
        format!(
            "result file {} has schema version 2; this ipcbench reads up to 1: upgrade ipcbench",
            path.display()
        )
    );
}

#[test]
fn garbage_and_missing_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 4] = [
        ("garbage.json", b"\x00\xffnot json"),
        ("array.json", b"[1,2,3]"),
        ("wrongtypes.json", b"{\"schema_version\": 1, \"cells\": 5}"),
        ("empty.json", b""),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let e = read_json(&path).unwrap_err();
        assert!(e.to_string().contains(name), "{name}: {e}");
    }
    let missing = dir.path().join("absent.json");
    let e = read_json(&missing).unwrap_err();
    assert!(matches!(e, ResultsError::Io { .. }));
    assert!(e.to_string().contains("absent.json"));
}

#[test]
fn csv_has_one_row_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let file = synthetic::small();
    write_csv(&file, &path).unwrap();
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "one_way_p50_ns"));
    assert!(headers.iter().any(|h| h == "bytes_per_sec"));
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), file.cells.len());
    let status = headers.iter().position(|h| h == "status").unwrap();
    assert!(rows.iter().any(|r| &r[status] == "timed_out"));
}
