#!/usr/bin/env bash
# Runs the single-process ring tests (heap-backed rings: no mapping, no syscalls
# Miri cannot emulate) under Miri. Weak-memory emulation is off: it crashes (a Miri
# internal error) on ring bytes that are a commit word in one lap and payload in
# the next, which the protocol orders by release/acquire. Skips with a message
# where nightly or the Miri component is unavailable.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
  echo "skipped: no nightly toolchain"; exit 0
fi
if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
  rustup +nightly component add miri >/dev/null 2>&1 || { echo "skipped: the Miri component cannot be installed"; exit 0; }
fi
if ! cargo +nightly miri setup >/dev/null 2>&1; then
  echo "skipped: cargo miri setup failed (no network for the sysroot?)"; exit 0
fi
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-disable-weak-memory-emulation}"
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --lib -- testing::ring_tests:: || exit 1
# The fuzz targets' seed corpus and regressions over heap rings (tens of seconds):
# corrupt control words and ring bytes, hostile positions, the ops model.
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --test fuzz_corpus
