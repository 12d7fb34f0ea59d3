//! loom models: the ring protocol and every blocking wakeup protocol, checked over
//! all interleavings (bounded by `LOOM_MAX_PREEMPTIONS`). A lost wakeup shows up as
//! a deadlock, which loom reports as a failure.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --lib loom`

use crate::endpoint::in_process_pair;
use crate::layout::Geometry;
use crate::ring::Shared;
use crate::{Consumer, Producer, RecvError, SendError, WakeupKind};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

/// The smallest ring: 64 bytes, messages up to 24 bytes (32-byte records), so
/// two records fill it and a third wraps.
fn pair(kind: WakeupKind) -> (Producer, Consumer) {
    let geometry = Geometry::new(64, 24).unwrap();
    let shared = Arc::new(Shared::model(geometry));
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
