//! Async endpoints of a raw ring between real processes (feature `tokio`):
//! an anonymous region handed to a child, one side awaited on tokio and the
//! other blocking, so that a blocking futex or hybrid notifier must ring the
//! wake descriptor of a waiter in an event loop, in both directions. Named
//! futex regions, which have no wake descriptors, are refused with a typed
//! error. Every bound is a hang guard, never a performance figure.
#![cfg(feature = "tokio")]

mod common;

use common::{check_message, fill_message, spawn_child, Lengths, HANG_GUARD};
use mempipe::asyncio::{AsyncConsumer, AsyncProducer, NotPollable};
use mempipe::{Config, RecvError, Region, WakeupKind};

const COUNT: u64 = 50_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let region = ctx.inherited_region();
    let mut lengths = Lengths::new(3, 600);
    let mut msg = Vec::new();
    match ctx.role.as_str() {
        // Blocking producer: sleeps on the futex when the small ring is full,
        // woken by the async consumer's releases.
        "producer" => {
            let mut tx = region.producer().expect("producer");
            for seq in 0..COUNT {
                fill_message(seq, lengths.next_len(), &mut msg);
                tx.send(&msg).expect("send");
            }
        }
        // Blocking consumer, slower than the async producer now and then.
        "consumer" => {
            let mut rx = region.consumer().expect("consumer");
            for seq in 0..COUNT {
                rx.recv(&mut msg).expect("receive");
                check_message(seq, lengths.next_len(), &msg).expect("message intact");
                if seq % 1000 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            assert!(matches!(rx.recv(&mut msg), Err(RecvError::Disconnected)));
        }
        role => panic!("unknown role {role}"),
    }
}

fn small_ring(kind: WakeupKind) -> Region {
    let config = Config::new().capacity(4096).max_message(1024).wakeup(kind);
    Region::create_anonymous(&config).expect("anonymous region")
}

fn async_consumer_against_blocking_producer(kind: WakeupKind) {
    let _serial = common::serial();
    let region = small_ring(kind);
    let mut rx = AsyncConsumer::new(region.consumer().expect("consumer")).expect("awaitable");
    let handoff = region.handoff().expect("handoff");
    let mut child = spawn_child("child_entry", "producer", Some(&handoff.token()), "");
    drop(handoff);
    runtime().block_on(async {
        let mut lengths = Lengths::new(3, 600);
        let mut buf = Vec::new();
        for seq in 0..COUNT {
            rx.recv(&mut buf).await.expect("receive");
            check_message(seq, lengths.next_len(), &buf).expect("message intact");
        }
        assert!(matches!(
            rx.recv(&mut buf).await,
            Err(RecvError::Disconnected)
        ));
    });
    child.assert_success(HANG_GUARD);
}

fn async_producer_against_blocking_consumer(kind: WakeupKind) {
    let _serial = common::serial();
    let region = small_ring(kind);
    let mut tx = AsyncProducer::new(region.producer().expect("producer")).expect("awaitable");
    let handoff = region.handoff().expect("handoff");
    let mut child = spawn_child("child_entry", "consumer", Some(&handoff.token()), "");
    drop(handoff);
    runtime().block_on(async {
        let mut lengths = Lengths::new(3, 600);
        let mut msg = Vec::new();
        for seq in 0..COUNT {
            fill_message(seq, lengths.next_len(), &mut msg);
            if seq % 2 == 0 {
                tx.send(&msg).await.expect("send");
            } else {
                let mut grant = tx.reserve(msg.len()).await.expect("reserve");
                grant.write_at(0, &msg).expect("fill");
                grant.commit();
            }
        }
    });
    drop(tx);
    child.assert_success(HANG_GUARD);
}

#[test]
fn async_consumer_futex() {
    async_consumer_against_blocking_producer(WakeupKind::Futex);
}

#[test]
fn async_consumer_hybrid() {
    async_consumer_against_blocking_producer(WakeupKind::Hybrid);
}

#[test]
fn async_producer_futex() {
    async_producer_against_blocking_consumer(WakeupKind::Futex);
}

#[test]
fn async_producer_hybrid() {
    async_producer_against_blocking_consumer(WakeupKind::Hybrid);
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).expect("pin to a CPU");
}

/// A hybrid wait spends its spin budget over several polls and returns to the
/// runtime in between, so another task on the same (only) thread runs while
/// one waits in its spin. Spun inside a single poll, the budget (an hour here)
/// would keep the sending task from ever running.
#[test]
fn a_spinning_wait_lets_other_tasks_on_its_thread_run() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        // A hybrid wait spins only when its peer last ran on another CPU.
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let config = Config::new()
        .capacity(4096)
        .max_message(1024)
        .wakeup(WakeupKind::Hybrid)
        .spin_budget(std::time::Duration::from_secs(3600));
    let region = Region::create_anonymous(&config).expect("anonymous region");
    // The producer records CPU 1 as its own (refreshed only every 64
    // sends, so it stays there for the rounds below); the consumer CPU 0, so
    // that the consumer's waits spin.
    let (region, mut tx) = std::thread::spawn(move || {
        pin(1);
        let tx = region.producer().expect("producer");
        (region, tx)
    })
    .join()
    .expect("producer thread");
    let (done, finished) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        pin(0);
        let mut rx = AsyncConsumer::new(region.consumer().expect("consumer")).expect("awaitable");
        runtime().block_on(async move {
            let mut buf = Vec::new();
            for round in 0..10u8 {
                // Spawned before the receive starts waiting: it runs only when
                // that wait gives the thread back.
                let sender = tokio::spawn(async move {
                    tx.send(&[round]).expect("send");
                    tx
                });
                rx.recv(&mut buf).await.expect("receive");
                assert_eq!(buf, [round]);
                tx = sender.await.expect("sender task");
            }
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(HANG_GUARD)
        .expect("the sending task ran while the receive spun (hang guard)");
    server.join().expect("runtime thread");
}

#[test]
fn named_futex_region_is_not_pollable() {
    let name = common::unique_name("anamed");
    let region = Region::create_named(&name, &Config::new().wakeup(WakeupKind::Futex))
        .expect("named region");
    let err = AsyncConsumer::new(region.consumer().expect("consumer")).unwrap_err();
    assert!(matches!(
        err,
        NotPollable::NoWakeDescriptors {
            wakeup: WakeupKind::Futex
        }
    ));
    assert!(err.to_string().contains("create_anonymous"), "{err}");
}
