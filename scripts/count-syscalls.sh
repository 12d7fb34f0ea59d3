#!/usr/bin/env bash
# Counts the system calls two processes make while streaming over a mempipe ring,
# per wakeup strategy, to check the claim "a send to a receiver that is not
# asleep makes no system call" (and its mirror: a release of space to a producer
# that is not blocked on a full ring makes none either).
#
# What runs: examples/stream.rs, a consumer process pinned to one core and the
# producer it spawns pinned to another, streaming --count messages with sequence
# numbers the consumer checks, once per strategy x message size x case:
#
#   case           send  recv  rx work  what it shows
#   poll           poll  poll  0        THE TARGET (gated). Neither side ever
#                                       sleeps: the consumer busy-polls
#                                       try_recv and keeps up (it catches up with
#                                       the producer again and again: empty_polls),
#                                       the producer retries try_send. Every send
#                                       goes to a receiver that is not asleep.
#   poll-slow-rx   poll  poll  W        THE MIRROR (gated). Same, but the consumer
#                                       spends W pause instructions per message, so
#                                       the ring runs full and the producer polls
#                                       on it (full_polls): every release of space
#                                       goes to a producer that is not blocked.
#   block          send  recv  0        informational: the plain blocking API with a
#                                       consumer that keeps up. futex and eventfd
#                                       consumers go to sleep each time the ring
#                                       runs empty, so their producers must wake
#                                       them: syscalls here are expected.
#   block-slow-rx  send  recv  W        informational: blocking API, slower
#                                       consumer. It never finds the ring empty, so
#                                       the producer's sends should make no wake
#                                       call; the producer sleeps on the full ring
#                                       and the consumer wakes it (expected).
#
# How the steady state is separated from setup and teardown: each process of
# examples/stream.rs makes a marker call, lseek(-1, 0x57EA<side><phase>,
# SEEK_SET) (fails with EBADF, touches nothing), just before its first measured
# message and just after its last one (message 0, process start-up and the
# close are outside). The tracer records every system call entry of both
# processes; only the calls a process makes strictly between its own two
# markers are counted as steady state. The whole-run total is shown for
# comparison.
#
# Tracers: --tracer perf (default) records the raw_syscalls:sys_enter tracepoint
# with `perf record` (needs perf and permission to use tracepoints: root or
# kernel.perf_event_paranoid <= -1; perf mounts tracefs itself). A tracepoint
# costs each call well under a microsecond and nothing at all to code that makes
# no call, so the schedule barely changes. --tracer strace uses `strace -f`:
# every traced call stops the process for both tracer round trips (tens of
# microseconds), which changes who waits for whom in the cases that do make
# calls (a slowed waker lets the other side fall asleep more, or less). Where no
# calls are made (the gated cases) neither tracer can change anything.
#
# Wakes and waits: the breakdown separates futex(FUTEX_WAKE) and the eventfd
# strategy's socket sends (sendto; write in older builds) (wakes) from
# futex(FUTEX_WAIT) and ppoll (waits). "wakes w/o peer wait" is
# max(0, wakes by one side - waits by the other): a lower bound on wake calls
# that found the other side not in a wait call (it had armed its flag and then
# found work on its re-check, which the protocol allows).
#
# Exit status: 0 when every gated run made at most --threshold calls per message
# (window calls of both processes / messages); 1 when one exceeds it; 2 on a
# usage error or a run that failed (lost or damaged messages, missing markers,
# lost trace events).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/count-syscalls.sh [options]

Streams messages between two pinned processes per wakeup strategy under a
system-call tracer and prints steady-state system calls per message.

options:
  --tracer perf|strace   how to count (default perf; see the header)
  --count N              64 B messages per run (default 2000000)
  --count-4k N           4 KiB messages per run (default 500000)
  --sizes LIST           message sizes, comma-separated (default 64,4096;
                         sizes other than 4096 use --count)
  --strategies LIST      default spin,futex,eventfd,hybrid
  --cases LIST           default poll,poll-slow-rx,block,block-slow-rx
  --cores A,B            consumer on CPU A, producer on CPU B (default 0,1)
  --rx-work W            pause instructions per message in the slow-rx cases
                         (default 50)
  --threshold X          gate for the poll cases, calls per message (default 0.01)
  --keep DIR             keep the raw traces in DIR (default: a temporary
                         directory, removed at exit)
  --no-build             use the already built example
  -h, --help             this text

Honours CARGO_TARGET_DIR. Exit: 0 pass, 1 a gated case over the threshold,
2 usage error or a failed run.
EOF
}

die() {
  echo "count-syscalls: $*" >&2
  exit 2
}

tracer=perf
count=2000000
count_4k=500000
sizes=64,4096
strategies=spin,futex,eventfd,hybrid
cases=poll,poll-slow-rx,block,block-slow-rx
cores=0,1
rx_work=50
threshold=0.01
keep=""
build=1

need_value() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --tracer) need_value "$@"; tracer=$2; shift 2 ;;
    --count) need_value "$@"; count=$2; shift 2 ;;
    --count-4k) need_value "$@"; count_4k=$2; shift 2 ;;
    --sizes) need_value "$@"; sizes=$2; shift 2 ;;
    --strategies) need_value "$@"; strategies=$2; shift 2 ;;
    --cases) need_value "$@"; cases=$2; shift 2 ;;
    --cores) need_value "$@"; cores=$2; shift 2 ;;
    --rx-work) need_value "$@"; rx_work=$2; shift 2 ;;
    --threshold) need_value "$@"; threshold=$2; shift 2 ;;
    --keep) need_value "$@"; keep=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_uint "$count" && [ "$count" -gt 0 ] || die "--count: '$count' is not a positive integer"
is_uint "$count_4k" && [ "$count_4k" -gt 0 ] || die "--count-4k: '$count_4k' is not a positive integer"
is_uint "$rx_work" || die "--rx-work: '$rx_work' is not a non-negative integer"
[[ $cores =~ ^[0-9]+,[0-9]+$ ]] || die "--cores: '$cores' is not two CPU numbers A,B"
[[ $threshold =~ ^[0-9]*\.?[0-9]+$ ]] || die "--threshold: '$threshold' is not a number"
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a strategy_list <<<"$strategies"
IFS=, read -r -a case_list <<<"$cases"
for s in "${size_list[@]}"; do
  is_uint "$s" && [ "$s" -ge 16 ] || die "--sizes: '$s' is not a size of at least 16 bytes"
done
for s in "${strategy_list[@]}"; do
  case "$s" in spin | futex | eventfd | hybrid) ;; *) die "--strategies: unknown strategy '$s'" ;; esac
done
for c in "${case_list[@]}"; do
  case "$c" in poll | poll-slow-rx | block | block-slow-rx) ;; *) die "--cases: unknown case '$c'" ;; esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=$target_dir/release/examples/stream

case "$tracer" in
  perf)
    command -v perf >/dev/null || die "perf not found (install linux-perf, or use --tracer strace)"
    perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1 ||
      die "perf cannot use the raw_syscalls:sys_enter tracepoint here (run as root or set kernel.perf_event_paranoid=-1; tracefs must be mountable), or use --tracer strace"
    ;;
  strace)
    command -v strace >/dev/null || die "strace not found (install strace, or use --tracer perf)"
    strace -f -qq -o /dev/null -- true 2>/dev/null || die "strace cannot trace here (ptrace not permitted?)"
    ;;
  *) die "--tracer: '$tracer' is neither perf nor strace" ;;
esac

# System call numbers to names, for perf's raw tracepoint (strace names them itself).
unistd=""
for f in /usr/include/x86_64-linux-gnu/asm/unistd_64.h /usr/include/asm/unistd_64.h; do
  if [ -r "$f" ]; then unistd=$f; break; fi
done
if [ "$tracer" = perf ]; then
  [ "$(uname -m)" = x86_64 ] || die "--tracer perf names system calls from x86_64 numbers; on $(uname -m) use --tracer strace"
  [ -n "$unistd" ] || die "no asm/unistd_64.h to name system calls (install linux-libc-dev, or use --tracer strace)"
fi

if [ "$build" = 1 ]; then
  (cd "$root" && cargo build --release --quiet --example stream) || die "building examples/stream failed"
fi
[ -x "$bin" ] || die "$bin is missing (drop --no-build, or set CARGO_TARGET_DIR to where it was built)"

if [ -n "$keep" ]; then
  mkdir -p "$keep" || die "cannot create --keep directory $keep"
  work=$keep
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/count-syscalls.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi

# Normalises a trace to lines "PID S NAME" (a system call entry) or "PID M MARK"
# (a marker: tx1 tx2 rx1 rx2). futex calls are named by operation.
normalise_perf() {
  perf script -i "$1" -F pid,trace 2>/dev/null | awk -v unistd="$unistd" '
    function hex(h,   v, i) {
      v = 0; h = tolower(h)
      for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
      return v
    }
    BEGIN {
      while ((getline line < unistd) > 0) {
        n = split(line, f, /[ \t]+/)
        if (f[1] == "#define" && f[2] ~ /^__NR_/ && f[3] ~ /^[0-9]+$/) name[f[3]] = substr(f[2], 6)
      }
      marks["57ea0101"] = "tx1"; marks["57ea0102"] = "tx2"
      marks["57ea0201"] = "rx1"; marks["57ea0202"] = "rx2"
      ops[0] = "futex_wait"; ops[1] = "futex_wake"; ops[9] = "futex_wait_bitset"; ops[10] = "futex_wake_bitset"
    }
    $2 == "NR" {
      nr = $3; a1 = $5; gsub(/[,)]/, "", a1)
      if (nr == 8 && (a1 in marks)) { print $1, "M", marks[a1]; next }
      s = (nr in name) ? name[nr] : "nr_" nr
      if (nr == 202) {
        op = hex(a1) % 128
        s = (op in ops) ? ops[op] : "futex_op" op
      }
      print $1, "S", s
    }'
}

normalise_strace() {
  awk '
    BEGIN {
      marks["1474953473"] = "tx1"; marks["1474953474"] = "tx2"
      marks["1474953729"] = "rx1"; marks["1474953730"] = "rx2"
    }
    # Skip resumptions, signals and exits: each call is counted at its entry.
    $2 ~ /^<\.\.\./ || $2 == "+++" || $2 == "---" { next }
    {
      i = index($2, "("); if (i == 0) next
      s = substr($2, 1, i - 1)
      if (s == "lseek" && $2 == "lseek(-1,") {
        off = $3; sub(/,$/, "", off)
        if (off in marks) { print $1, "M", marks[off]; next }
      }
      if (s == "futex") {
        op = $3; gsub(/,/, "", op); sub(/_PRIVATE/, "", op)
        s = (op == "FUTEX_WAIT") ? "futex_wait" : (op == "FUTEX_WAKE") ? "futex_wake" : "futex_" tolower(op)
      }
      print $1, "S", s
    }' "$1"
}

# Reads normalised lines; prints "key=value" fields for one run.
count_windows() {
  awk '
    function add(role, s) {
      n[role]++; c[role, s]++
      if (!((role, s) in seen)) { seen[role, s] = 1; order[role] = order[role] " " s }
      if (s == "futex_wake" || s == "futex_wake_bitset" || s == "sendto" || s == "write") wakes[role]++
      if (s == "futex_wait" || s == "futex_wait_bitset" || s == "ppoll" || s == "poll") waits[role]++
    }
    {
      whole++
      if ($2 == "M") {
        whole--
        role = substr($3, 1, 2); phase = substr($3, 3, 1)
        if (phase == "1") { state[$1] = 1; role_of[$1] = role; found[$3]++ }
        else { state[$1] = 2; found[$3]++ }
        next
      }
      if (state[$1] == 1) add(role_of[$1], $3)
    }
    END {
      ok = (found["tx1"] == 1 && found["tx2"] == 1 && found["rx1"] == 1 && found["rx2"] == 1)
      printf "markers=%s whole=%d", ok ? "ok" : "missing", whole
      split("tx rx", roles, " ")
      for (k = 1; k <= 2; k++) {
        r = roles[k]
        printf " %s=%d %s_wakes=%d %s_waits=%d %s_calls=", r, n[r] + 0, r, wakes[r] + 0, r, waits[r] + 0, r
        m = split(order[r], names, " "); sep = ""
        if (m == 0) printf "-"
        for (j = 1; j <= m; j++) { printf "%s%s:%d", sep, names[j], c[r, names[j]]; sep = "," }
      }
      printf "\n"
    }'
}

field() { # field KEY "k=v k=v ..."
  local kv
  for kv in $2; do
    if [ "${kv%%=*}" = "$1" ]; then
      echo "${kv#*=}"
      return 0
    fi
  done
  echo "?"
}

host_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "# count-syscalls: tracer=$tracer cores=$cores (consumer,producer) rx-work=$rx_work threshold=$threshold"
echo "# $(uname -sr), ${host_cpu:-unknown CPU}, $(nproc) CPUs; mempipe $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src/ changes')"
echo
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
  strategy size case messages "tx calls" "rx calls" "calls/msg" "wakes w/o peer wait (tx,rx)" \
  "empty / full polls" "run total" "steady-state calls (tx; rx)"
echo "|---|---|---|---|---|---|---|---|---|---|---|"

failed=0
over=0
for size in "${size_list[@]}"; do
  n=$count
  [ "$size" = 4096 ] && n=$count_4k
  for strategy in "${strategy_list[@]}"; do
    for case_name in "${case_list[@]}"; do
      case "$case_name" in
        poll) args=(--send poll --recv poll --rx-work 0); gated=1 ;;
        poll-slow-rx) args=(--send poll --recv poll --rx-work "$rx_work"); gated=1 ;;
        block) args=(--send block --recv block --rx-work 0); gated=0 ;;
        block-slow-rx) args=(--send block --recv block --rx-work "$rx_work"); gated=0 ;;
      esac
      tag=$strategy-$size-$case_name
      cmd=("$bin" --wakeup "$strategy" --size "$size" --count "$n" --cores "$cores" "${args[@]}")
      status=0
      if [ "$tracer" = perf ]; then
        perf record -q -m 1024 -e raw_syscalls:sys_enter -o "$work/$tag.data" -- "${cmd[@]}" \
          >"$work/$tag.out" 2>"$work/$tag.err" || status=$?
      else
        strace -f -qq -o "$work/$tag.strace" -- "${cmd[@]}" \
          >"$work/$tag.out" 2>"$work/$tag.err" || status=$?
      fi
      summary=$(grep '^stream:' "$work/$tag.out" || true)
      if [ "$status" != 0 ] || [ -z "$summary" ]; then
        echo "count-syscalls: $tag failed (exit $status):" >&2
        cat "$work/$tag.err" >&2
        failed=1
        continue
      fi
      if [ "$tracer" = perf ]; then
        lost=$(perf report -i "$work/$tag.data" --stats 2>/dev/null |
          awk '/LOST[_A-Z]* events:/ { for (i = 1; i < NF; i++) if ($i == "events:") s += $(i + 1) } END { print s + 0 }')
        if [ "$lost" != 0 ]; then
          echo "count-syscalls: $tag: perf lost $lost events; counts would be low" >&2
          failed=1
        fi
        counts=$(normalise_perf "$work/$tag.data" | count_windows)
      else
        counts=$(normalise_strace "$work/$tag.strace" | count_windows)
      fi
      if [ "$(field markers "$counts")" != ok ]; then
        echo "count-syscalls: $tag: the trace lacks a window marker ($counts)" >&2
        failed=1
        continue
      fi
      msgs=$(field messages "$summary")
      verified=$(field verified "$summary")
      if [ "$verified" != "$msgs" ] || [ "$msgs" != "$n" ]; then
        echo "count-syscalls: $tag: $verified of $msgs messages verified, $n sent" >&2
        failed=1
      fi
      tx=$(field tx "$counts")
      rx=$(field rx "$counts")
      per=$(awk -v a="$tx" -v b="$rx" -v m="$msgs" 'BEGIN { printf "%.6f", (a + b) / m }')
      unmatched_tx=$(($(field tx_wakes "$counts") - $(field rx_waits "$counts")))
      unmatched_rx=$(($(field rx_wakes "$counts") - $(field tx_waits "$counts")))
      [ "$unmatched_tx" -lt 0 ] && unmatched_tx=0
      [ "$unmatched_rx" -lt 0 ] && unmatched_rx=0
      verdict=info
      if [ "$gated" = 1 ]; then
        if awk -v p="$per" -v t="$threshold" 'BEGIN { exit !(p > t) }'; then
          verdict="FAIL"
          over=1
        else
          verdict=pass
        fi
      fi
      printf '| %s | %s | %s | %s | %s | %s | %s %s | %s,%s | %s / %s | %s | %s; %s |\n' \
        "$strategy" "$size" "$case_name" "$msgs" "$tx" "$rx" "$per" "$verdict" \
        "$unmatched_tx" "$unmatched_rx" \
        "$(field empty_polls "$summary")" "$(field full_polls "$summary")" \
        "$(field whole "$counts")" "$(field tx_calls "$counts")" "$(field rx_calls "$counts")"
    done
  done
done

echo
if [ "$failed" = 1 ]; then
  echo "count-syscalls: a run failed (see above)" >&2
  exit 2
fi
if [ "$over" = 1 ]; then
  echo "count-syscalls: FAIL: a gated case (poll, poll-slow-rx) made more than $threshold system calls per message" >&2
  exit 1
fi
echo "count-syscalls: pass: every gated case made at most $threshold system calls per message"
