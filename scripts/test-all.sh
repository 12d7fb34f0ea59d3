#!/usr/bin/env bash
# Every test of the workspace: unit, model (proptest), cross-process, ipcbench
# CLI smoke run, report rendering and doc tests. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
