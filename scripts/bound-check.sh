#!/usr/bin/env bash
# Is ipcbench's `limit` at least as fast as a plain C program of the same shape?
#
# Builds scripts/bound/bound.c with the system compiler (cc -O2 -pthread) and
# runs, in rounds, one `ipcbench run -t limit` (one repeat of every cell) and
# then the C program for every cell in each of its variants (latency: a fixed
# mailbox or ring-sized moving slots; stream: memcpy, memcpy in 16 KiB pieces,
# a producer that waits for an eighth of the ring once full, both, both with
# the consumer prefetching 512 bytes ahead, rep movsb in, rep movsb out,
# non-temporal stores in). Per cell it prints the
# median over the rounds of `limit`, of the best C variant, and of their
# paired ratio (per round; range of the rounds in brackets), and says whether
# `limit` is within 5% of the best plain program or better:
#   latency (one-way p50): limit / C <= 1.05
#   stream (bytes/s):      limit / C >= 0.95
# With --transports limit,mempipe-spin,... the other transports run in the same
# ipcbench invocation and get the same ratio to the best C variant (no verdict).
# Exit status 0 when every cell passes, 1 when one does not, 2 on a usage error.
# A timing check: run it on a quiet machine; `uptime` is printed before and after.
#
# Usage: scripts/bound-check.sh [--rounds N] [--ms N] [--cpus A,B]
#          [--latency-sizes 8,4K,64K] [--stream-sizes 64,4K,64K] [--ipcbench PATH]
#          [--transports limit,OTHER,...]
#   --ipcbench   default target/release/ipcbench (cargo build --release -p ipcbench)
set -euo pipefail

rounds=5
ms=200
cpus=0,1
latency_sizes=8,4K,64K
stream_sizes=64,4K,64K
ipcbench=target/release/ipcbench
transports=limit
while (($#)); do
    case $1 in
    --rounds) rounds=$2 ;;
    --ms) ms=$2 ;;
    --cpus) cpus=$2 ;;
    --latency-sizes) latency_sizes=$2 ;;
    --stream-sizes) stream_sizes=$2 ;;
    --ipcbench) ipcbench=$2 ;;
    --transports) transports=$2 ;;
    *)
        echo "bound-check: unknown argument '$1' (allowed: --rounds, --ms, --cpus," \
            "--latency-sizes, --stream-sizes, --ipcbench, --transports)" >&2
        exit 2
        ;;
    esac
    shift 2
done

if [[ ! -x $ipcbench ]]; then
    echo "bound-check: no ipcbench binary at '$ipcbench'; build it with" >&2
    echo "  cargo build --release -p ipcbench" >&2
    exit 2
fi
command -v python3 >/dev/null || { echo "bound-check: needs python3" >&2; exit 2; }
command -v cc >/dev/null || { echo "bound-check: needs a C compiler (cc)" >&2; exit 2; }

work=$(mktemp -d /tmp/bound-check.XXXXXX)
here=$(dirname "$0")
cc -O2 -pthread -o "$work/bound" "$here/bound/bound.c"
echo "bound-check: $(uname -srm); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "bound-check: load before: $(uptime)"

status=0
python3 - "$work" "$ipcbench" "$rounds" "$ms" "$cpus" "$latency_sizes" "$stream_sizes" "$transports" <<'EOF' || status=$?
import csv, glob, os, re, statistics, subprocess, sys

work, ipcbench, rounds, ms, cpus, lat_sizes, str_sizes, transports = sys.argv[1:]
others = [t for t in transports.split(",") if t and t != "limit"]
rounds = int(rounds)
a, b = cpus.split(",")

def size_bytes(s):
    m = re.fullmatch(r"(\d+)([KkMm]?)", s)
    if not m:
        sys.exit(f"bound-check: size '{s}': expected a number with an optional K or M")
    return int(m[1]) << {"": 0, "k": 10, "m": 20}[m[2].lower()]

lat = [size_bytes(s) for s in lat_sizes.split(",") if s]
strm = [size_bytes(s) for s in str_sizes.split(",") if s]
variants = {
    "latency": {"fixed": ["--slots", "fixed"], "moving": ["--slots", "moving"]},
    "stream": {
        "memcpy": [],
        "memcpy 16K pieces": ["--chunk", "16384"],
        "memcpy lag 1/8": ["--lag", "8"],
        "16K pieces, lag 1/8": ["--chunk", "16384", "--lag", "8"],
        "pieces, lag, prefetch": ["--chunk", "16384", "--lag", "8", "--prefetch", "512"],
        "movsb in": ["--copy-in", "movsb"],
        "movsb out": ["--copy-out", "movsb"],
        "nt in": ["--copy-in", "nt"],
    },
}
cells = [("latency", s) for s in lat] + [("stream", s) for s in strm]
limit = {c: [] for c in cells}
other = {(t, c): [] for t in others for c in cells}
plain = {(c, v): [] for c in cells for v in variants[c[0]]}

def run_limit(r):
    out = os.path.join(work, f"ipcbench-{r}")
    args = [ipcbench, "run", "-t", ",".join(["limit"] + others), "--pairs", f"{a}:{b}", "--repeats", "1",
            "--duration-ms", ms, "--out", out]
    args += ["--latency-sizes", ",".join(map(str, lat))] if lat else []
    args += ["--throughput-sizes", ",".join(map(str, strm))] if strm else []
    kind = "both" if lat and strm else ("latency" if lat else "throughput")
    subprocess.run(args + ["--kind", kind], check=True, capture_output=True)
    (path,) = glob.glob(os.path.join(out, "*.csv"))
    for row in csv.DictReader(open(path)):
        kind = "latency" if row["kind"] == "latency" else "stream"
        key = "one_way_p50_ns" if kind == "latency" else "bytes_per_sec"
        cell = (kind, int(row["size_bytes"]))
        if row["status"] != "ok" or cell not in limit:
            continue
        if row["transport"] == "limit":
            limit[cell].append(float(row[key]))
        elif (row["transport"], cell) in other:
            other[(row["transport"], cell)].append(float(row[key]))

def run_plain(cell, variant):
    kind, size = cell
    args = [os.path.join(work, "bound"), kind, str(size), "--ms", ms, "--cpus", cpus]
    out = subprocess.run(args + variants[kind][variant], check=True, capture_output=True,
                         text=True).stdout
    key = "one_way_p50_ns" if kind == "latency" else "bytes_per_sec"
    plain[(cell, variant)].append(float(re.search(key + r"=([0-9.]+)", out)[1]))

for r in range(rounds):
    run_limit(r)
    for cell in cells:
        for v in variants[cell[0]]:
            run_plain(cell, v)

def show(kind, x):
    return f"{x:.0f} ns" if kind == "latency" else f"{x / 1e9:.2f} GB/s"

failed = False
print(f"{'cell':<16} {'limit':>11} {'best plain C':>12}  {'variant':<18} {'limit/C (range)':<22} verdict")
for cell in cells:
    kind, size = cell
    if len(limit[cell]) != rounds:
        print(f"{kind} {size}: limit did not finish every round"); failed = True; continue
    pick = min if kind == "latency" else max
    best = pick(variants[kind], key=lambda v: statistics.median(plain[(cell, v)]))
    ratios = [l / c for l, c in zip(limit[cell], plain[(cell, best)])]
    ratio = statistics.median(ratios)
    ok = ratio <= 1.05 if kind == "latency" else ratio >= 0.95
    failed |= not ok
    print(f"{kind + ' ' + str(size):<16} {show(kind, statistics.median(limit[cell])):>11} "
          f"{show(kind, statistics.median(plain[(cell, best)])):>12}  {best:<18} "
          f"{ratio:.3f} ({min(ratios):.3f}-{max(ratios):.3f})   {'pass' if ok else 'SHORT'}")
for t in others:
    for cell in cells:
        kind, _ = cell
        xs = other[(t, cell)]
        if len(xs) != rounds:
            print(f"{t} {cell}: did not finish every round"); continue
        pick = min if kind == "latency" else max
        best = pick(variants[kind], key=lambda v: statistics.median(plain[(cell, v)]))
        rc = [x / c for x, c in zip(xs, plain[(cell, best)])]
        rl = [x / l for x, l in zip(xs, limit[cell])]
        print(f"{t} {kind} {cell[1]}: {show(kind, statistics.median(xs))}, "
              f"x best C {statistics.median(rc):.3f} ({min(rc):.3f}-{max(rc):.3f}), "
              f"x limit {statistics.median(rl):.3f} ({min(rl):.3f}-{max(rl):.3f})")
print("every C variant, median (range):")
for (cell, v), xs in plain.items():
    print(f"  {cell[0]} {cell[1]} {v}: {show(cell[0], statistics.median(xs))} "
          f"({show(cell[0], min(xs))} - {show(cell[0], max(xs))})")
sys.exit(1 if failed else 0)
EOF
echo "bound-check: load after: $(uptime)"
rm -rf "$work"
exit $status
