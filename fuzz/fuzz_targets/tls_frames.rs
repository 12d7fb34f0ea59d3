//! `cargo +nightly fuzz run tls_frames`: see `mempipe::fuzzing::tls_frames` for what it
//! drives and checks; `tests/fuzz_corpus.rs` replays its corpus on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mempipe::fuzzing::tls_frames(data);
});
