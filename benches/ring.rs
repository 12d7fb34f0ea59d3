//! criterion benches, in-process threads pinned to cores 0 and 1:
//! ping-pong round trips and one-way streaming, per wakeup strategy and size.
//!
//! `cargo bench --bench ring -- 'latency/spin'` runs a subset. These are
//! regression guards; cross-process figures and comparisons with other
//! transports come from ipcbench.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mempipe::{channel, Config, Consumer, Producer, RecvError, WakeupKind};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const SIZES: [usize; 4] = [8, 256, 4096, 65536];
const STREAM_SIZES: [usize; 5] = [8, 64, 256, 4096, 65536];

fn pin(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    // Best effort: a machine with one CPU runs the benches unpinned.
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

fn config(kind: WakeupKind) -> Config {
    Config::new()
        .capacity(1 << 20)
        .max_message(64 << 10)
        .wakeup(kind)
}

/// Echoes every message from `rx` to `tx` until the sender goes away.
fn echo(mut rx: Consumer, mut tx: Producer) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        pin(1);
        let mut buf = Vec::with_capacity(64 << 10);
        loop {
            match rx.recv(&mut buf) {
                Ok(_) => tx.send(&buf).expect("echo send"),
                Err(RecvError::Disconnected) => return,
                Err(e) => panic!("echo: {e}"),
            }
        }
    })
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("latency");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for kind in WakeupKind::ALL {
        for size in SIZES {
            let (mut ping_tx, ping_rx) = channel(&config(kind)).expect("ring");
            let (pong_tx, mut pong_rx) = channel(&config(kind)).expect("ring");
            let partner = echo(ping_rx, pong_tx);
            pin(0);
            let msg = vec![0xa5u8; size];
            let mut buf = Vec::with_capacity(size);
            group.bench_with_input(
                BenchmarkId::new(format!("{kind}/rtt"), size),
                &size,
                |b, _| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            ping_tx.send(&msg).expect("ping");
                            pong_rx.recv(&mut buf).expect("pong");
                        }
                        start.elapsed()
                    })
                },
            );
            drop(ping_tx);
            partner.join().expect("echo thread");
        }
    }
    group.finish();
}

fn streaming(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    for kind in WakeupKind::ALL {
        for size in STREAM_SIZES {
            let (mut tx, mut rx) = channel(&config(kind)).expect("ring");
            let (orders, todo) = mpsc::channel::<u64>();
            // The producer writes every byte of every message in place
            // (zero-copy reserve/commit): bytes it did not touch would be read
            // from the consumer's own cache and flatter the figure.
            let producer = thread::spawn(move || {
                pin(1);
                let mut payload = vec![0x5au8; size];
                let head = size.min(8);
                while let Ok(n) = todo.recv() {
                    for i in 0..n {
                        payload[..head].copy_from_slice(&i.to_le_bytes()[..head]);
                        let mut grant = tx.reserve(size).expect("reserve");
                        grant.write_at(0, &payload).expect("fits");
                        grant.commit();
                    }
                }
            });
            pin(0);
            let mut buf = Vec::with_capacity(size);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{kind}/copy-out"), size),
                &size,
                |b, _| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        orders.send(iters).expect("producer alive");
                        for _ in 0..iters {
                            rx.recv(&mut buf).expect("recv");
                        }
                        start.elapsed()
                    })
                },
            );
            drop(orders);
            producer.join().expect("producer thread");
        }
    }
    group.finish();
}

criterion_group!(benches, latency, streaming);
criterion_main!(benches);
