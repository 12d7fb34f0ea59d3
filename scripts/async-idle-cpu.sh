#!/usr/bin/env bash
# CPU time used by two processes whose async connections all wait for a
# message that never comes (examples/async_idle.rs), over a measured window.
# Idle async receivers should cost nothing: no spinning, no timers.
#
#   scripts/async-idle-cpu.sh [CONNECTIONS] [SECONDS]
set -euo pipefail
conns=${1:-100}
secs=${2:-10}
cd "$(dirname "$0")/.."
cargo build --quiet --release --features tokio --example async_idle
bin=target/release/examples/async_idle
name="idle-cpu-$$"
"$bin" serve "$name" "$conns" &
server=$!
"$bin" connect "$name" "$conns" &
client=$!
trap 'kill $server $client 2>/dev/null || true' EXIT
sleep 2 # let every connection settle into its wait
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
s0=$(ticks $server); c0=$(ticks $client)
sleep "$secs"
s1=$(ticks $server); c1=$(ticks $client)
echo "idle for ${secs} s with ${conns} connections each awaiting a message:"
echo "  server: $(( (s1 - s0) * 1000 / hz )) ms CPU (user+system)"
echo "  client: $(( (c1 - c0) * 1000 / hz )) ms CPU (user+system)"
