//! Single-process tests of framing edges and of the ring against a model queue.
//! They run on heap memory too, so Miri can check them.

use super::heap_channel;
use crate::{Config, Consumer, Producer, RecvError, SendError, WakeupKind};
use std::collections::VecDeque;

fn pair(capacity: usize, max: usize) -> (Producer, Consumer) {
    let config = Config::new()
        .capacity(capacity)
        .max_message(max)
        .wakeup(WakeupKind::Spin);
    heap_channel(&config).unwrap()
}

fn pattern(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize * 31 + i * 7) as u8)
        .collect()
}

#[test]
fn zero_length_and_max_length_messages() {
    let (mut tx, mut rx) = pair(256, 120);
    tx.try_send(&[]).unwrap();
    tx.try_send(&pattern(1, 120)).unwrap();
    let mut buf = vec![1, 2, 3];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 0);
    assert!(buf.is_empty());
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 120);
    assert_eq!(buf, pattern(1, 120));
    assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
}

#[test]
fn too_large_is_refused_with_both_sizes() {
    let (mut tx, _rx) = pair(256, 120);
    match tx.try_send(&[0; 121]) {
        Err(
            e @ SendError::TooLarge {
                len: 121,
                max: 120,
                limit: crate::MessageLimit::Region,
            },
        ) => assert_eq!(
            e.to_string(),
            "message of 121 bytes exceeds the maximum of 120 bytes; raise Config::max_message \
             when creating the region"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn record_ending_exactly_at_the_end_of_the_ring() {
    // Capacity 128: records of 8+56 = 64 bytes, two fill the ring exactly.
    let (mut tx, mut rx) = pair(128, 56);
    let mut buf = Vec::new();
    for round in 0..10u64 {
        tx.try_send(&pattern(round, 56)).unwrap();
        tx.try_send(&pattern(round + 100, 56)).unwrap();
        assert!(matches!(tx.try_send(&[0; 1]), Err(SendError::Full { .. })));
        rx.try_recv(&mut buf).unwrap();
        assert_eq!(buf, pattern(round, 56));
        rx.try_recv(&mut buf).unwrap();
        assert_eq!(buf, pattern(round + 100, 56));
        assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
    }
}

#[test]
fn wrap_with_padding_keeps_messages_contiguous() {
    let (mut tx, mut rx) = pair(128, 56);
    let mut buf = Vec::new();
    // 8+24 = 32-byte records: after three, 32 bytes remain before the end; a
    // 48-byte record does not fit there and goes to the start behind padding.
    for seq in 0..3 {
        tx.try_send(&pattern(seq, 24)).unwrap();
    }
    for seq in 0..3 {
        rx.try_recv(&mut buf).unwrap();
        assert_eq!(buf, pattern(seq, 24));
    }
    tx.try_send(&pattern(9, 40)).unwrap();
    let grant = rx.try_recv_grant().unwrap();
    assert_eq!(grant.to_vec(), pattern(9, 40));
    assert_eq!(grant.as_ptr() as usize % 8, 0, "payload 8-byte aligned");
    drop(grant);
    assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
}

#[test]
fn uncommitted_grant_publishes_nothing_and_partial_commit_publishes_prefix() {
    let (mut tx, mut rx) = pair(256, 64);
    {
        // Filled, then dropped uncommitted at the end of this scope.
        let mut g = tx.try_reserve(64).unwrap();
        g.write_at(0, b"abandoned").unwrap();
    }
    let mut buf = Vec::new();
    assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
    let mut g = tx.try_reserve(64).unwrap();
    g.write_at(0, b"abc").unwrap();
    assert!(g.write_at(62, b"xyz").is_err());
    g.commit_len(3).unwrap();
    rx.try_recv(&mut buf).unwrap();
    assert_eq!(buf, b"abc");
}

#[test]
fn recv_into_a_short_buffer_leaves_the_message() {
    let (mut tx, mut rx) = pair(256, 64);
    tx.try_send(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    assert!(matches!(
        rx.try_recv_into(&mut small),
        Err(RecvError::BufferTooSmall {
            needed: 10,
            buf_len: 4
        })
    ));
    let mut big = [0u8; 16];
    assert_eq!(rx.try_recv_into(&mut big).unwrap(), 10);
    assert_eq!(&big[..10], b"0123456789");
}

#[test]
fn disconnect_after_drain() {
    let (mut tx, mut rx) = pair(256, 64);
    tx.try_send(b"last words").unwrap();
    drop(tx);
    let mut buf = Vec::new();
    rx.try_recv(&mut buf).unwrap();
    assert_eq!(buf, b"last words");
    assert!(matches!(
        rx.try_recv(&mut buf),
        Err(RecvError::Disconnected)
    ));
    assert!(matches!(rx.recv(&mut buf), Err(RecvError::Disconnected)));
}

#[test]
fn send_to_a_closed_consumer_fails() {
    let (mut tx, rx) = pair(256, 64);
    drop(rx);
    assert!(matches!(tx.try_send(b"x"), Err(SendError::Disconnected)));
    assert!(matches!(tx.send(b"x"), Err(SendError::Disconnected)));
}

#[test]
fn blocking_timeouts() {
    let (mut tx, mut rx) = pair(128, 56);
    let mut buf = Vec::new();
    let t = std::time::Duration::from_millis(5);
    assert!(matches!(
        rx.recv_timeout(&mut buf, t),
        Err(RecvError::Timeout)
    ));
    tx.try_send(&[0; 56]).unwrap();
    tx.try_send(&[0; 56]).unwrap();
    assert!(matches!(
        tx.send_timeout(&[0; 56], t),
        Err(SendError::Timeout)
    ));
}

/// Drives the ring and a `VecDeque` with the same random operations. The model
/// also tracks positions (records, padding at the end of a lap), so `Full` must
/// come exactly when the ring really has no room.
fn run_model(ops: &[(u8, u16)], capacity: usize, max: usize) {
    let (mut tx, mut rx) = pair(capacity, max);
    let cap = capacity as u64;
    // Each queued message with the position just past its record.
    let mut model: VecDeque<(Vec<u8>, u64)> = VecDeque::new();
    // `head` is the consumer's position as the producer knows it: published
    // every capacity/8 bytes (at most 32 KiB) and whenever the ring runs empty.
    let batch = (cap / 8).min(32 << 10);
    let (mut tail, mut head, mut read) = (0u64, 0u64, 0u64);
    let mut seq = 0u64;
    let mut buf = Vec::new();
    for &(op, size) in ops {
        let len = size as usize % (max + 1);
        match op % 4 {
            0 | 1 => {
                let msg = pattern(seq, len);
                let rec = 8 + (len as u64).div_ceil(8) * 8;
                let to_end = cap - tail % cap;
                let start = if rec <= to_end { tail } else { tail + to_end };
                let fits = start + rec <= head + cap;
                match tx.try_send(&msg) {
                    Ok(()) => {
                        assert!(fits, "ring accepted a record that cannot fit");
                        seq += 1;
                        tail = start + rec;
                        model.push_back((msg, tail));
                    }
                    Err(SendError::Full { .. }) => assert!(
                        !fits,
                        "spurious Full: record {start}..{} with the consumer known at {head}",
                        start + rec
                    ),
                    Err(e) => panic!("send: {e}"),
                }
            }
            2 => match rx.try_recv(&mut buf) {
                Ok(_) => {
                    let (want, end) = model
                        .pop_front()
                        .expect("ring returned a message the model lacks");
                    read = end;
                    if read - head >= batch {
                        head = read;
                    }
                    assert_eq!(buf, want);
                }
                Err(RecvError::Empty) => {
                    assert!(model.is_empty(), "ring empty, model not");
                    head = read;
                }
                Err(e) => panic!("recv: {e}"),
            },
            _ => match rx.try_recv_grant() {
                Ok(grant) => {
                    let (want, end) = model.pop_front().expect("extra message");
                    read = end;
                    assert_eq!(grant.to_vec(), want);
                    drop(grant);
                    if read - head >= batch {
                        head = read;
                    }
                }
                Err(RecvError::Empty) => {
                    assert!(model.is_empty());
                    head = read;
                }
                Err(e) => panic!("read: {e}"),
            },
        }
    }
    while let Some((want, _)) = model.pop_front() {
        rx.try_recv(&mut buf).unwrap();
        assert_eq!(buf, want);
    }
    assert!(matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)));
}

#[cfg(not(miri))]
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    #[test]
    fn ring_matches_a_queue(ops in proptest::collection::vec((0u8..4, 0u16..1024), 1..600)) {
        run_model(&ops, 256, 120);
        run_model(&ops, 1024, 500);
    }
}

#[test]
fn model_fixed_sequence() {
    // A deterministic run Miri can afford.
    let ops: Vec<(u8, u16)> = (0..300u32)
        .map(|i| ((i * 7 % 5) as u8, (i * 37 % 130) as u16))
        .collect();
    run_model(&ops, 256, 120);
}

/// Fills a grant with words that read as committed zero-length records of lap 0
/// at any position: the worst stale bytes a later, shorter record can leave.
fn fill_with_fake_headers(grant: &mut crate::WriteGrant<'_>) {
    let fake = crate::ring::record::encode(0, 8, 0).to_le_bytes();
    for at in (0..grant.len() / 8 * 8).step_by(8) {
        grant.write_at(at, &fake).unwrap();
    }
}

#[test]
fn abandoned_grant_bytes_never_read_as_records() {
    let (mut tx, mut rx) = pair(256, 120);
    {
        let mut g = tx.try_reserve(120).unwrap();
        fill_with_fake_headers(&mut g);
    } // dropped uncommitted
    tx.try_send(b"x").unwrap();
    let mut buf = Vec::new();
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 1);
    assert!(
        matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)),
        "phantom record"
    );
}

#[test]
fn partially_committed_grant_bytes_never_read_as_records() {
    let (mut tx, mut rx) = pair(256, 120);
    let mut g = tx.try_reserve(120).unwrap();
    fill_with_fake_headers(&mut g);
    g.commit_len(1).unwrap();
    let mut buf = Vec::new();
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 1);
    assert!(
        matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)),
        "phantom record"
    );
    // And again after the ring has wrapped a few times.
    for round in 0..20u64 {
        {
            let mut g = tx.try_reserve(100).unwrap();
            fill_with_fake_headers(&mut g);
            if round % 2 == 0 {
                g.commit_len(3).unwrap();
            } // odd rounds: dropped uncommitted here
        }
        if round % 2 == 1 {
            tx.try_send(b"abc").unwrap();
        }
        assert_eq!(rx.try_recv(&mut buf).unwrap(), 3);
        assert!(
            matches!(rx.try_recv(&mut buf), Err(RecvError::Empty)),
            "phantom record in round {round}"
        );
    }
}

#[cfg(feature = "bytemuck")]
mod values {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Tick {
        seq: u64,
        price: f64,
    }

    #[test]
    fn values_round_trip_and_a_wrong_size_stays_in_the_ring() {
        let (mut tx, mut rx) = pair(4096, 1024);
        tx.try_send_value(&Tick { seq: 1, price: 2.5 }).unwrap();
        tx.try_send(b"odd").unwrap();
        assert_eq!(
            rx.try_recv_value::<Tick>().unwrap(),
            Tick { seq: 1, price: 2.5 }
        );
        let err = rx.try_recv_value::<Tick>().unwrap_err();
        assert!(
            matches!(
                err,
                RecvError::WrongSize {
                    len: 3,
                    expected: 16
                }
            ),
            "{err:?}"
        );
        let mut buf = Vec::new();
        rx.try_recv(&mut buf).unwrap();
        assert_eq!(buf, b"odd");
        assert!(matches!(rx.try_recv_value::<Tick>(), Err(RecvError::Empty)));
    }
}
