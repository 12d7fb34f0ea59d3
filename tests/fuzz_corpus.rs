//! Replays the fuzz targets' committed seed corpora (`fuzz/corpus/<target>/`) and
//! every past finding (`fuzz/regressions/<target>/`) through the same
//! `mempipe::testing::fuzzing` functions the fuzz targets call, on stable, so
//! CI covers them without cargo-fuzz. A panic inside (a broken property, or a panic in
//! the library) fails the test and names the file.

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 7] = [
    (
        "consumer_corrupt",
        mempipe::testing::fuzzing::consumer_corrupt,
    ),
    (
        "producer_corrupt",
        mempipe::testing::fuzzing::producer_corrupt,
    ),
    ("open_header", mempipe::testing::fuzzing::open_header),
    ("ops_model", mempipe::testing::fuzzing::ops_model),
    ("handshake", mempipe::testing::fuzzing::handshake),
    ("tcp_frames", mempipe::testing::fuzzing::tcp_frames),
    ("tls_frames", mempipe::testing::fuzzing::tls_frames),
];

/// Targets that make system calls Miri cannot run (mapping files, sockets).
fn skipped_under_miri(name: &str) -> bool {
    cfg!(miri) && matches!(name, "open_header" | "tcp_frames" | "tls_frames")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

fn replay(kind: &str, min_files: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut total = 0;
    for (name, target) in TARGETS {
        if skipped_under_miri(name) {
            continue;
        }
        let list = files(&root.join(name));
        for path in &list {
            let data = std::fs::read(path).expect("read a corpus file");
            let result = std::panic::catch_unwind(|| target(&data));
            assert!(result.is_ok(), "{} failed on {}", name, path.display());
        }
        assert!(
            list.len() >= min_files,
            "{name}: {} files in {}, expected at least {min_files}",
            list.len(),
            root.join(name).display()
        );
        total += list.len();
    }
    println!("replayed {total} files from {}", root.display());
}

#[test]
fn seed_corpus_replays_cleanly() {
    replay("corpus", 3);
}

#[test]
fn fuzz_regressions_replay_cleanly() {
    replay("regressions", 0);
}

/// Inputs that are not in any corpus but must hold: empty and tiny inputs, and
/// the same bytes through every target.
#[test]
fn trivial_inputs() {
    for (name, target) in TARGETS {
        if skipped_under_miri(name) {
            continue;
        }
        for data in [&[][..], &[0], &[0xff; 7], &[1, 2, 3, 4, 5, 6, 7, 8, 9]] {
            target(data);
        }
    }
}
