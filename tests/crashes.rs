//! Peers killed with SIGKILL at the awkward moments that `peer_death.rs` does
//! not cover: a producer between reserve and commit (before and after writing
//! the record's bytes), a producer blocked on a full ring, a consumer holding a
//! zero-copy read grant, a consumer blocked on an empty ring; and named regions
//! whose opener or creator is killed.
//!
//! The survivor must keep every message committed before the crash (exactly
//! those: sequence numbers and checksums, nothing partial, nothing twice), then
//! get `PeerDied` from a blocked call (liveness interval 20 ms; the 2 s bound
//! is a hang guard), and nothing may leak: this process's open descriptors are
//! counted before and after, and /dev/shm is checked for named leftovers.

mod common;

use common::{spawn_child, ChildProc, Stream, HANG_GUARD, READY};
use mempipe::{Config, CreateError, RecvError, Region, SendError, WakeupKind};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIVENESS: Duration = Duration::from_millis(20);
/// How long a blocked call may take to notice the death: a hang guard.
const NOTICE_BOUND: Duration = Duration::from_secs(2);
/// How long the parent lets a child block before killing it.
const BLOCK_FIRST: Duration = Duration::from_millis(100);
/// Fixed-size messages for the full-ring scenarios: 8 + 104 bytes per record,
/// 36 records in a 4 KiB ring (64 bytes left before its end).
const FIXED: usize = 100;
const FIXED_RING: usize = 4096;
const FIXED_FIT: u64 = 36;

fn config(wakeup: WakeupKind, capacity: usize, max: usize) -> Config {
    Config::new()
        .capacity(capacity)
        .max_message(max)
        .wakeup(wakeup)
        .liveness_interval(LIVENESS)
}

fn small_stream(wakeup: WakeupKind) -> Stream {
    Stream {
        seed: 0xc0de_0000 + wakeup as u64,
        count: 150,
        max: 256,
    }
}

/// This process's open descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Waits (a hang guard, not a timing) until the descriptor count is back to
/// `before`: a killed child's stdout reader thread closes its pipe shortly
/// after the child dies.
fn assert_no_fd_leak(before: usize) {
    let end = Instant::now() + HANG_GUARD;
    loop {
        let now = open_fds();
        if now == before {
            return;
        }
        assert!(
            Instant::now() < end,
            "descriptor leak: {before} open before, {now} after"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn shm_path(name: &str) -> std::path::PathBuf {
    Path::new("/dev/shm").join(name.trim_start_matches('/'))
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    match ctx.role.as_str() {
        "stream_then_reserve" => {
            let region = ctx.inherited_region();
            let mut producer = region.producer().expect("claim the producer end");
            let s = Stream::from_ctx(&ctx, 1);
            common::send_stream(&mut producer, s);
            let mut grant = producer.try_reserve(s.max).expect("room for one more");
            match ctx.field(0) {
                "reserved" => {}
                "written" => {
                    // Every byte of the next message in place: only the
                    // publication (the commit word) is missing.
                    let mut msg = Vec::new();
                    common::fill_message(s.count, s.max, &mut msg);
                    grant.write_at(0, &msg).expect("write the record's bytes");
                }
                mode => panic!("unknown mode {mode}"),
            }
            common::signal_ready();
            common::park_forever();
        }
        "fill_then_block" => {
            let region = ctx.inherited_region();
            let mut producer = region.producer().expect("claim the producer end");
            let mut msg = Vec::new();
            let mut seq = 0;
            loop {
                common::fill_message(seq, FIXED, &mut msg);
                match producer.try_send(&msg) {
                    Ok(()) => seq += 1,
                    Err(SendError::Full { .. }) => break,
                    Err(e) => panic!("filling: {e}"),
                }
            }
            assert_eq!(seq, FIXED_FIT);
            common::signal_ready();
            common::fill_message(seq, FIXED, &mut msg);
            let r = producer.send(&msg);
            panic!("send on a full ring returned {r:?} while the consumer lived");
        }
        "consume_then_hold_grant" => {
            let region = ctx.inherited_region();
            let mut consumer = region.consumer().expect("claim the consumer end");
            let k: u64 = ctx.parse(0);
            let mut buf = Vec::new();
            for seq in 0..k {
                consumer.recv_timeout(&mut buf, HANG_GUARD).expect("recv");
                common::check_message(seq, FIXED, &buf).expect("intact");
            }
            let grant = consumer.recv_grant_timeout(HANG_GUARD).expect("read");
            common::check_message(k, FIXED, &grant.to_vec()).expect("intact");
            common::signal_ready();
            let _held = grant;
            common::park_forever();
        }
        "consume_blocked" => {
            let region = ctx.inherited_region();
            let mut consumer = region.consumer().expect("claim the consumer end");
            common::signal_ready();
            let mut buf = Vec::new();
            let r = consumer.recv(&mut buf);
            panic!("recv on an empty ring returned {r:?} while the producer lived");
        }
        "claim_producer_rewrite_pid" => {
            let region = ctx.inherited_region();
            let _producer = region.producer().expect("claim the producer end");
            common::signal_ready();
            // Let the parent block and look at this process at least once.
            std::thread::sleep(Duration::from_millis(300));
            // A hostile producer: its pid word now names a process that lives
            // forever (init), so that its own death goes unnoticed.
            let map = memmap2::MmapOptions::new()
                .map_raw(&region.memory_fd())
                .expect("map the region raw");
            // SAFETY: offset 128 (the producer's pid word) is inside the
            // mapping and 4-aligned; accessed atomically only.
            let pid =
                unsafe { std::sync::atomic::AtomicU32::from_ptr(map.as_mut_ptr().add(128).cast()) };
            pid.store(1, std::sync::atomic::Ordering::Release);
            println!("MEMPIPE_PID_REWRITTEN");
            common::park_forever();
        }
        "open_named_then_park" => {
            let region = Region::open_named(ctx.field(0)).expect("open_named");
            let _consumer = region.consumer().expect("claim the consumer end");
            common::signal_ready();
            common::park_forever();
        }
        "create_named_then_park" => {
            let config = config(WakeupKind::Futex, 4096, 256);
            let _region = Region::create_named(ctx.field(0), &config).expect("create_named");
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

/// A blocked receive after the producer's death: `PeerDied` with its pid, in
/// bounded time; then non-blocking calls say `PeerDied` too, never a stale message.
fn expect_recv_peer_died(consumer: &mut mempipe::Consumer, pid: u32) {
    let mut buf = Vec::new();
    let started = Instant::now();
    match consumer.recv_timeout(&mut buf, HANG_GUARD) {
        Err(RecvError::PeerDied { pid: p }) => assert_eq!(p, pid),
        other => panic!("expected PeerDied, got {other:?} ({} bytes)", buf.len()),
    }
    let took = started.elapsed();
    assert!(took < NOTICE_BOUND, "death noticed after {took:?}");
    assert!(matches!(consumer.try_recv(&mut buf), Err(RecvError::PeerDied { pid: p }) if p == pid));
    assert!(matches!(consumer.try_recv_grant(), Err(RecvError::PeerDied { pid: p }) if p == pid));
}

/// The producer is killed holding a grant it reserved (and perhaps filled) but
/// never committed: every committed message arrives, the reserved one never does.
fn producer_killed_between_reserve_and_commit(wakeup: WakeupKind, mode: &str) {
    let _serial = common::serial();
    let fds = open_fds();
    {
        let region = Region::create_anonymous(&config(wakeup, 64 << 10, 256)).expect("create");
        let mut consumer = region.consumer().expect("claim consumer");
        let s = small_stream(wakeup);
        let mut child = spawn(
            &region,
            "stream_then_reserve",
            &format!("{mode}:{}", s.to_arg()),
        );
        child.kill();
        child.reap_killed();
        common::recv_stream(&mut consumer, s);
        expect_recv_peer_died(&mut consumer, child.pid());
    }
    assert_no_fd_leak(fds);
}

/// The producer is killed while blocked in `send` on a full ring: the consumer
/// reads exactly the messages that fit, then `PeerDied`.
fn producer_killed_blocked_on_full_ring(wakeup: WakeupKind) {
    let _serial = common::serial();
    let fds = open_fds();
    {
        let config = config(wakeup, FIXED_RING, 1024);
        let region = Region::create_anonymous(&config).expect("create");
        let mut consumer = region.consumer().expect("claim consumer");
        let mut child = spawn(&region, "fill_then_block", "");
        std::thread::sleep(BLOCK_FIRST);
        child.kill();
        child.reap_killed();
        let mut buf = Vec::new();
        for seq in 0..FIXED_FIT {
            consumer
                .recv_timeout(&mut buf, HANG_GUARD)
                .unwrap_or_else(|e| panic!("message {seq}: {e}"));
            common::check_message(seq, FIXED, &buf).unwrap_or_else(|e| panic!("{e}"));
        }
        expect_recv_peer_died(&mut consumer, child.pid());
    }
    assert_no_fd_leak(fds);
}

/// The consumer is killed holding a zero-copy read grant: the producer can use
/// exactly the space the consumer released before (never the held record's),
/// then its blocked `send` ends with `PeerDied`.
fn consumer_killed_holding_a_read_grant(wakeup: WakeupKind) {
    let _serial = common::serial();
    let fds = open_fds();
    {
        let config = config(wakeup, FIXED_RING, 1024);
        let region = Region::create_anonymous(&config).expect("create");
        let mut producer = region.producer().expect("claim producer");
        let mut msg = Vec::new();
        for seq in 0..FIXED_FIT {
            common::fill_message(seq, FIXED, &mut msg);
            producer.try_send(&msg).expect("fits");
        }
        const RELEASED: u64 = 10;
        let mut child = spawn(&region, "consume_then_hold_grant", &RELEASED.to_string());
        // Ten records (1120 bytes at the ring's start) were freed; the next
        // record wraps behind the 64 free bytes at the end (padding), so at most
        // ten fit, ending exactly where the held record starts. (The consumer
        // publishes its position in batches of capacity/8: 512 bytes here, so
        // all ten are published once it has read them.)
        let mut more = 0;
        loop {
            common::fill_message(FIXED_FIT + more, FIXED, &mut msg);
            match producer.try_send(&msg) {
                Ok(()) => more += 1,
                Err(SendError::Full { .. }) => break,
                Err(e) => panic!("sending into the released space: {e}"),
            }
        }
        assert_eq!(
            more, RELEASED,
            "the producer used space the consumer still holds"
        );
        let (done_tx, done) = mpsc::channel();
        let blocked = std::thread::spawn(move || {
            let r = producer.send(&msg);
            let _ = done_tx.send((r, Instant::now()));
        });
        let (r, took) = common::kill_while_blocked(&mut child, &done, BLOCK_FIRST, "send()");
        match r {
            Err(SendError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
            other => panic!("expected PeerDied, got {other:?}"),
        }
        assert!(took < NOTICE_BOUND, "death noticed after {took:?}");
        blocked.join().expect("sender thread");
        child.reap_killed();
    }
    assert_no_fd_leak(fds);
}

/// The consumer is killed while blocked in `recv` on an empty ring: the
/// producer's sends fill the ring (nobody reads), then a blocked send ends with
/// `PeerDied`.
fn consumer_killed_blocked_on_empty_ring(wakeup: WakeupKind) {
    let _serial = common::serial();
    let fds = open_fds();
    {
        let config = config(wakeup, FIXED_RING, 1024);
        let region = Region::create_anonymous(&config).expect("create");
        let mut producer = region.producer().expect("claim producer");
        let mut child = spawn(&region, "consume_blocked", "");
        std::thread::sleep(BLOCK_FIRST);
        child.kill();
        child.reap_killed();
        let mut msg = Vec::new();
        for seq in 0..FIXED_FIT {
            common::fill_message(seq, FIXED, &mut msg);
            producer.try_send(&msg).expect("fits");
        }
        let started = Instant::now();
        match producer.send_timeout(&msg, HANG_GUARD) {
            Err(SendError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
            other => panic!("expected PeerDied, got {other:?}"),
        }
        assert!(started.elapsed() < NOTICE_BOUND);
        // A non-blocking call reports the death, not a phantom success.
        assert!(matches!(
            producer.try_send(&msg),
            Err(SendError::PeerDied { pid }) if pid == child.pid()
        ));
    }
    assert_no_fd_leak(fds);
}

fn producer_killed_after_reserve_before_writing(wakeup: WakeupKind) {
    producer_killed_between_reserve_and_commit(wakeup, "reserved");
}

fn producer_killed_after_writing_before_publishing(wakeup: WakeupKind) {
    producer_killed_between_reserve_and_commit(wakeup, "written");
}

common::per_wakeup!(
    producer_killed_after_reserve_before_writing,
    producer_killed_after_writing_before_publishing,
    producer_killed_blocked_on_full_ring,
    consumer_killed_holding_a_read_grant,
    consumer_killed_blocked_on_empty_ring,
);

/// A killed opener of a named region leaves nothing behind: the creator keeps
/// working (its producer sees `PeerDied` when blocked), and dropping it removes
/// the name from /dev/shm and closes every descriptor.
#[test]
fn killed_opener_of_a_named_region_leaves_nothing() {
    let _serial = common::serial();
    let fds = open_fds();
    let name = common::unique_name("crash-opener");
    {
        let config = config(WakeupKind::Futex, FIXED_RING, 1024);
        let region = Region::create_named(&name, &config).expect("create_named");
        let mut producer = region.producer().expect("claim producer");
        let mut child = spawn_child("child_entry", "open_named_then_park", None, &name);
        child.wait_for_line(READY, HANG_GUARD);
        child.kill();
        child.reap_killed();
        while producer.try_send(&[1; FIXED]).is_ok() {}
        match producer.send_timeout(&[1; FIXED], HANG_GUARD) {
            Err(SendError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
            other => panic!("expected PeerDied, got {other:?}"),
        }
        assert!(shm_path(&name).exists());
    }
    assert!(!shm_path(&name).exists(), "{name} left in /dev/shm");
    assert_no_fd_leak(fds);
}

/// A killed creator leaves its name behind: the next create reports it stale
/// (`creator_alive == Some(false)`), `remove_if_stale` removes it (and only
/// then), and the name is free again.
#[test]
fn killed_creators_leftover_is_removed_if_stale() {
    let _serial = common::serial();
    let fds = open_fds();
    let name = common::unique_name("crash-creator");
    let config = config(WakeupKind::Futex, 4096, 256);
    let mut child = spawn_child("child_entry", "create_named_then_park", None, &name);
    child.wait_for_line(READY, HANG_GUARD);
    // While the creator lives, its region is not stale.
    assert!(!Region::remove_if_stale(&name).expect("remove_if_stale"));
    assert!(shm_path(&name).exists());
    child.kill();
    child.reap_killed();
    assert!(shm_path(&name).exists(), "SIGKILL ran no destructor");
    match Region::create_named(&name, &config) {
        Err(CreateError::AlreadyExists {
            creator_pid,
            creator_alive,
            ..
        }) => {
            assert_eq!(creator_pid, Some(child.pid()));
            assert_eq!(creator_alive, Some(false));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert!(Region::remove_if_stale(&name).expect("remove_if_stale"));
    assert!(!shm_path(&name).exists());
    assert!(!Region::remove_if_stale(&name).expect("already gone"));
    let region = Region::create_named(&name, &config).expect("the name is free again");
    // Our own live region is never stale.
    assert!(!Region::remove_if_stale(&name).expect("remove_if_stale"));
    drop(region);
    assert!(!shm_path(&name).exists());
    assert_no_fd_leak(fds);
}

/// `remove_if_stale` leaves alone what it cannot prove stale: an object that is
/// not a mempipe region, and a mempipe header with no creator pid.
#[test]
fn remove_if_stale_keeps_what_is_not_a_stale_region() {
    let _serial = common::serial();
    let name = common::unique_name("not-stale");
    let path = shm_path(&name);
    std::fs::write(&path, b"not a mempipe region, just some bytes in /dev/shm").unwrap();
    assert!(!Region::remove_if_stale(&name).unwrap());
    let mut header = vec![0u8; 4096];
    header[..8].copy_from_slice(b"mempipe\0");
    std::fs::write(&path, &header).unwrap();
    assert!(!Region::remove_if_stale(&name).unwrap(), "creator pid 0");
    assert!(path.exists());
    std::fs::remove_file(&path).unwrap();
    assert!(Region::remove_if_stale("bad/name").is_err());
}

/// A hostile producer rewrites its pid word (to init's, a process that never
/// dies) after the consumer started watching it, then is killed: the consumer
/// must still notice the death of the process it watched.
#[test]
fn producer_that_rewrites_its_pid_then_dies_is_still_noticed() {
    let _serial = common::serial();
    let fds = open_fds();
    {
        let region =
            Region::create_anonymous(&config(WakeupKind::Futex, 4096, 256)).expect("create");
        let mut consumer = region.consumer().expect("claim consumer");
        let mut child = spawn(&region, "claim_producer_rewrite_pid", "");
        let mut buf = Vec::new();
        // Blocks (watching the producer) until the rewrite is long done.
        match consumer.recv_timeout(&mut buf, Duration::from_millis(600)) {
            Err(RecvError::Timeout) => {}
            other => panic!("expected a timeout while the producer lives: {other:?}"),
        }
        child.wait_for_line("MEMPIPE_PID_REWRITTEN", HANG_GUARD);
        child.kill();
        child.reap_killed();
        match consumer.recv_timeout(&mut buf, Duration::from_secs(5)) {
            Err(RecvError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
            other => panic!("expected PeerDied of the watched producer, got {other:?}"),
        }
    }
    assert_no_fd_leak(fds);
}
