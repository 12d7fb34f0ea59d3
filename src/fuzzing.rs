//! Entry points for the fuzz targets in `fuzz/` and for `tests/fuzz_corpus.rs`,
//! which replays their corpora on stable. Not part of the public API.
//!
//! Each function takes arbitrary bytes, builds a ring in private heap memory laid
//! out exactly like a mapping (the same code paths as a shared region), writes
//! bytes taken from the input straight into its control block and data, and
//! drives an endpoint over it. The library must answer with messages or typed
//! errors only; every property these functions check is an `assert!`, so a
//! violation (or any panic, out-of-bounds access or hang inside the library)
//! is a finding. Every loop is bounded by the input's length.

use crate::config::WakeupKind;
use crate::endpoint::in_process_pair;
use crate::error::{RecvError, SendError};
use crate::layout::{Geometry, StaticHeader, DATA_OFFSET, RECORD_HEADER};
use crate::ring::record::{self, PADDING};
use crate::ring::Shared;
use crate::{Consumer, Producer};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Most operations one input drives: a hang guard for the fuzzer.
const MAX_OPS: usize = 512;

/// The fuzz input, read front to back; past its end every read yields zeros
/// (`arbitrary`'s integers are little-endian and zero-filled).
type Input<'a> = arbitrary::Unstructured<'a>;

/// The few draws the targets make, infallible (integers never fail to draw).
trait Draw<'a> {
    fn u8(&mut self) -> u8;
    fn u16(&mut self) -> u16;
    fn u32(&mut self) -> u32;
    fn u64(&mut self) -> u64;
    /// Up to `n` bytes.
    fn bytes_up_to(&mut self, n: usize) -> &'a [u8];
}

impl<'a> Draw<'a> for Input<'a> {
    fn u8(&mut self) -> u8 {
        self.arbitrary().unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        self.arbitrary().unwrap_or(0)
    }
    fn u32(&mut self) -> u32 {
        self.arbitrary().unwrap_or(0)
    }
    fn u64(&mut self) -> u64 {
        self.arbitrary().unwrap_or(0)
    }
    fn bytes_up_to(&mut self, n: usize) -> &'a [u8] {
        self.bytes(n.min(self.len())).unwrap_or_default()
    }
}

/// A heap ring's shape from the input: capacity 64 B to 4 KiB, any legal
/// maximum message, a wakeup strategy that needs no descriptors.
fn geometry_from(input: &mut Input<'_>) -> (Geometry, WakeupKind) {
    let cap_log2 = 6 + u32::from(input.u8() % 7);
    let capacity = 1u64 << cap_log2;
    let limit = capacity / 2 - RECORD_HEADER;
    let max_message = match input.u8() % 4 {
        0 => limit,
        1 => capacity / 4,
        _ => u64::from(input.u16()) % (limit + 1),
    };
    let wakeup =
        [WakeupKind::Spin, WakeupKind::Futex, WakeupKind::Hybrid][usize::from(input.u8() % 3)];
    let geometry = Geometry::new(capacity, max_message).expect("legal geometry");
    (geometry, wakeup)
}

fn heap_pair(geometry: Geometry, wakeup: WakeupKind) -> (Arc<Shared>, Producer, Consumer) {
    let shared = Arc::new(Shared::heap(geometry));
    let (producer, consumer) = in_process_pair(shared.clone(), wakeup, Duration::ZERO);
    (shared, producer, consumer)
}

/// Copies `bytes` into the ring data at `offset` (wrapping), as a hostile peer would.
fn scribble(shared: &Shared, offset: u64, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        let p = shared.memory.ptr(offset.wrapping_add(i as u64));
        // SAFETY: `ptr` masks the offset into the ring, which lives as long as
        // `shared`; this thread is the only one touching the heap ring, and no
        // reference to ring bytes is alive while it runs (grants hold pointers).
        unsafe { p.write_volatile(*b) };
    }
}

/// A commit word a confused or hostile producer might write at `pos`: right or
/// wrong lap tags, lengths around every limit, padding.
fn crafted_word(input: &mut Input<'_>, pos: u64, g: &Geometry) -> u64 {
    let lap_pos = match input.u8() % 6 {
        0..=2 => pos,
        3 => pos.wrapping_sub(g.capacity),
        4 => pos.wrapping_add(g.capacity),
        _ => input.u64(),
    };
    let len = match input.u8() % 10 {
        0 => 0,
        1 => g.max_message as u32,
        2 => g.max_message as u32 + 1,
        3 => PADDING,
        4 => g.capacity as u32,
        5 => (g.capacity - RECORD_HEADER) as u32,
        6 => u32::MAX - 1,
        7 => 0x7fff_ffff,
        _ => u32::from(input.u16()),
    };
    if input.u8() % 16 == 0 {
        // A word without the tag bit, or any other value.
        return input.u64();
    }
    record::encode(lap_pos, g.cap_log2, len)
}

/// Writes a value taken from the input into one control-block word.
fn scribble_control(shared: &Shared, input: &mut Input<'_>) {
    let c = shared.control();
    let v32 = input.u32();
    let small = match input.u8() % 4 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => v32,
    };
    match input.u8() % 10 {
        0 => c.producer.state.store(small, Ordering::Relaxed),
        1 => c.consumer.state.store(small, Ordering::Relaxed),
        2 => c.producer.cpu.store(v32, Ordering::Relaxed),
        3 => c.consumer.cpu.store(v32, Ordering::Relaxed),
        4 => c.data.armed.store(input.u64(), Ordering::Relaxed),
        5 => c.data.seq.store(v32, Ordering::Relaxed),
        6 => c.space.armed.store(input.u64(), Ordering::Relaxed),
        7 => c.space.seq.store(v32, Ordering::Relaxed),
        // Pids: only this process's own (a peer watch ignores it) or 0, so that a
        // replay never probes unrelated processes.
        8 => c.producer.pid.store(
            if v32 & 1 == 0 { 0 } else { std::process::id() },
            Ordering::Relaxed,
        ),
        _ => {
            let head = c.head.head.load(Ordering::Relaxed);
            let v = match input.u8() % 4 {
                0 => head.wrapping_add(u64::from(input.u16()) * 8),
                1 => head.wrapping_sub(u64::from(input.u16()) * 8),
                2 => head.wrapping_add(u64::from(input.u8())),
                _ => input.u64(),
            };
            c.head.head.store(v, Ordering::Relaxed);
        }
    }
}

/// Checks what a receive returned: a message within the ring's limit, or a
/// typed error.
fn check_recv(result: Result<usize, RecvError>, got: usize, g: &Geometry) {
    if let Ok(n) = result {
        assert_eq!(n, got, "returned length differs from the bytes delivered");
        assert!(n as u64 <= g.max_message, "message of {n} bytes > max");
    }
}

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
                    Err(SendError::TooLarge { len: l, max: m }) => {
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

/// Opens a region file whose first 4096 bytes (header and control block) are
/// the input, sized as the input says (often exactly what the header claims),
/// with `Region::open_at_path`: `Ok` or a typed `OpenError`, never a panic. An
/// opened region is then claimed and used briefly (its control block is
/// arbitrary too). Writes one file in the temp dir and removes it.
pub fn open_header(data: &[u8]) {
    use std::io::Write;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut input = Input::new(data);
    let size_mode = input.u8();
    let mut header = [0u8; DATA_OFFSET];
    let rest = input.bytes_up_to(DATA_OFFSET);
    header[..rest.len()].copy_from_slice(rest);
    let claimed_total = StaticHeader::from_bytes(
        header[..StaticHeader::LEN]
            .try_into()
            .expect("a header fits the control page"),
    )
    .total_len;
    let size = match size_mode % 4 {
        // What the header claims, when small enough to write here.
        0 | 1 if claimed_total <= DATA_OFFSET as u64 + (1 << 20) => claimed_total,
        2 => u64::from(input.u16()),
        _ => DATA_OFFSET as u64 + (64 << (size_mode % 8)),
    };
    let path = std::env::temp_dir().join(format!(
        "mempipe-fuzz-open-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&header[..header.len().min(size as usize)])?;
        f.set_len(size)?;
        Ok(())
    })();
    if written.is_ok() {
        if let Ok(region) = crate::Region::open_at_path(&path) {
            assert!(region.capacity().is_power_of_two());
            assert!(region.max_message() <= region.capacity() / 2 - 8);
            let producer = region.producer();
            let consumer = region.consumer();
            if let (Ok(mut tx), Ok(mut rx)) = (producer, consumer) {
                let msg = [0x5au8; 64];
                let len = region.max_message().min(msg.len());
                let mut buf = Vec::new();
                for _ in 0..4 {
                    let _ = tx.try_send(&msg[..len]);
                    if let Ok(n) = rx.try_recv(&mut buf) {
                        assert!(n <= region.max_message());
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

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

/// Fuzz target `handshake`: the input as a client hello and as a server hello.
/// Either is refused with a typed error or parses into values that respect the
/// checks (ring geometry, path length) and re-encode to a hello that parses to
/// the same values.
pub fn handshake(data: &[u8]) {
    use crate::conn::wire::{ClientHello, ServerHello, Status, MAX_PATH};
    if let Ok(hello) = ClientHello::decode(data) {
        assert!(hello.capacity.is_power_of_two());
        assert!(hello.max_message > 0 && hello.max_message <= hello.capacity / 2 - 8);
        assert_eq!(ClientHello::decode(&hello.encode()).ok(), Some(hello));
    }
    if let Ok(hello) = ServerHello::decode(data) {
        assert!(hello.path.len() <= MAX_PATH);
        assert!(hello.status == Status::Upgrade || hello.path.is_empty());
        assert_eq!(ServerHello::decode(&hello.encode()).ok(), Some(hello));
    }
}

#[cfg(feature = "tls")]
mod tls_frames;
#[cfg(feature = "tls")]
pub use tls_frames::tls_frames;

/// Fuzz target `tcp_frames`: the first two bytes set the connection's maximum
/// message (1..=65536), the third whether the peer closes after sending; the
/// rest is what the peer writes on a real loopback TCP connection. The
/// receiving half must deliver messages within the maximum, in order, each
/// exactly the bytes its frame held, and end with a typed error.
pub fn tcp_frames(data: &[u8]) {
    use std::io::Write;
    let Some((max, close, stream)) = frames_input(data) else {
        return;
    };
    let (ours, mut peer) = loopback_pair();
    peer.write_all(stream).expect("write the input");
    if close {
        peer.shutdown(std::net::Shutdown::Write).expect("shutdown");
    }
    check_delivery(ours, stream, max, close);
}

/// A connected loopback pair (ours, the peer's). One listener for the
/// process, and connections closed with a reset (no TIME_WAIT): a campaign
/// opens millions, more than there are ports.
fn loopback_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    use std::net::{TcpListener, TcpStream};
    static LISTENER: std::sync::OnceLock<TcpListener> = std::sync::OnceLock::new();
    let listener =
        LISTENER.get_or_init(|| TcpListener::bind("127.0.0.1:0").expect("loopback listener"));
    let peer = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let (ours, _) = listener.accept().expect("accept");
    rustix::net::sockopt::set_socket_linger(&ours, Some(Duration::ZERO)).expect("SO_LINGER");
    rustix::net::sockopt::set_socket_linger(&peer, Some(Duration::ZERO)).expect("SO_LINGER");
    (ours, peer)
}

/// The maximum message, whether the peer closes, and the bytes it writes,
/// from a `tcp_frames` / `tls_frames` input.
fn frames_input(data: &[u8]) -> Option<(usize, bool, &[u8])> {
    if data.len() < 3 {
        return None;
    }
    let max = usize::from(u16::from_le_bytes([data[0], data[1]])) + 1;
    Some((
        max,
        data[2] & 1 == 1,
        &data[3..data.len().min(3 + (64 << 10))],
    ))
}

/// Receives what the peer wrote (`stream`, closed after it when `close`) on
/// `ours` and checks the receiving half delivered exactly its whole frames up
/// to the first bad one, then a typed error or nothing more.
fn check_delivery(
    ours: impl Into<crate::conn::stream::ByteStream>,
    stream: &[u8],
    max: usize,
    close: bool,
) {
    use crate::conn::tcp::{TcpReceiver, TcpShared, Wait};
    use crate::conn::wire::{decode_frame, Frame, FRAME_HEADER};
    // What a correct receiver must deliver: the frames up to the first bad one.
    let mut expected = Vec::new();
    let mut at = 0;
    while let Some(header) = stream.get(at..at + FRAME_HEADER) {
        let header: [u8; FRAME_HEADER] = header.try_into().expect("8 bytes");
        match decode_frame(&header, max) {
            Ok(Frame::Data(len)) if at + FRAME_HEADER + len <= stream.len() => {
                expected.push(&stream[at + FRAME_HEADER..at + FRAME_HEADER + len]);
                at += FRAME_HEADER + len;
            }
            _ => break,
        }
    }
    let shared = TcpShared::new(ours, 0, false, max, Duration::from_millis(1));
    let mut rx = TcpReceiver::new(shared);
    let mut buf = Vec::new();
    let mut got = 0;
    loop {
        // Wait while something is owed (whole frames, or the end of a closed
        // stream); then a non-blocking look must find nothing more.
        let wait = if close || got < expected.len() {
            Wait::Within(Duration::from_secs(5))
        } else {
            Wait::NonBlocking
        };
        match rx.recv(&mut buf, wait) {
            Ok(len) => {
                assert!(len <= max && len == buf.len());
                assert_eq!(Some(&buf.as_slice()), expected.get(got), "message {got}");
                got += 1;
            }
            Err(RecvError::Empty) => break,
            Err(RecvError::Timeout) => panic!("a whole frame or the end was never delivered"),
            Err(RecvError::Disconnected | RecvError::PeerDied { .. } | RecvError::Corrupted(_)) => {
                break
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(
        got,
        expected.len(),
        "every whole frame before the end is delivered"
    );
}
