//! `cargo +nightly fuzz run consumer_corrupt`: see `mempipe::testing::fuzzing::consumer_corrupt` for what it
//! drives and checks; `tests/fuzz_corpus.rs` replays its corpus on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mempipe::testing::fuzzing::consumer_corrupt(data);
});
