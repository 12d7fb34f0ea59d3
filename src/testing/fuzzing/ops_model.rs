//! Fuzz target `ops_model`: [`ops_model`] says what it feeds the library and checks.

use super::*;

/// An operation sequence against a `VecDeque` model: `send`, `try_reserve` and
/// `commit` / `commit_len` / `commit_written` / abandon, `try_recv`,
/// `try_recv_into` (too small and large enough), zero-copy `try_recv_grant` then
/// release or drop, with sizes from the input. The model tracks positions
/// exactly (record sizes, padding at the end of a lap, the consumer's batched
/// publication of its position), so it also predicts `Full`, `Empty` and
/// `TooLarge`: every result must equal the model's, every message byte for byte.
pub fn ops_model(data: &[u8]) {
    let mut input = Input::new(data);
    let (g, wakeup) = geometry_from(&mut input);
    let (_shared, mut producer, mut consumer) = heap_pair(g, wakeup);
    let max = g.max_message as usize;
    // Model: published messages with their record's start position.
    let mut queue: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    // `head`: where the consumer has read to; `published`: what the producer
    // was told. The consumer publishes once a batch (capacity/8, at most 32 KiB)
    // was freed, and whenever a receive finds the ring empty.
    let (mut tail, mut head, mut published) = (0u64, 0u64, 0u64);
    let batch = (g.capacity / 8).min(32 << 10);
    let released = |head: u64, published: &mut u64| {
        if head - *published >= batch {
            *published = head;
        }
    };
    let mut seq = 0u32;
    let place = |tail: u64, len: usize| -> (u64, u64) {
        let rec = Geometry::record_size(len as u64);
        let to_end = g.capacity - (tail & g.mask);
        let start = if rec <= to_end { tail } else { tail + to_end };
        (start, start + rec)
    };
    let message = |seq: u32, len: usize| -> Vec<u8> {
        (0..len)
            .map(|i| (seq.wrapping_mul(131) as usize + i * 17) as u8)
            .collect()
    };
    let mut buf = Vec::new();
    let mut slice = vec![0u8; max + 8];
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8() % 8;
        let len = match input.u8() % 4 {
            0 => 0,
            1 => max,
            _ => usize::from(input.u16()) % (max + 2),
        };
        match op {
            0 | 1 => {
                // send, or reserve + one of the commits / abandon
                seq += 1;
                let msg = message(seq, len);
                let (start, end) = place(tail, len);
                let fits = len <= max && end <= published + g.capacity;
                let how = input.u8() % 5;
                let cut = usize::from(input.u16()) % (len + 1);
                let result = if op == 0 {
                    producer.try_send(&msg).map(|()| Some(len))
                } else {
                    producer.try_reserve(len).map(|mut grant| {
                        assert_eq!(grant.len(), len);
                        match how {
                            0 => {
                                grant.write_at(0, &msg).expect("in bounds");
                                grant.commit();
                                Some(len)
                            }
                            1 => {
                                grant.write_at(0, &msg).expect("in bounds");
                                grant.commit_len(cut).expect("cut <= len");
                                Some(cut)
                            }
                            2 => {
                                use std::io::Write;
                                grant.write_all(&msg[..cut]).expect("fits");
                                grant.commit_written();
                                Some(cut)
                            }
                            3 => {
                                grant.write_at(0, &msg).expect("in bounds");
                                assert!(grant.commit_len(len + 1).is_err());
                                None
                            }
                            _ => {
                                // Abandoned after scribbling the whole grant.
                                grant.write_at(0, &vec![0xff; len]).expect("in bounds");
                                let _abandoned = grant;
                                None
                            }
                        }
                    })
                };
                match result {
                    Ok(published) => {
                        assert!(
                            fits,
                            "reservation of {len} succeeded; the model says no room"
                        );
                        if let Some(n) = published {
                            queue.push_back((start, msg[..n].to_vec()));
                            tail = start + Geometry::record_size(n as u64);
                        }
                    }
                    Err(SendError::TooLarge { .. }) => assert!(len > max),
                    Err(SendError::Full { needed }) => {
                        assert!(
                            len <= max && !fits,
                            "Full, but the model has room for {len}"
                        );
                        assert_eq!(needed as u64, end - tail);
                    }
                    Err(e) => panic!("send of {len}: {e}"),
                }
            }
            2 | 3 => {
                let r = consumer.try_recv(&mut buf);
                match (r, queue.pop_front()) {
                    (Ok(n), Some((start, want))) => {
                        assert_eq!(n, want.len());
                        assert_eq!(buf, want);
                        head = start + Geometry::record_size(n as u64);
                        released(head, &mut published);
                    }
                    (Err(RecvError::Empty), None) => published = head,
                    (r, want) => panic!("try_recv: {r:?}, model: {want:?}"),
                }
            }
            4 => {
                let n = len.min(slice.len());
                let r = consumer.try_recv_into(&mut slice[..n]);
                match (r, queue.front()) {
                    (Ok(got), Some((start, want))) => {
                        assert_eq!(&slice[..got], &want[..]);
                        head = start + Geometry::record_size(got as u64);
                        released(head, &mut published);
                        queue.pop_front();
                    }
                    (Err(RecvError::BufferTooSmall { needed, buf_len }), Some((_, want))) => {
                        assert_eq!((needed, buf_len), (want.len(), n));
                        assert!(want.len() > n);
                    }
                    (Err(RecvError::Empty), None) => published = head,
                    (r, want) => panic!("try_recv_into({n}): {r:?}, model: {want:?}"),
                }
            }
            5 | 6 => {
                let release = input.u8() % 2 == 0;
                match (consumer.try_recv_grant(), queue.pop_front()) {
                    (Ok(grant), Some((start, want))) => {
                        assert_eq!(grant.to_vec(), want);
                        // SAFETY: both ends are in this function, and the producer
                        // does not run while the slice is in use.
                        assert_eq!(unsafe { grant.as_slice() }, &want[..]);
                        head = start + Geometry::record_size(want.len() as u64);
                        released(head, &mut published);
                        if release {
                            grant.release();
                        } else {
                            drop(grant);
                        }
                    }
                    (Err(RecvError::Empty), None) => published = head,
                    (Ok(grant), None) => {
                        panic!("try_recv_grant: {} bytes, model empty", grant.len())
                    }
                    (Err(e), want) => panic!("try_recv_grant: {e}, model: {want:?}"),
                }
            }
            _ => {
                let r = consumer.recv_timeout(&mut buf, Duration::ZERO);
                match (r, queue.pop_front()) {
                    (Ok(n), Some((start, want))) => {
                        assert_eq!(buf, want);
                        head = start + Geometry::record_size(n as u64);
                        released(head, &mut published);
                    }
                    (Err(RecvError::Timeout), None) => published = head,
                    (r, want) => panic!("recv_timeout: {r:?}, model: {want:?}"),
                }
            }
        }
    }
    // Drain: exactly the model's messages, in order, then Empty; then a close
    // turns into Disconnected.
    while let Some((_, want)) = queue.pop_front() {
        let n = consumer
            .try_recv(&mut buf)
            .expect("a message the model holds");
        assert_eq!(&buf[..n], &want[..]);
    }
    assert!(matches!(consumer.try_recv(&mut buf), Err(RecvError::Empty)));
    drop(producer);
    assert!(matches!(
        consumer.try_recv(&mut buf),
        Err(RecvError::Disconnected)
    ));
}
