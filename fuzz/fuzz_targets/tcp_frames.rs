//! `cargo +nightly fuzz run tcp_frames`: see `mempipe::testing::fuzzing::tcp_frames` for what it
//! drives and checks; `tests/fuzz_corpus.rs` replays its corpus on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mempipe::testing::fuzzing::tcp_frames(data);
});
