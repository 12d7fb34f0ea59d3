#!/usr/bin/env bash
# Is the bound steady, and do ratios to it hold from run to run?
#
# Runs the same suite three times in a row:
#   -t limit,mempipe-spin,mempipe-hybrid,iceoryx2-poll,unix-stream
#   --pairs 0:1,1:0 --latency-sizes 8,4K,64K
# (iceoryx2-poll only when the binary was built with --features peers), then
# prints for every run the paired mempipe-spin / limit ratio at 8 B, 4 KiB and
# 64 KiB (per round, median over rounds, then the median over the two pairs;
# range of the rounds kept), the repeat spread of limit and of mempipe-spin, and
# at the end whether
#   - each size's ratio stays within 10% across the three runs (max/min <= 1.10),
#   - limit's repeat spread is no larger than mempipe-spin's (per size, the median over the
#     three runs of the larger spread of the two pairs).
# A timing check: run it on a quiet machine (nothing else compiling or running).
#
# Usage: ipcbench/scripts/fidelity.sh [IPCBENCH_BINARY] [OUT_DIR] [-- EXTRA RUN ARGS]
#   IPCBENCH_BINARY  default: target/release/ipcbench (built with
#                    `cargo build --release -p ipcbench --features peers`)
#   OUT_DIR          default: a new directory under /tmp
# Needs python3 to read the result files. One run takes about 20-30 s (about 6 s with
# `-- --kind latency`, which leaves out the throughput cells).
set -euo pipefail

positional=()
while (($#)); do
    if [[ $1 == -- ]]; then
        shift
        break
    fi
    positional+=("$1")
    shift
done
extra=("$@")
bin=${positional[0]:-target/release/ipcbench}
out=${positional[1]:-$(mktemp -d /tmp/ipcbench-fidelity.XXXXXX)}

if [[ ! -x $bin ]]; then
    echo "fidelity: no ipcbench binary at '$bin'; build it with" >&2
    echo "  cargo build --release -p ipcbench --features peers" >&2
    exit 2
fi
command -v python3 >/dev/null || { echo "fidelity: needs python3" >&2; exit 2; }

transports=limit,mempipe-spin,mempipe-hybrid,iceoryx2-poll,unix-stream
if ! "$bin" list | grep -q '^iceoryx2-poll '; then
    transports=limit,mempipe-spin,mempipe-hybrid,unix-stream
    echo "fidelity: $bin was built without --features peers: running without iceoryx2-poll"
fi

read -r load _ </proc/loadavg
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
    echo "fidelity: load average $load: something else is running; spinning cells will be noisy"
fi

mkdir -p "$out"
files=()
for run in 1 2 3; do
    dir="$out/run$run"
    echo "fidelity: run $run of 3 -> $dir"
    "$bin" run -t "$transports" --pairs 0:1,1:0 --latency-sizes 8,4K,64K \
        --out "$dir" "${extra[@]}" >"$dir.log" 2>&1 || {
        echo "fidelity: run $run failed, see $dir.log" >&2
        exit 1
    }
    files+=("$(ls "$dir"/*.json)")
done

python3 - "${files[@]}" <<'PY'
import json, statistics, sys

OUTLIER = 0.25  # as ipcbench's paired ratios: a round whose bound is >25% off is left out
SIZES = [8, 4096, 65536]
NAMES = {8: "8 B", 4096: "4 KiB", 65536: "64 KiB"}

def rounds(cell):
    l = cell.get("latency") or {}
    return l.get("repeats_p50_ns") or ([l["rtt_ns"]["p50"]] if l else [])

def paired(num, den):
    both = [(n, d) for n, d in zip(num, den) if n > 0 and d > 0]
    if not both:
        return None
    bound = statistics.median(d for _, d in both)
    kept = [n / d for n, d in both if abs(d / bound - 1) <= OUTLIER]
    return statistics.median(kept), kept, len(both) - len(kept)

def spread(v):
    return (max(v) - min(v)) / statistics.median(v) if len(v) > 1 else 0.0

ratios = {s: [] for s in SIZES}
spreads = {s: ([], []) for s in SIZES}
for i, path in enumerate(sys.argv[1:], 1):
    cells = json.load(open(path))["cells"]
    def cell(t, size, pair):
        for c in cells:
            if (c["transport"] == t and c["kind"] == "latency" and c["size_bytes"] == size
                    and (c["pair"]["a"], c["pair"]["b"]) == pair and c["status"]["state"] == "ok"):
                return c
    print(f"run {i}: {path}")
    for size in SIZES:
        meds, kept, flagged, sl, ss = [], [], 0, [], []
        for pair in [(0, 1), (1, 0)]:
            lim, spin = cell("limit", size, pair), cell("mempipe-spin", size, pair)
            if lim is None or spin is None:
                continue
            r = paired(rounds(spin), rounds(lim))
            if r:
                meds.append(r[0]); kept += r[1]; flagged += r[2]
            sl.append(spread(rounds(lim))); ss.append(spread(rounds(spin)))
        if not meds:
            print(f"  {NAMES[size]:>6}: no bound to compare with (limit or mempipe-spin missing or not ok)")
            continue
        m = statistics.median(meds)
        ratios[size].append(m)
        note = f", {flagged} round(s) flagged" if flagged else ""
        ok = max(sl) <= max(ss)
        spreads[size][0].append(max(sl)); spreads[size][1].append(max(ss))
        print(f"  {NAMES[size]:>6}: mempipe-spin/limit {m:.3f}x (rounds {min(kept):.3f}-{max(kept):.3f}{note}); "
              f"repeat spread limit {max(sl)*100:.1f}% vs mempipe-spin {max(ss)*100:.1f}%"
              f"{'' if ok else '  <- limit less steady'}")

print("across the runs:")
held, steady = True, True
for size in SIZES:
    v = ratios[size]
    if len(v) < 3:
        print(f"  {NAMES[size]:>6}: only {len(v)} run(s) with a ratio")
        held = False
        continue
    within = max(v) / min(v) <= 1.10
    held &= within
    sl, ss = (statistics.median(x) for x in spreads[size])
    steady &= sl <= ss
    print(f"  {NAMES[size]:>6}: {' '.join(f'{x:.3f}x' for x in v)}  max/min {max(v)/min(v):.3f} "
          f"{'within 10%' if within else 'NOT within 10%'}; repeat spread (median over runs) "
          f"limit {sl*100:.1f}% vs mempipe-spin {ss*100:.1f}%")
print(f"ratios within 10% across runs: {'yes' if held else 'no'}; "
      f"limit's repeat spread no larger than mempipe-spin's: {'yes' if steady else 'no'}")
sys.exit(0 if held and steady else 1)
PY
