//! mempipe's performance targets as data: one row per target line, in the order they are numbered.
//! How each kind of row is computed is in [`super::rules`].
//!
//! Ratios are taken within one file only: the reference machine is a VM whose host moves the
//! vCPUs between near and far placements from minute to minute, so absolute times from two
//! runs do not compare, while two transports measured in the same run (interleaved in rounds)
//! do. The two absolute targets say so in their goal ("abs").

use super::figures::Subject;
use super::rules::{Rule, Size, Target};
use super::Goal;
use crate::results::query::{Class, Metric};
use Class::{Cross, Same};
use Goal::{AtLeast, AtMost, Info};
use Metric::{BytesPerSec, MsgsPerSec, OneWayP50, RttP50, RttP999};
use Size::{Bytes, EachThroughput};

macro_rules! subject {
    ($name:expr, [$($m:expr),+ $(,)?]) => {
        Subject { name: $name, members: &[$($m),+], build: None }
    };
    ($name:expr) => {
        Subject { name: $name, members: &[$name], build: None }
    };
}

static LIMIT: Subject = subject!("limit");
static SPIN: Subject = subject!("mempipe-spin");
/// The spinning variants that write by reserve/commit (zero-copy writes): `-send` copies in.
static SPIN_RESERVE: Subject = subject!("mempipe-spin(-zc)", ["mempipe-spin", "mempipe-spin-zc"]);
static HYBRID: Subject = subject!("mempipe-hybrid");
static MP_FUTEX: Subject = subject!("mempipe-futex");
static MP_EVENTFD: Subject = subject!("mempipe-eventfd");
static FUTEX: Subject = subject!("futex");
static EVENTFD: Subject = subject!("eventfd");
static UNIX: Subject = subject!("unix-stream");
static CONN_SPIN: Subject = subject!("conn-shm-spin");
static CONN_HYBRID: Subject = subject!("conn-shm-hybrid");
static CONN_FUTEX: Subject = subject!("conn-shm-futex");
static CONN_EVENTFD: Subject = subject!("conn-shm-eventfd");
static CONN_TCP: Subject = subject!("conn-tcp");
static CONN_TLS: Subject = subject!("conn-tls");
static ASYNC_HYBRID: Subject = subject!("async-conn-shm-hybrid");
static TOKIO_UNIX: Subject = subject!("tokio-unix-stream");
static TCP_NODELAY: Subject = subject!("tcp-nodelay");
/// Only in builds with the `peers` feature.
static IOX2: Subject = Subject {
    name: "iceoryx2-poll",
    members: &["iceoryx2-poll"],
    build: Some("--features peers"),
};
/// The kernel transports; the best (lowest) on each pair counts.
#[rustfmt::skip]
static KERNEL: Subject = subject!("best kernel", [
    "pipe", "unix-stream", "unix-seqpacket", "tcp", "tcp-nodelay", "udp", "eventfd", "futex",
]);

/// Goal-column label of an absolute target: meaningful on the reference machine only.
const ABS: &str = "abs";
/// Goal-column label of reference figures for a plain spinning shared-memory byte ring (memcpy
/// in and out), cores 0->1, measured by a separate C program (gcc -O2) on a 2-vCPU AMD EPYC
/// KVM guest in November 2026: another program and maybe another machine, so their ratios
/// are information only.
const ANCHOR: &str = "ref";

const fn ratio(
    id: &'static str,
    (num, den): (&'static Subject, &'static Subject),
    metric: Metric,
    size: Size,
    class: Class,
    goal: Goal,
) -> Target {
    let rule = Rule::PairRatio {
        num,
        den,
        metric,
        size,
        class,
        goal,
    };
    Target { id, rule }
}

/// Best mempipe spin reserve variant on each cross-core pair against an absolute `value`.
const fn absolute(
    id: &'static str,
    (metric, size): (Metric, u64),
    value: f64,
    against: &'static str,
    goal: Goal,
) -> Target {
    let (subject, class) = (&SPIN_RESERVE, Cross);
    let rule = Rule::Absolute {
        subject,
        metric,
        size,
        class,
        value,
        against,
        goal,
    };
    Target { id, rule }
}

/// A target measured by a separate tool: `what` (with its goal), and `see`, how to measure it.
const fn elsewhere(id: &'static str, what: &'static str, see: &'static str) -> Target {
    Target {
        id,
        rule: Rule::Elsewhere { what, see },
    }
}

/// The targets, in their numbered order; `ipcbench check` prints one line per row (per size in
/// the file for `EachThroughput`).
#[rustfmt::skip]
pub(crate) static TARGETS: &[Target] = &[
    // One way against the bound: the harness's path (8 B) and the copy (4 KiB, 64 KiB).
    ratio("1", (&SPIN, &LIMIT), OneWayP50, Bytes(8), Cross, AtMost(1.15)),
    ratio("1", (&SPIN, &LIMIT), OneWayP50, Bytes(4096), Cross, AtMost(1.15)),
    ratio("1", (&SPIN, &LIMIT), OneWayP50, Bytes(65536), Cross, AtMost(1.15)),
    elsewhere("1", "pingpong example one-way p50 / limit, 8 B, cross-core: <= 1.05x",
        "examples/pingpong.rs (--wakeup spin --size 8) beside ipcbench's limit at 8 B"),
    ratio("2", (&SPIN, &IOX2), OneWayP50, Bytes(8), Cross, AtMost(0.25)),
    ratio("2", (&SPIN, &IOX2), OneWayP50, Bytes(4096), Cross, AtMost(0.5)),
    ratio("2", (&SPIN, &IOX2), OneWayP50, Bytes(65536), Cross, AtMost(0.5)),
    ratio("3a", (&HYBRID, &SPIN), OneWayP50, Bytes(8), Cross, AtMost(1.3)),
    ratio("3b", (&HYBRID, &KERNEL), OneWayP50, Bytes(8), Same, AtMost(1.2)),
    // A scheduler tick is 4 ms at HZ=250; spinning against a peer on the same core costs one
    // or two ticks.
    Target { id: "3c", rule: Rule::EveryCell { subject: &HYBRID, metric: RttP999, bound: 1e6 } },
    ratio("4", (&MP_FUTEX, &FUTEX), RttP50, Bytes(8), Cross, AtMost(1.1)),
    ratio("4", (&MP_FUTEX, &FUTEX), RttP50, Bytes(8), Same, AtMost(1.1)),
    ratio("4", (&MP_EVENTFD, &EVENTFD), RttP50, Bytes(8), Cross, AtMost(1.1)),
    ratio("4", (&MP_EVENTFD, &EVENTFD), RttP50, Bytes(8), Same, AtMost(1.1)),
    elsewhere("5", "syscalls per message", "scripts/count-syscalls.sh"),
    elsewhere("5", "wakes per message, slow consumer, futex, 64 B: <= 0.01",
        "scripts/count-syscalls.sh (block-slow-rx: the consumer's futex_wake calls)"),
    elsewhere("5", "wakes that find the side awake: <= 1% of wakes",
        "scripts/count-syscalls.sh (block, block-slow-rx: wakes w/o peer wait)"),
    absolute("6a", (MsgsPerSec, 64), 40e6, ABS, AtLeast(1.0)),
    ratio("6a", (&SPIN_RESERVE, &UNIX), BytesPerSec, Bytes(64), Cross, AtLeast(20.0)),
    absolute("6b", (BytesPerSec, 65536), 12e9, ABS, AtLeast(1.0)),
    ratio("6b", (&SPIN_RESERVE, &UNIX), BytesPerSec, Bytes(65536), Cross, AtLeast(2.0)),
    // `limit`'s throughput mode is the raw spinning byte ring.
    ratio("6c", (&SPIN_RESERVE, &LIMIT), BytesPerSec, EachThroughput, Cross, AtLeast(0.9)),
    absolute("6c", (BytesPerSec, 64), 3.0e9, ANCHOR, Info),
    absolute("6c", (BytesPerSec, 4096), 8.9e9, ANCHOR, Info),
    absolute("6c", (BytesPerSec, 65536), 14.6e9, ANCHOR, Info),
    absolute("6c", (BytesPerSec, 1 << 20), 30.8e9, ANCHOR, Info),
    // Big messages at the bound: `limit` streams with the best plain copy routine, and
    // mempipe keeps within 5% of it.
    ratio("6d", (&SPIN_RESERVE, &LIMIT), BytesPerSec, Bytes(65536), Cross, AtLeast(0.95)),
    Target {
        id: "7",
        rule: Rule::SameOverCross {
            subject: &HYBRID, metric: BytesPerSec, size: 4096, goal: AtLeast(0.5),
        },
    },
    // Connections cost next to nothing over the ring they carry (same wakeup, same ring
    // size), and a TCP connection next to nothing over a plain TCP_NODELAY socket. Streaming
    // "within 1.05x" reads as at least 0.95 of the ring's bytes per second.
    ratio("c1", (&CONN_SPIN, &SPIN), OneWayP50, Bytes(8), Cross, AtMost(1.05)),
    ratio("c1", (&CONN_HYBRID, &HYBRID), OneWayP50, Bytes(8), Cross, AtMost(1.05)),
    ratio("c1", (&CONN_FUTEX, &MP_FUTEX), OneWayP50, Bytes(8), Cross, AtMost(1.05)),
    ratio("c1", (&CONN_EVENTFD, &MP_EVENTFD), OneWayP50, Bytes(8), Cross, AtMost(1.05)),
    ratio("c2", (&CONN_SPIN, &SPIN), BytesPerSec, Bytes(65536), Cross, AtLeast(0.95)),
    ratio("c2", (&CONN_HYBRID, &HYBRID), BytesPerSec, Bytes(65536), Cross, AtLeast(0.95)),
    ratio("c3", (&CONN_TCP, &TCP_NODELAY), OneWayP50, Bytes(8), Cross, AtMost(1.1)),
    // Mutual TLS costs little over plain TCP: small messages within 1.3x a plain socket's
    // latency, streams at least 0.7 of the plaintext connection's bytes per second.
    ratio("t1", (&CONN_TLS, &TCP_NODELAY), OneWayP50, Bytes(8), Cross, AtMost(1.3)),
    ratio("t2", (&CONN_TLS, &CONN_TCP), BytesPerSec, Bytes(65536), Cross, AtLeast(0.7)),
    // Awaited on tokio on both sides, a connection keeps most of its latency: at most twice
    // the blocking one, and a tenth of tokio's own UnixStream.
    ratio("a1", (&ASYNC_HYBRID, &CONN_HYBRID), OneWayP50, Bytes(8), Cross, AtMost(2.0)),
    ratio("a2", (&ASYNC_HYBRID, &TOKIO_UNIX), OneWayP50, Bytes(8), Cross, AtMost(0.1)),
];
