//! loom models: the ring protocol and every blocking wakeup protocol, checked over
//! all interleavings (bounded by `LOOM_MAX_PREEMPTIONS`). A lost wakeup shows up as
//! a deadlock, which loom reports as a failure.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom`

use crate::endpoint::in_process_pair;
use crate::layout::Geometry;
use crate::platform::{Doorbells, RingStorage};
use crate::ring::Shared;
use crate::{Consumer, Producer, RecvError, SendError, WakeupKind};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

/// The smallest ring: 64 bytes, messages up to 24 bytes (32-byte records), so
/// two records fill it and a third wraps.
fn pair(kind: WakeupKind) -> (Producer, Consumer) {
    let geometry = Geometry::new(64, 24).unwrap();
    let shared = Arc::new(Shared::new(
        RingStorage::model(geometry),
        Some(Doorbells::new()),
    ));
    in_process_pair(shared, kind, Duration::from_micros(1))
}

fn msg(i: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|j| i.wrapping_mul(17).wrapping_add(j as u8))
        .collect()
}

/// The producer sends `sizes` with blocking sends; the consumer receives them
/// with blocking receives and checks every byte, then sees the disconnect.
fn transfer(kind: WakeupKind, sizes: &'static [usize]) {
    loom::model(move || {
        let (mut tx, mut rx) = pair(kind);
        let producer = thread::spawn(move || {
            for (i, &len) in sizes.iter().enumerate() {
                tx.send(&msg(i as u8, len)).unwrap();
            }
        });
        let mut buf = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            rx.recv(&mut buf).unwrap();
            assert_eq!(buf, msg(i as u8, len));
        }
        assert!(matches!(rx.recv(&mut buf), Err(RecvError::Disconnected)));
        producer.join().unwrap();
    });
}

// Ring protocol with spinning waits: ordering of payload vs commit word, the
// zeroed next word, and a wrap with padding (24-byte records: 32, 32, then the
// third goes behind padding at offset 0 of the next lap only after room frees).
#[test]
fn loom_ring_spin_transfer_with_wrap() {
    transfer(WakeupKind::Spin, &[8, 20, 16]);
}

#[test]
fn loom_futex_no_lost_wakeup() {
    transfer(WakeupKind::Futex, &[8, 16]);
}

#[test]
fn loom_eventfd_no_lost_wakeup() {
    transfer(WakeupKind::EventFd, &[8, 16]);
}

#[test]
fn loom_hybrid_no_lost_wakeup() {
    transfer(WakeupKind::Hybrid, &[8, 16]);
}

// The producer blocks on a full ring and must be woken by the consumer's release.
#[test]
fn loom_futex_full_ring_wakes_producer() {
    transfer(WakeupKind::Futex, &[24, 24, 24]);
}

#[test]
fn loom_eventfd_full_ring_wakes_producer() {
    transfer(WakeupKind::EventFd, &[24, 24, 24]);
}

// The producer blocks on a full ring of four 16-byte records; the consumer's
// releases announce the freed room only once a batch (the whole ring under
// loom) is free or it has read everything, and publish it quietly in between.
// No interleaving may leave the producer asleep for good.
#[test]
fn loom_futex_batched_room_wake() {
    transfer(WakeupKind::Futex, &[8, 8, 8, 8, 8, 8]);
}

#[test]
fn loom_eventfd_batched_room_wake() {
    transfer(WakeupKind::EventFd, &[8, 8, 8, 8, 8, 8]);
}

#[test]
fn loom_hybrid_batched_room_wake() {
    transfer(WakeupKind::Hybrid, &[8, 8, 8, 8, 8]);
}

/// A producer blocked on a full ring must be woken when the consumer has read
/// everything, less than a batch: three 16-byte records are in the ring, the
/// consumer reads one, the producer blocks on a 24-byte message that must wrap
/// (it needs the first 32 bytes of the next lap free), and the consumer reads
/// the other two and finds the ring empty.
fn drained_ring_wakes_producer(kind: WakeupKind) {
    loom::model(move || {
        let (mut tx, mut rx) = pair(kind);
        for i in 0..3 {
            tx.send(&msg(i, 8)).unwrap();
        }
        let mut buf = Vec::new();
        rx.recv(&mut buf).unwrap();
        assert_eq!(buf, msg(0, 8));
        let consumer = thread::spawn(move || {
            let mut buf = Vec::new();
            for i in 1..3 {
                rx.recv(&mut buf).unwrap();
                assert_eq!(buf, msg(i, 8));
            }
            rx.recv(&mut buf).unwrap();
            assert_eq!(buf, msg(3, 24));
        });
        tx.send(&msg(3, 24)).unwrap();
        consumer.join().unwrap();
    });
}

#[test]
fn loom_futex_drained_ring_wakes_producer() {
    drained_ring_wakes_producer(WakeupKind::Futex);
}

#[test]
fn loom_eventfd_drained_ring_wakes_producer() {
    drained_ring_wakes_producer(WakeupKind::EventFd);
}

/// A blocked consumer must learn of the producer's close.
fn close_wakes_consumer(kind: WakeupKind) {
    loom::model(move || {
        let (tx, mut rx) = pair(kind);
        let producer = thread::spawn(move || drop(tx));
        let mut buf = Vec::new();
        assert!(matches!(rx.recv(&mut buf), Err(RecvError::Disconnected)));
        producer.join().unwrap();
    });
}

/// A producer blocked on a full ring must learn of the consumer's close.
fn close_wakes_producer(kind: WakeupKind) {
    loom::model(move || {
        let (mut tx, rx) = pair(kind);
        tx.send(&[1; 24]).unwrap();
        tx.send(&[2; 24]).unwrap();
        let consumer = thread::spawn(move || drop(rx));
        assert!(matches!(tx.send(&[3; 24]), Err(SendError::Disconnected)));
        consumer.join().unwrap();
    });
}

#[test]
fn loom_close_wakes_blocked_consumer() {
    for kind in WakeupKind::ALL {
        close_wakes_consumer(kind);
    }
}

#[test]
fn loom_close_wakes_blocked_producer() {
    for kind in WakeupKind::ALL {
        close_wakes_producer(kind);
    }
}

// Event-loop waits (tokio, epoll): the waiter arms its signal as polled,
// re-checks, and waits for its wake descriptor instead of the futex word; the
// notifier must ring the descriptor, whatever its strategy. The model's
// descriptor is the same stand-in the eventfd strategy sleeps on.

/// Receives as an event loop does: try, arm polled, re-check, await the
/// descriptor, disarm, try again.
fn polled_recv(rx: &mut Consumer, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
    loop {
        match rx.try_recv(buf) {
            Err(RecvError::Empty) => {}
            other => return other,
        }
        let seq = rx.link_mut().arm_polled();
        if !rx.recv_would_finish(true) {
            await_descriptor(rx.link_mut());
        }
        rx.link_mut().disarm_polled(seq);
    }
}

/// The model's stand-in for an event loop waiting for a side's wake
/// descriptor to turn readable (and draining it).
fn await_descriptor(link: &crate::endpoint::Link) {
    if let Some(bell) = link.own_doorbell() {
        let _ = bell.wait(Duration::MAX);
    }
}

/// Sends as an event loop does, waiting for room on the descriptor.
fn polled_send(tx: &mut Producer, msg: &[u8]) -> Result<(), SendError> {
    loop {
        match tx.try_send(msg) {
            Err(SendError::Full { .. }) => {}
            other => return other,
        }
        let seq = tx.link_mut().arm_polled();
        if !tx.reserve_would_finish(msg.len(), true) {
            await_descriptor(tx.link_mut());
        }
        tx.link_mut().disarm_polled(seq);
    }
}

/// `sizes` through a ring whose consumer (`polled_rx`) and/or producer
/// (`polled_tx`) wait as an event loop does; the other side blocks as usual.
fn polled_transfer(kind: WakeupKind, sizes: &'static [usize], polled_tx: bool, polled_rx: bool) {
    loom::model(move || {
        let (mut tx, mut rx) = pair(kind);
        let producer = thread::spawn(move || {
            for (i, &len) in sizes.iter().enumerate() {
                let m = msg(i as u8, len);
                if polled_tx {
                    polled_send(&mut tx, &m).unwrap();
                } else {
                    tx.send(&m).unwrap();
                }
            }
        });
        let mut buf = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            if polled_rx {
                polled_recv(&mut rx, &mut buf).unwrap();
            } else {
                rx.recv(&mut buf).unwrap();
            }
            assert_eq!(buf, msg(i as u8, len));
        }
        let end = if polled_rx {
            polled_recv(&mut rx, &mut buf)
        } else {
            rx.recv(&mut buf)
        };
        assert!(matches!(end, Err(RecvError::Disconnected)));
        producer.join().unwrap();
    });
}

#[test]
fn loom_polled_consumer_no_lost_wakeup() {
    for kind in [WakeupKind::Futex, WakeupKind::Hybrid, WakeupKind::EventFd] {
        polled_transfer(kind, &[8, 16], false, true);
    }
}

#[test]
fn loom_polled_producer_full_ring_woken() {
    for kind in [WakeupKind::Futex, WakeupKind::Hybrid] {
        polled_transfer(kind, &[24, 24, 24], true, false);
    }
}

#[test]
fn loom_polled_both_sides_full_ring() {
    polled_transfer(WakeupKind::Futex, &[24, 24, 24], true, true);
}

/// A polled consumer learns of the producer's close.
#[test]
fn loom_close_wakes_polled_consumer() {
    for kind in [WakeupKind::Futex, WakeupKind::Hybrid] {
        loom::model(move || {
            let (tx, mut rx) = pair(kind);
            let producer = thread::spawn(move || drop(tx));
            let mut buf = Vec::new();
            assert!(matches!(
                polled_recv(&mut rx, &mut buf),
                Err(RecvError::Disconnected)
            ));
            producer.join().unwrap();
        });
    }
}

// A connection's move, on the real rings: the old leg carries a message, a
// control record (the proposal) and another message, then closes (the
// marker); the new leg carries the rest. The receiver reads the old leg to
// its end before the new one, and gets every message once, in order.
#[test]
fn loom_move_marker_orders_old_leg_before_new() {
    use crate::endpoint::Deadline;
    use crate::endpoint::Got;
    loom::model(|| {
        let (mut old_tx, mut old_rx) = pair(WakeupKind::Spin);
        let (mut new_tx, new_rx) = pair(WakeupKind::Spin);
        let sender = thread::spawn(move || {
            old_tx.send(&[0]).unwrap();
            old_tx.send_control_by(&[9, 9], Deadline::Forever).unwrap();
            old_tx.send(&[1]).unwrap();
            drop(old_tx);
            new_tx.send(&[2]).unwrap();
        });
        let mut buf = Vec::new();
        let mut got = Vec::new();
        let mut controls = 0;
        loop {
            match old_rx.recv_conn_by(&mut buf, Deadline::Forever) {
                Ok(Got::Data(_)) => got.push(buf[0]),
                Ok(Got::Control(c)) => {
                    assert_eq!(c, [9, 9]);
                    controls += 1;
                }
                Err(RecvError::Disconnected) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        let mut new_rx = new_rx;
        new_rx.recv(&mut buf).unwrap();
        got.push(buf[0]);
        assert_eq!((got, controls), (vec![0, 1, 2], 1));
        sender.join().unwrap();
    });
}

// The hand-over between a connection's halves: the receiving half queues two
// new legs (two moves in a row) while the sending half sends, checking the
// queue before each send. Every message lands on a leg the reader reads in
// order: the legs the sender skips close empty, in order.
#[test]
fn loom_move_legs_queue_between_halves_in_order() {
    use crate::handover::LegQueue;
    loom::model(|| {
        let (old_tx, old_rx) = pair(WakeupKind::Spin);
        let (tx1, rx1) = pair(WakeupKind::Spin);
        let (tx2, rx2) = pair(WakeupKind::Spin);
        let queue: Arc<LegQueue<Producer>> = Arc::default();
        let q = queue.clone();
        let joiner = thread::spawn(move || {
            q.put(tx1);
            q.put(tx2);
        });
        let q = queue.clone();
        let sender = thread::spawn(move || {
            let mut tx = old_tx;
            for i in 0..2u8 {
                if q.is_ready() {
                    for leg in q.take_all() {
                        tx = leg;
                    }
                }
                tx.send(&[i]).unwrap();
            }
        });
        joiner.join().unwrap();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for mut rx in [old_rx, rx1, rx2] {
            loop {
                match rx.recv(&mut buf) {
                    Ok(_) => got.push(buf[0]),
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            // A leg never sent on stays open until the sender is done.
            if got.len() == 2 {
                break;
            }
        }
        sender.join().unwrap();
        assert_eq!(got, vec![0, 1]);
    });
}
