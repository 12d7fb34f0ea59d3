//! A hostile peer: a real child process that inherits the region's memfd (the
//! handoff token), maps it raw with memmap2 and scribbles over the control block
//! and the ring while the honest side, in this process, receives or sends for a
//! while: random words, commit words with right and wrong lap tags, huge
//! lengths, padding records in the wrong place, consumer positions behind and
//! far ahead, flags and lengths flipping while the honest side reads them.
//!
//! The honest side may only ever get messages (within the ring's limits) or
//! typed errors; it must never crash or hang (every call has a timeout and the
//! whole side runs under a hang guard), and a message copied out by `recv`,
//! `recv_into`, `to_vec` or `copy_to_slice` never changes after the caller has
//! it: each is kept with a hash taken on receipt and compared at the end, after
//! the hostile writer has had every chance to change the ring under it.
//! Each scenario also asserts that the hostile writer did reach the honest
//! side (both messages and `Corrupted` errors came back), so a writer that
//! missed the ring fails the test instead of passing vacuously.

mod common;

use common::{spawn_child, HANG_GUARD, READY};
use mempipe::{Config, Consumer, Producer, RecvError, Region, SendError, WakeupKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the hostile writer runs against each scenario.
const HOSTILE_FOR: Duration = Duration::from_millis(1500);
/// The longest a single call with a short timeout may take: a hang guard.
const CALL_GUARD: Duration = Duration::from_secs(5);
const CAPACITY: usize = 4096;
const MAX_MESSAGE: usize = 1024;

// The shared layout (src/layout.rs, src/ring/control.rs), as a peer sees it.
const CONTROL: usize = 128;
const PRODUCER_META: usize = CONTROL;
const CONSUMER_META: usize = CONTROL + 128;
const HEAD: usize = CONTROL + 256;
const DATA_SIGNAL: usize = CONTROL + 384;
const SPACE_SIGNAL: usize = CONTROL + 512;
const DATA: usize = 4096;

fn config(wakeup: WakeupKind) -> Config {
    Config::new()
        .capacity(CAPACITY)
        .max_message(MAX_MESSAGE)
        .wakeup(wakeup)
        .liveness_interval(Duration::from_millis(20))
}

// ---------------------------------------------------------------------------
// The hostile child.

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    match ctx.role.as_str() {
        "scribble" => scribble(ctx.parse(0), ctx.parse(1)),
        role => panic!("unknown role {role}"),
    }
}

/// The memfd's raw mapping in the hostile child.
struct Raw {
    base: *mut u8,
    len: usize,
    _map: memmap2::MmapRaw,
}

impl Raw {
    fn inherited() -> Raw {
        use std::os::fd::FromRawFd;
        let token = std::env::var(common::TOKEN_ENV).expect("a handoff token");
        let first = token
            .strip_prefix("mempipe-fds:")
            .and_then(|l| l.split(',').next())
            .and_then(|n| n.parse::<i32>().ok())
            .expect("a descriptor number in the token");
        // SAFETY: the parent made this descriptor with Region::handoff for this
        // child and left it open across exec; nothing else here owns it.
        let file = unsafe { std::fs::File::from_raw_fd(first) };
        let map = memmap2::MmapRaw::map_raw(&file).expect("map the region raw");
        Raw {
            base: map.as_mut_ptr(),
            len: map.len(),
            _map: map,
        }
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(off % 8 == 0 && off + 8 <= self.len);
        // SAFETY: in bounds and 8-aligned (checked, the mapping is page aligned);
        // the mapping lives as long as `self`; the memory is only accessed through
        // atomics here, and the other process's accesses are its own business.
        unsafe { AtomicU64::from_ptr(self.base.add(off).cast()) }
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(off % 4 == 0 && off + 4 <= self.len);
        // SAFETY: as in `u64_at`, 4-aligned.
        unsafe { AtomicU32::from_ptr(self.base.add(off).cast()) }
    }

    fn byte(&self, off: usize, b: u8) {
        assert!(off < self.len);
        // SAFETY: in bounds; a volatile byte store into shared memory.
        unsafe { self.base.add(off).write_volatile(b) }
    }
}

/// Scribbles over the region for `millis` ms with RNG seed `seed`.
fn scribble(seed: u64, millis: u64) -> ! {
    let raw = Raw::inherited();
    let capacity = (raw.len - DATA) as u64;
    let cap_log2 = capacity.trailing_zeros();
    let mask = capacity - 1;
    let mut rng = StdRng::seed_from_u64(seed);
    let tag = |pos: u64| 0x8000_0000u64 | ((pos >> cap_log2) & 0x7fff_ffff);
    let word = |pos: u64, len: u64| (tag(pos) << 32) | (len & 0xffff_ffff);
    let ring_word = |pos: u64| DATA + (pos & mask & !7) as usize;
    common::signal_ready();
    let end = Instant::now() + Duration::from_millis(millis);
    // The consumer's real position: what it last released, not what this
    // writer put in the head word itself.
    let (mut head, mut written_head) = (0u64, None);
    while Instant::now() < end {
        let seen = raw.u64_at(HEAD).load(Ordering::Relaxed);
        if Some(seen) != written_head {
            head = seen;
        }
        let near = if rng.random_bool(0.5) {
            head
        } else {
            head.wrapping_add(8 * rng.random_range(0..16u64))
        };
        match rng.random_range(0..16u32) {
            0 => {
                // Any value anywhere in the ring.
                let at = DATA + 8 * rng.random_range(0..capacity as usize / 8);
                raw.u64_at(at).store(rng.random(), Ordering::Relaxed);
            }
            1..=3 => {
                // A well-formed record at or near the consumer's position, with a
                // plausible length: the honest consumer takes it as a message.
                let len = rng.random_range(0..=MAX_MESSAGE as u64);
                for i in 0..(len as usize).div_ceil(8) {
                    let at = ring_word(near.wrapping_add(8 + 8 * i as u64));
                    raw.u64_at(at).store(rng.random(), Ordering::Relaxed);
                }
                raw.u64_at(ring_word(near))
                    .store(word(near, len), Ordering::Release);
            }
            4 => {
                // Lengths around and past every limit, and padding.
                let len = [
                    MAX_MESSAGE as u64 + 1,
                    capacity,
                    capacity - 8,
                    u64::from(u32::MAX),
                    u64::from(u32::MAX - 1),
                    0x7fff_ffff,
                ][rng.random_range(0..6)];
                raw.u64_at(ring_word(near))
                    .store(word(near, len), Ordering::Release);
            }
            5 => {
                // Wrong lap tags: behind, ahead, none at all.
                let lap = [
                    near.wrapping_sub(2 * capacity),
                    near.wrapping_add(capacity),
                    rng.random(),
                ][rng.random_range(0..3)];
                let w = if rng.random_bool(0.2) {
                    rng.random::<u64>() & 0x7fff_ffff_ffff_ffff
                } else {
                    word(lap, rng.random_range(0..64))
                };
                raw.u64_at(ring_word(near)).store(w, Ordering::Release);
            }
            6 => {
                // Padding in the wrong place: at the start of the ring, or twice.
                let at = if rng.random_bool(0.5) {
                    head & !mask
                } else {
                    near
                };
                raw.u64_at(ring_word(at))
                    .store(word(at, u64::from(u32::MAX)), Ordering::Release);
                let next = (at | mask).wrapping_add(1);
                raw.u64_at(ring_word(next))
                    .store(word(next, u64::from(u32::MAX)), Ordering::Release);
            }
            7 => {
                // A flag flipping while the honest side reads it: publish, change
                // the length and the payload, retract, several times over.
                for _ in 0..rng.random_range(1..50) {
                    let len = rng.random_range(0..=MAX_MESSAGE as u64);
                    raw.u64_at(ring_word(near))
                        .store(word(near, len), Ordering::Release);
                    let at = ring_word(near) - DATA + 8 + rng.random_range(0..MAX_MESSAGE);
                    raw.byte(DATA + at % capacity as usize, rng.random());
                    raw.u64_at(ring_word(near)).store(0, Ordering::Release);
                }
                let len = rng.random_range(0..=MAX_MESSAGE as u64);
                raw.u64_at(ring_word(near))
                    .store(word(near, len), Ordering::Release);
            }
            8 => {
                // Rewrite payload bytes anywhere (records being read included).
                let at = DATA + rng.random_range(0..capacity as usize);
                for i in 0..rng.random_range(1..256usize) {
                    raw.byte(DATA + (at - DATA + i) % capacity as usize, rng.random());
                }
            }
            9 | 10 => {
                // The consumer's released position: behind, a little or far
                // ahead, unaligned, anything.
                let v = match rng.random_range(0..5) {
                    0 => head.wrapping_sub(8 * rng.random_range(1..64u64)),
                    1 => head.wrapping_add(8 * rng.random_range(1..64u64)),
                    2 => head.wrapping_add(capacity * rng.random_range(1..4u64)),
                    3 => head | 1,
                    _ => rng.random(),
                };
                raw.u64_at(HEAD).store(v, Ordering::Release);
                written_head = Some(v);
            }
            11 => {
                // Side states: closed, free, attached, nonsense; pids; cpus.
                let meta = if rng.random_bool(0.5) {
                    PRODUCER_META
                } else {
                    CONSUMER_META
                };
                let field = meta + 4 * rng.random_range(0..3);
                let v = match rng.random_range(0..4) {
                    0 => 0,
                    1 => 1,
                    2 => 2,
                    _ => rng.random(),
                };
                raw.u32_at(field).store(v, Ordering::Release);
            }
            12 => {
                // Wait handshakes: armed flags and futex words.
                let signal = if rng.random_bool(0.5) {
                    DATA_SIGNAL
                } else {
                    SPACE_SIGNAL
                };
                raw.u64_at(signal).store(rng.random(), Ordering::Release);
                raw.u32_at(signal + 8)
                    .store(rng.random(), Ordering::Release);
            }
            13 => {
                // The static header (a peer may rewrite it after the open).
                let at = 8 * rng.random_range(0..8usize);
                raw.u64_at(at).store(rng.random(), Ordering::Relaxed);
            }
            14 => std::thread::sleep(Duration::from_micros(rng.random_range(0..200))),
            _ => {
                // Zero a stretch of commit words ahead of the consumer.
                for i in 0..rng.random_range(1..32u64) {
                    raw.u64_at(ring_word(near.wrapping_add(8 * i)))
                        .store(0, Ordering::Relaxed);
                }
            }
        }
    }
    println!("MEMPIPE_SCRIBBLE_DONE");
    std::process::exit(0)
}

// ---------------------------------------------------------------------------
// The honest side.

#[derive(Debug, Default)]
struct Tally {
    messages: u64,
    corrupted: u64,
    empty_or_timeout: u64,
    disconnected: u64,
    peer_died: u64,
    full: u64,
    other: Vec<String>,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Runs `honest` on a thread for the scribbling child's lifetime, under a hang
/// guard, and returns its tally.
fn against_hostile<F>(region: &Region, seed: u64, honest: F) -> Tally
where
    F: FnOnce(Duration) -> Tally + Send + 'static,
{
    let handoff = region.handoff().expect("handoff");
    let millis = HOSTILE_FOR.as_millis() as u64;
    let mut child = spawn_child(
        "child_entry",
        "scribble",
        Some(&handoff.token()),
        &format!("{seed}:{millis}"),
    );
    drop(handoff);
    child.wait_for_line(READY, HANG_GUARD);
    // In running time (see `running_time`), like every guard here.
    let until = running_time() + HOSTILE_FOR;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(honest(until));
    });
    let tally = recv_guarded(
        &rx,
        HOSTILE_FOR + HANG_GUARD,
        "the honest side against the hostile peer",
    );
    child.assert_success(HANG_GUARD);
    tally
}

/// Time this process has spent able to run: a thread ticks every 5 ms and
/// counts only ticks that came about on time. Hang guards use it, so that a
/// test process stopped from outside (a shared machine pauses background jobs
/// with SIGSTOP while it measures latencies) is not taken for a hang.
fn running_time() -> Duration {
    static RUNNING_NANOS: AtomicU64 = AtomicU64::new(0);
    static TICKER: std::sync::Once = std::sync::Once::new();
    TICKER.call_once(|| {
        std::thread::spawn(|| loop {
            let t = Instant::now();
            std::thread::sleep(Duration::from_millis(5));
            let took = t.elapsed();
            if took < Duration::from_millis(250) {
                RUNNING_NANOS.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
            }
        });
    });
    Duration::from_nanos(RUNNING_NANOS.load(Ordering::Relaxed))
}

/// Receives from `rx`, failing only after `guard` of running time.
fn recv_guarded<T>(rx: &mpsc::Receiver<T>, guard: Duration, what: &str) -> T {
    let start = running_time();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(v) => return v,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let ran = running_time() - start;
                assert!(
                    ran < guard,
                    "{what} hung: no answer after {ran:?} of running time"
                );
            }
        }
    }
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = running_time();
    let out = f();
    let took = running_time() - start;
    assert!(took < CALL_GUARD, "{what} took {took:?}: hang");
    out
}

fn count_recv(t: &mut Tally, e: RecvError) {
    match e {
        RecvError::Corrupted(c) => {
            assert!(!c.what.is_empty());
            t.corrupted += 1
        }
        RecvError::Empty | RecvError::Timeout => t.empty_or_timeout += 1,
        RecvError::Disconnected => t.disconnected += 1,
        RecvError::PeerDied { .. } => t.peer_died += 1,
        other => t.other.push(other.to_string()),
    }
}

/// The honest consumer: every way of receiving, in turn, until `until`.
fn honest_consumer(mut consumer: Consumer, until: Duration) -> Tally {
    let mut t = Tally::default();
    let mut kept: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut buf = Vec::new();
    let mut slice = vec![0u8; MAX_MESSAGE];
    let mut i = 0u64;
    while running_time() < until {
        i += 1;
        let got: Result<Vec<u8>, RecvError> = timed("a receive", || match i % 5 {
            0 => consumer
                .recv_timeout(&mut buf, Duration::from_millis(2))
                .map(|_| buf.clone()),
            1 => consumer.try_recv(&mut buf).map(|_| buf.clone()),
            2 => consumer
                .recv_into_timeout(&mut slice, Duration::from_millis(1))
                .map(|n| slice[..n].to_vec()),
            3 => consumer.try_recv_grant().map(|g| {
                assert_eq!(g.as_ptr() as usize % 8, 0);
                g.to_vec()
            }),
            _ => consumer
                .recv_grant_timeout(Duration::from_millis(1))
                .map(|g| {
                    let n = g.copy_to_slice(&mut slice);
                    assert_eq!(n, g.len());
                    g.release();
                    slice[..n].to_vec()
                }),
        });
        match got {
            Ok(msg) => {
                assert!(msg.len() <= MAX_MESSAGE, "a {}-byte message", msg.len());
                t.messages += 1;
                if kept.len() < 20_000 {
                    kept.push((hash(&msg), msg));
                }
            }
            Err(e) => count_recv(&mut t, e),
        }
    }
    // The hostile writer is still running or just finished: copies it could
    // have reached through an aliasing slice would differ now.
    std::thread::sleep(Duration::from_millis(50));
    for (h, msg) in &kept {
        assert_eq!(*h, hash(msg), "a message changed after it was received");
    }
    t
}

/// The honest producer: `try_send`, `send_timeout`, grants with `commit`,
/// `commit_len` and abandon, until `until`.
fn honest_producer(mut producer: Producer, until: Duration) -> Tally {
    let mut t = Tally::default();
    let msg = vec![0xa5u8; MAX_MESSAGE];
    let mut rng = StdRng::seed_from_u64(7);
    while running_time() < until {
        let len = rng.random_range(0..=MAX_MESSAGE);
        let r = timed("a send", || match rng.random_range(0..4) {
            0 => producer.try_send(&msg[..len]),
            1 => producer.send_timeout(&msg[..len], Duration::from_millis(1)),
            2 => producer.try_reserve(len).map(|mut g| {
                g.write_at(0, &msg[..len]).expect("in bounds");
                if len % 2 == 0 {
                    g.commit();
                } else {
                    g.commit_len(len / 2).expect("shorter");
                }
            }),
            _ => producer
                .reserve_timeout(len, Duration::from_millis(1))
                .map(drop),
        });
        match r {
            Ok(()) => t.messages += 1,
            Err(SendError::Corrupted(c)) => {
                assert!(!c.what.is_empty());
                t.corrupted += 1
            }
            Err(SendError::Full { needed }) => {
                assert!(needed <= CAPACITY + 8 + MAX_MESSAGE);
                t.full += 1
            }
            Err(SendError::Timeout) => t.empty_or_timeout += 1,
            Err(SendError::Disconnected) => t.disconnected += 1,
            Err(SendError::PeerDied { .. }) => t.peer_died += 1,
            Err(e) => t.other.push(e.to_string()),
        }
        if t.disconnected > 0 && t.disconnected % 64 == 0 {
            // A "closed" consumer is the hostile writer's doing; let it reopen.
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    t
}

fn consumer_against_hostile_producer(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup)).expect("create");
    let consumer = region.consumer().expect("claim consumer");
    let t = against_hostile(&region, 1000 + wakeup as u64, move |until| {
        honest_consumer(consumer, until)
    });
    println!("{wakeup}: consumer vs hostile producer: {t:?}");
    assert!(t.other.is_empty(), "unexpected errors: {:?}", t.other);
    assert!(
        t.messages > 0,
        "the hostile records never reached the consumer"
    );
    assert!(t.corrupted > 0, "no corruption was detected: {t:?}");
}

fn producer_against_hostile_consumer(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup)).expect("create");
    let producer = region.producer().expect("claim producer");
    let t = against_hostile(&region, 2000 + wakeup as u64, move |until| {
        honest_producer(producer, until)
    });
    println!("{wakeup}: producer vs hostile consumer: {t:?}");
    assert!(t.other.is_empty(), "unexpected errors: {:?}", t.other);
    assert!(t.messages > 0, "the producer never published");
    assert!(
        t.corrupted > 0,
        "no impossible position was detected: {t:?}"
    );
}

/// Both honest ends in this process (two threads, a real stream), a third
/// process scribbling: both get messages or typed errors only.
fn both_ends_against_a_third_process(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup)).expect("create");
    let producer = region.producer().expect("claim producer");
    let consumer = region.consumer().expect("claim consumer");
    let (ptx, prx) = mpsc::channel();
    let t = against_hostile(&region, 3000 + wakeup as u64, move |until| {
        std::thread::spawn(move || {
            let _ = ptx.send(honest_producer(producer, until));
        });
        honest_consumer(consumer, until)
    });
    let p = recv_guarded(
        &prx,
        HANG_GUARD,
        "the honest producer against the third process",
    );
    println!("{wakeup}: both ends vs a third process: consumer {t:?}, producer {p:?}");
    assert!(t.other.is_empty() && p.other.is_empty());
    assert!(t.messages > 0 && p.messages > 0);
    assert!(t.corrupted + p.corrupted > 0);
}

common::per_wakeup!(
    consumer_against_hostile_producer,
    producer_against_hostile_consumer,
    both_ends_against_a_third_process,
);
