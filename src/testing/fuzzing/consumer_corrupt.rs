//! Fuzz target `consumer_corrupt`: [`consumer_corrupt`] says what it feeds the library and checks.

use super::*;

/// The consumer over arbitrary mapping contents: arbitrary ring bytes, crafted
/// commit words (wrong laps, huge lengths, padding anywhere) and control words,
/// interleaved with every way of receiving. Only messages (within the ring's
/// limits) or typed errors may come back; nothing may panic, read out of bounds
/// or hang.
pub fn consumer_corrupt(data: &[u8]) {
    let mut input = Input::new(data);
    let (g, wakeup) = geometry_from(&mut input);
    let (shared, mut producer, mut consumer) = heap_pair(g, wakeup);
    // Some honest traffic first, so positions and laps are not all zero.
    let honest = input.u8() % 32;
    let mut pattern = [0u8; 4096];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut buf = Vec::new();
    for i in 0..honest {
        let len = (usize::from(input.u8()) * 3) % (g.max_message as usize + 1);
        let _ = producer.try_send(&pattern[..len]);
        if i % 2 == 1 {
            let _ = consumer.try_recv(&mut buf);
        }
    }
    // Raw ring bytes from the input over part of the ring.
    let off = u64::from(input.u16());
    let n = usize::from(input.u8());
    let raw = input.bytes_up_to(n);
    scribble(&shared, off, raw);

    let mut slice = vec![0u8; g.capacity as usize];
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let released = shared.control().head.head.load(Ordering::Relaxed);
        match input.u8() % 12 {
            0 => {
                let off = u64::from(input.u16()) & !7;
                shared
                    .memory
                    .word(off)
                    .store(input.u64(), Ordering::Release);
            }
            1 | 2 => {
                // A crafted word at or just past the consumer's position.
                let pos = released.wrapping_add(u64::from(input.u8() % 8) * 8);
                let w = crafted_word(&mut input, pos, &g);
                shared.memory.word(pos).store(w, Ordering::Release);
            }
            3 => {
                let off = u64::from(input.u16());
                let n = usize::from(input.u8() % 64);
                scribble(&shared, off, input.bytes_up_to(n));
            }
            4 => scribble_control(&shared, &mut input),
            5 => {
                let r = consumer.try_recv(&mut buf);
                let got = buf.len();
                check_recv(r, got, &g);
            }
            6 => {
                if let Ok(grant) = consumer.try_recv_grant() {
                    assert!(grant.len() as u64 <= g.max_message);
                    assert_eq!(grant.as_ptr() as usize % 8, 0);
                    let v = grant.to_vec();
                    assert_eq!(v.len(), grant.len());
                    let n = usize::from(input.u8()).min(slice.len());
                    let copied = grant.copy_to_slice(&mut slice[..n]);
                    assert!(copied <= grant.len());
                    if input.u8() % 2 == 0 {
                        grant.release();
                    }
                }
            }
            7 => {
                let r = consumer.recv_timeout(&mut buf, Duration::ZERO);
                let got = buf.len();
                check_recv(r, got, &g);
            }
            8 => {
                let n = usize::from(input.u16()) % (slice.len() + 1);
                match consumer.try_recv_into(&mut slice[..n]) {
                    Ok(len) => assert!(len <= n && len as u64 <= g.max_message),
                    Err(RecvError::BufferTooSmall { needed, buf_len }) => {
                        assert!(needed > buf_len && buf_len == n)
                    }
                    Err(_) => {}
                }
            }
            9 => {
                let len = usize::from(input.u16()) % (g.max_message as usize + 1);
                let _ = producer.try_send(&pattern[..len.min(pattern.len())]);
            }
            10 => {
                let r = consumer.wait_for_message(Duration::ZERO);
                let _ = r;
            }
            _ => {
                let _ = consumer.is_disconnected();
                let r = consumer.recv_into_timeout(&mut slice, Duration::from_nanos(1));
                if let Ok(n) = r {
                    assert!(n as u64 <= g.max_message);
                }
            }
        }
    }
}
