//! Entry points for the fuzz targets in `fuzz/` and for `tests/fuzz_corpus.rs`,
//! which replays their corpora on stable, one file per target; this file holds
//! what they share. Not part of the public API.
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
use crate::platform::RingStorage;
use crate::ring::record::{self, PADDING};
use crate::ring::Shared;
use crate::{Consumer, Producer};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

mod consumer_corrupt;
mod handshake;
mod open_header;
mod ops_model;
mod producer_corrupt;
mod tcp_frames;
#[cfg(feature = "tls")]
mod tls_frames;

pub use consumer_corrupt::consumer_corrupt;
pub use handshake::handshake;
pub use open_header::open_header;
pub use ops_model::ops_model;
pub use producer_corrupt::producer_corrupt;
pub use tcp_frames::tcp_frames;
#[cfg(feature = "tls")]
pub use tls_frames::tls_frames;

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
    let shared = Arc::new(Shared::new(RingStorage::heap(geometry), None));
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
