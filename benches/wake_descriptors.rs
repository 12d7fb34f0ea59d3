//! What a descriptor wakeup costs, per kind of descriptor: the system calls of
//! one ring and one drain in a single thread, and a wake round trip between two
//! threads that each sleep in `poll` and drain. It backs the choice of wake
//! descriptor for `WakeupKind::EventFd`:
//!
//! * `eventfd`, the classic: its write has no per-call non-blocking form, so a
//!   peer sharing the descriptor can make it block (clear `O_NONBLOCK`, fill
//!   the counter); listed as the baseline.
//! * `eventfd` read with `preadv2(RWF_NOWAIT)`: a per-call non-blocking read,
//!   for comparison (the write side stays unsafe).
//! * a UNIX datagram socket pair with `MSG_DONTWAIT` on both calls: what
//!   mempipe uses.
//! * a pipe with `pwritev2`/`preadv2(RWF_NOWAIT)`: per-call too where the kernel
//!   supports it for pipes, but one pipe per direction (four descriptors).
//!
//! Run: `cargo bench --bench wake_descriptors` (prints medians of 31 batches,
//! with the quartiles and extremes; times on a shared machine vary).

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags};
use rustix::io::{preadv2, pwritev2, ReadWriteFlags};
use rustix::net::{
    recv, send, socketpair, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

const BATCHES: usize = 31;
const OPS: u32 = 20_000;
const ROUND_TRIPS: u32 = 10_000;

/// Median and spread of `BATCHES` batches of `per_batch` calls of `op`, in ns per call.
fn measure(name: &str, per_batch: u32, mut op: impl FnMut()) {
    let mut ns: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                op();
            }
            start.elapsed().as_nanos() as f64 / f64::from(per_batch)
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    println!(
        "{name:<44} median {:>7.0} ns  (min {:.0}, quartiles {:.0}-{:.0}, max {:.0})",
        ns[BATCHES / 2],
        ns[0],
        ns[BATCHES / 4],
        ns[3 * BATCHES / 4],
        ns[BATCHES - 1]
    );
}

/// How one kind of descriptor rings and drains.
#[derive(Clone, Copy)]
enum Kind {
    Eventfd,
    EventfdNowaitRead,
    Socket,
    PipeNowait,
}

fn ring(kind: Kind, fd: BorrowedFd<'_>) {
    let _ = match kind {
        Kind::Eventfd | Kind::EventfdNowaitRead => rustix::io::write(fd, &1u64.to_ne_bytes()),
        Kind::Socket => send(fd, &[1], SendFlags::DONTWAIT | SendFlags::NOSIGNAL),
        Kind::PipeNowait => pwritev2(fd, &[IoSlice::new(&[1])], u64::MAX, ReadWriteFlags::NOWAIT),
    };
}

fn drain(kind: Kind, fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 8];
    let _ = match kind {
        Kind::Eventfd => rustix::io::read(fd, &mut buf),
        Kind::EventfdNowaitRead | Kind::PipeNowait => preadv2(
            fd,
            &mut [IoSliceMut::new(&mut buf)],
            u64::MAX,
            ReadWriteFlags::NOWAIT,
        ),
        Kind::Socket => recv(fd, &mut buf, RecvFlags::DONTWAIT).map(|(n, _)| n),
    };
}

/// `[ring end, wait end]` of one wake channel.
fn channel(kind: Kind) -> [OwnedFd; 2] {
    match kind {
        Kind::Eventfd | Kind::EventfdNowaitRead => {
            let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).unwrap();
            [fd.try_clone().unwrap(), fd]
        }
        Kind::Socket => {
            let (a, b) = socketpair(
                AddressFamily::UNIX,
                SocketType::DGRAM,
                SocketFlags::CLOEXEC,
                None,
            )
            .unwrap();
            [a, b]
        }
        Kind::PipeNowait => {
            let (read, write) = rustix::pipe::pipe().unwrap();
            [write, read]
        }
    }
}

fn sleep_and_drain(kind: Kind, fd: BorrowedFd<'_>) {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    poll(&mut fds, None).unwrap();
    drain(kind, fd);
}

fn main() {
    // `cargo test --benches` runs this with --test-like arguments: stay quick.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let kinds = [
        ("eventfd", Kind::Eventfd),
        (
            "eventfd, read with preadv2(RWF_NOWAIT)",
            Kind::EventfdNowaitRead,
        ),
        ("UNIX datagram pair, MSG_DONTWAIT", Kind::Socket),
        ("pipe, pwritev2/preadv2(RWF_NOWAIT)", Kind::PipeNowait),
    ];
    println!("ring + drain, one thread:");
    for (name, kind) in kinds {
        let [tx, rx] = channel(kind);
        measure(name, OPS, || {
            ring(kind, tx.as_fd());
            drain(kind, rx.as_fd());
        });
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placements: &[(&str, usize)] = if cpus > 1 {
        &[("both threads on CPU 0", 0), ("threads on CPUs 0 and 1", 1)]
    } else {
        &[("both threads on CPU 0", 0)]
    };
    for &(placement, echo_cpu) in placements {
        println!("wake round trip, two threads sleeping in poll, {placement}:");
        for (name, kind) in kinds {
            let [a_tx, b_rx] = channel(kind);
            let [b_tx, a_rx] = channel(kind);
            pin(0);
            let echo = std::thread::spawn(move || {
                pin(echo_cpu);
                for _ in 0..BATCHES as u32 * ROUND_TRIPS {
                    sleep_and_drain(kind, b_rx.as_fd());
                    ring(kind, b_tx.as_fd());
                }
            });
            measure(name, ROUND_TRIPS, || {
                ring(kind, a_tx.as_fd());
                sleep_and_drain(kind, a_rx.as_fd());
            });
            echo.join().unwrap();
        }
    }
}

/// Pins the calling thread to `cpu` (ignored where that is not allowed).
fn pin(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    let _ = rustix::thread::sched_setaffinity(None, &set);
}
