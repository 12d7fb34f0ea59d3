//! A peer process killed with SIGKILL (no destructor runs, its end is never
//! closed) while the other side waits: the waiting call must end with
//! `PeerDied` within a bounded time (liveness interval 50 ms; the 2 s bound is a
//! hang guard, not a performance figure), after delivering every message
//! committed before the death. For every wakeup strategy.

mod common;

use common::{spawn_child, ChildProc, Stream, HANG_GUARD, READY};
use mempipe::{Config, Consumer, RecvError, Region, SendError, WakeupKind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIVENESS: Duration = Duration::from_millis(50);
/// How long a blocked call may take to notice the death.
const NOTICE_BOUND: Duration = Duration::from_secs(2);
/// How long the parent lets the waiting side block before the kill.
const BLOCK_FIRST: Duration = Duration::from_millis(150);

fn config(wakeup: WakeupKind, capacity: usize, max: usize) -> Config {
    Config::new()
        .capacity(capacity)
        .max_message(max)
        .wakeup(wakeup)
        .liveness_interval(LIVENESS)
}

/// A stream that fits the 64 KiB ring whole: 200 records of at most 8 + 256 bytes.
fn small_stream(wakeup: WakeupKind) -> Stream {
    Stream {
        seed: 0xdead_0000 + wakeup as u64,
        count: 200,
        max: 256,
    }
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let region = ctx.inherited_region();
    match ctx.role.as_str() {
        "produce_then_park" => {
            let mut producer = region.producer().expect("claim the producer end");
            common::send_stream(&mut producer, Stream::from_ctx(&ctx, 0));
            common::signal_ready();
            common::park_forever();
        }
        "claim_producer_then_park" => {
            let _producer = region.producer().expect("claim the producer end");
            common::signal_ready();
            common::park_forever();
        }
        "claim_consumer_then_park" => {
            let _consumer = region.consumer().expect("claim the consumer end");
            common::signal_ready();
            common::park_forever();
        }
        role => panic!("unknown role {role}"),
    }
}

fn spawn(region: &Region, role: &str, arg: &str) -> ChildProc {
    let handoff = region.handoff().expect("handoff");
    let mut child = spawn_child("child_entry", role, Some(&handoff.token()), arg);
    drop(handoff);
    child.wait_for_line(READY, HANG_GUARD);
    child
}

/// Consumer blocked in `recv()` on an empty ring; the producer is killed.
fn consumer_blocked_producer_killed(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup, 64 << 10, 256)).expect("create");
    let mut consumer = region.consumer().expect("claim consumer");
    let s = small_stream(wakeup);
    let mut child = spawn(&region, "produce_then_park", &s.to_arg());

    let (drained_tx, drained) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        common::recv_stream(&mut consumer, s);
        drained_tx.send(()).unwrap();
        let mut buf = Vec::new();
        let result = consumer.recv(&mut buf);
        let _ = done_tx.send((result, Instant::now()));
    });
    drained
        .recv_timeout(HANG_GUARD)
        .expect("the consumer did not receive the messages committed before the kill");
    let (result, took) = common::kill_while_blocked(&mut child, &done, BLOCK_FIRST, "recv()");
    match result {
        Err(RecvError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
    assert!(took < NOTICE_BOUND, "death noticed after {took:?}");
    child.reap_killed();
}

/// The producer commits messages and is killed before the consumer reads any:
/// every committed message is still delivered, then `PeerDied`.
fn committed_messages_survive_the_producer(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup, 64 << 10, 256)).expect("create");
    let mut consumer = region.consumer().expect("claim consumer");
    let s = small_stream(wakeup);
    let mut child = spawn(&region, "produce_then_park", &s.to_arg());
    child.kill();
    child.reap_killed();
    common::recv_stream(&mut consumer, s);
    let mut buf = Vec::new();
    let started = Instant::now();
    match consumer.recv_timeout(&mut buf, HANG_GUARD) {
        Err(RecvError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
        other => panic!("expected PeerDied after the drain, got {other:?}"),
    }
    assert!(started.elapsed() < NOTICE_BOUND);
    // Non-blocking calls report the death too, never a stale message.
    assert!(matches!(
        consumer.try_recv(&mut buf),
        Err(RecvError::PeerDied { pid }) if pid == child.pid()
    ));
}

/// Producer blocked in `send()` on a full ring; the consumer is killed.
fn producer_blocked_consumer_killed(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup, 4096, 1024)).expect("create");
    let mut producer = region.producer().expect("claim producer");
    let mut child = spawn(&region, "claim_consumer_then_park", "");
    let mut sent = 0;
    loop {
        match producer.try_send(&[7u8; 100]) {
            Ok(()) => sent += 1,
            Err(SendError::Full { needed }) => {
                // A record of 8 + 104 bytes, plus padding to the end of the ring.
                assert_eq!(needed, 8 + 104 + (4096 - sent * (8 + 104)));
                break;
            }
            Err(e) => panic!("filling the ring: {e}"),
        }
    }
    assert_eq!(sent, 4096 / (8 + 104));

    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let result = producer.send(&[8u8; 100]);
        let _ = done_tx.send((result, Instant::now()));
    });
    let (result, took) = common::kill_while_blocked(&mut child, &done, BLOCK_FIRST, "send()");
    match result {
        Err(SendError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
    assert!(took < NOTICE_BOUND, "death noticed after {took:?}");
    child.reap_killed();
}

/// Calls `call` until it reports the peer's death (`Ok(pid)`), at most for
/// [`NOTICE_BOUND`]; `Err` results (timeouts, empty or full) mean "again".
fn until_peer_died<E: std::fmt::Debug>(
    what: &str,
    mut call: impl FnMut() -> Result<u32, E>,
) -> u32 {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < NOTICE_BOUND {
        match call() {
            Ok(pid) => return pid,
            Err(e) => last = Some(e),
        }
    }
    panic!("{what} never reported the dead peer within {NOTICE_BOUND:?}; last: {last:?}")
}

/// A consumer (with its region) whose producer, a child process, was killed
/// and reaped.
fn consumer_of_a_killed_producer(wakeup: WakeupKind) -> (Region, Consumer, ChildProc) {
    let region = Region::create_anonymous(&config(wakeup, 64 << 10, 256)).expect("create");
    let consumer = region.consumer().expect("claim consumer");
    let mut child = spawn(&region, "claim_producer_then_park", "");
    child.kill();
    child.reap_killed();
    (region, consumer, child)
}

/// `Ok(pid)` if a receive reported the producer's death, else the result
/// itself (for [`until_peer_died`]).
fn died(r: Result<usize, RecvError>) -> Result<u32, Result<usize, RecvError>> {
    match r {
        Err(RecvError::PeerDied { pid }) => Ok(pid),
        other => Err(other),
    }
}

/// The producer is killed and reaped; the consumer then polls in slices just
/// shorter than the liveness interval (timed receives, `wait_for_message`) or
/// with `try_recv`: each must report `PeerDied`, not time out (or find the ring
/// empty) forever.
fn short_timed_receives_learn_of_a_dead_producer(wakeup: WakeupKind) {
    let _serial = common::serial();
    let slice = LIVENESS - Duration::from_millis(1);
    let (_region, mut consumer, child) = consumer_of_a_killed_producer(wakeup);
    let mut buf = Vec::new();
    let pid = until_peer_died("recv_timeout", || {
        died(consumer.recv_timeout(&mut buf, slice))
    });
    assert_eq!(pid, child.pid());
    let pid = until_peer_died("wait_for_message", || {
        died(consumer.wait_for_message(slice).map(|()| 0))
    });
    assert_eq!(pid, child.pid());
    let pid = until_peer_died("try_recv", || {
        std::thread::sleep(Duration::from_millis(1));
        died(consumer.try_recv(&mut buf))
    });
    assert_eq!(pid, child.pid());
}

/// A fresh consumer that only ever calls `try_recv` (never a blocking call)
/// after the producer died: it learns of the death too.
fn a_try_recv_loop_learns_of_a_dead_producer(wakeup: WakeupKind) {
    let _serial = common::serial();
    let (_region, mut consumer, child) = consumer_of_a_killed_producer(wakeup);
    let mut buf = Vec::new();
    let pid = until_peer_died("try_recv", || died(consumer.try_recv(&mut buf)));
    assert_eq!(pid, child.pid());
}

/// The consumer is killed and reaped while the ring is full; the producer then
/// retries in slices just shorter than the liveness interval (`send_timeout`,
/// `wait_for_room`) or with `try_send`: each must report `PeerDied`.
fn short_timed_sends_learn_of_a_dead_consumer(wakeup: WakeupKind) {
    let _serial = common::serial();
    let slice = LIVENESS - Duration::from_millis(1);
    let region = Region::create_anonymous(&config(wakeup, 4096, 1024)).expect("create");
    let mut producer = region.producer().expect("claim producer");
    let mut child = spawn(&region, "claim_consumer_then_park", "");
    while producer.try_send(&[7u8; 100]).is_ok() {}
    child.kill();
    child.reap_killed();
    let died = |r: Result<(), SendError>| match r {
        Err(SendError::PeerDied { pid }) => Ok(pid),
        other => Err(other),
    };
    let pid = until_peer_died("send_timeout", || {
        died(producer.send_timeout(&[8u8; 100], slice))
    });
    assert_eq!(pid, child.pid());
    let pid = until_peer_died("wait_for_room", || died(producer.wait_for_room(100, slice)));
    assert_eq!(pid, child.pid());
    let pid = until_peer_died("try_send", || {
        std::thread::sleep(Duration::from_millis(1));
        died(producer.try_send(&[9u8; 100]))
    });
    assert_eq!(pid, child.pid());
}

common::per_wakeup!(
    consumer_blocked_producer_killed,
    committed_messages_survive_the_producer,
    producer_blocked_consumer_killed,
    short_timed_receives_learn_of_a_dead_producer,
    a_try_recv_loop_learns_of_a_dead_producer,
    short_timed_sends_learn_of_a_dead_consumer,
);
