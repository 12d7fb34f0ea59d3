//! Fuzz target `producer_corrupt`: [`producer_corrupt`] says what it feeds the library and checks.

use super::*;

/// The producer over an arbitrary consumer position (behind, ahead, unaligned,
/// anything), arbitrary ring bytes and control words: `try_send`,
/// `try_reserve` + write + `commit` / `commit_len` / abandon and the timed
/// calls must never panic or write outside the ring, and fail only with typed
/// errors.
pub fn producer_corrupt(data: &[u8]) {
    let mut input = Input::new(data);
    let (g, wakeup) = geometry_from(&mut input);
    let (shared, mut producer, mut consumer) = heap_pair(g, wakeup);
    let mut pattern = [0u8; 4096];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    let max = g.max_message as usize;
    let mut buf = Vec::new();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        match input.u8() % 10 {
            0 | 1 => scribble_control(&shared, &mut input),
            2 => {
                let off = u64::from(input.u16());
                let n = usize::from(input.u8() % 64);
                scribble(&shared, off, input.bytes_up_to(n));
            }
            3 => {
                let len = usize::from(input.u16()) % (max + 2);
                match producer.try_send(&pattern[..len.min(pattern.len())]) {
                    Err(SendError::TooLarge { len: l, max: m, .. }) => {
                        assert!(l > m && m == max)
                    }
                    Err(SendError::Full { needed }) => {
                        assert!(needed as u64 <= g.capacity + Geometry::record_size(len as u64))
                    }
                    _ => {}
                }
            }
            4 | 5 => {
                let len = usize::from(input.u16()) % (max + 2);
                let how = input.u8();
                let cut = usize::from(input.u16());
                if let Ok(mut grant) = producer.try_reserve(len) {
                    assert_eq!(grant.len(), len);
                    assert_eq!(grant.as_mut_ptr() as usize % 8, 0);
                    let _ = grant.write_at(0, &pattern[..len.min(pattern.len())]);
                    assert!(grant.write_at(len, &[1]).is_err());
                    match how % 4 {
                        0 => grant.commit(),
                        1 => {
                            let r = grant.commit_len(cut % (len + 2));
                            assert_eq!(r.is_ok(), cut % (len + 2) <= len);
                        }
                        2 => {
                            use std::io::Write;
                            let _ = grant.write(&pattern[..cut % (len + 1)]);
                            grant.commit_written();
                        }
                        _ => {
                            let _abandoned = grant;
                        }
                    }
                }
            }
            6 => {
                let len = usize::from(input.u8());
                let _ = producer.send_timeout(&pattern[..len.min(max)], Duration::ZERO);
            }
            7 => {
                let len = usize::from(input.u8());
                let _ = producer.wait_for_room(len, Duration::ZERO);
            }
            8 => {
                // The honest consumer moves too (it may see the corruption).
                let r = consumer.try_recv(&mut buf);
                let got = buf.len();
                check_recv(r, got, &g);
            }
            _ => {
                let pos = shared
                    .control()
                    .head
                    .head
                    .load(Ordering::Relaxed)
                    .wrapping_add(u64::from(input.u8()) * 8);
                let w = crafted_word(&mut input, pos, &g);
                shared.memory.word(pos).store(w, Ordering::Release);
            }
        }
    }
}
