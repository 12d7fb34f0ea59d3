//! Regions: named objects (mode, lifetime, name collisions, stale leftovers),
//! opening errors, descriptor passing over a UNIX socket, and claiming ends.

mod common;

use common::{spawn_child, Stream, HANG_GUARD, READY};
use mempipe::{AttachError, Config, ConfigError, CreateError, OpenError, Region, Side, WakeupKind};
use std::fs;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

fn config(wakeup: WakeupKind) -> Config {
    Config::new()
        .capacity(16 << 10)
        .max_message(1024)
        .wakeup(wakeup)
}

fn shm_path(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name.trim_start_matches('/'))
}

/// Removes a named region when the test ends, passed or not.
struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = Region::remove(&self.0);
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mempipe-regions-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn join(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    match ctx.role.as_str() {
        "open_named_consumer" => {
            let name = ctx.field(0);
            let region = Region::open_named(name).expect("open_named in the child");
            assert_eq!(region.name().as_deref(), Some(name));
            assert_eq!(region.creator_pid(), std::os::unix::process::parent_id());
            let mut consumer = region.consumer().expect("claim the consumer end");
            common::recv_stream(&mut consumer, Stream::from_ctx(&ctx, 1));
            common::expect_disconnected(&mut consumer);
        }
        "create_named_then_park" => {
            let _region =
                Region::create_named(ctx.field(0), &config(WakeupKind::Futex)).expect("create");
            common::signal_ready();
            common::park_forever();
        }
        "socket_producer" => {
            use std::os::fd::FromRawFd;
            let fd: i32 = ctx.parse(0);
            // SAFETY: `fd` is the socket the parent left open across exec for
            // this child; nothing else in this process owns it.
            let socket = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
            let region = Region::recv_from(&socket).expect("recv_from");
            assert_eq!(region.wakeup(), WakeupKind::EventFd);
            let mut producer = region.producer().expect("claim the producer end");
            common::send_stream(&mut producer, Stream::from_ctx(&ctx, 1));
        }
        "claim_producer_then_park" => {
            let region = ctx.inherited_region();
            let _producer = region.producer().expect("claim the producer end");
            common::signal_ready();
            common::park_forever();
        }
        role => panic!("unknown role {role}"),
    }
}

fn named_exchange(wakeup: WakeupKind) {
    let _serial = common::serial();
    let name = common::unique_name("xchg");
    let _cleanup = RemoveOnDrop(name.clone());
    let region = Region::create_named(&name, &config(wakeup)).expect("create_named");
    assert_eq!(region.name().as_deref(), Some(name.as_str()));
    let path = shm_path(&name);
    let mode = fs::metadata(&path)
        .expect("stat the shm object")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");

    let mut producer = region.producer().expect("claim producer");
    let s = Stream {
        seed: 0x4e41_4d45 + wakeup as u64,
        count: 20_000,
        max: 1024,
    };
    let mut child = spawn_child(
        "child_entry",
        "open_named_consumer",
        None,
        &format!("{name}:{}", s.to_arg()),
    );
    common::send_stream(&mut producer, s);
    drop(producer);
    child.assert_success(HANG_GUARD);
    assert!(path.exists(), "an opener's drop must not unlink the name");
    drop(region);
    assert!(!path.exists(), "the creator's drop unlinks the name");
    assert!(matches!(
        Region::open_named(&name),
        Err(OpenError::NotFound { .. })
    ));
}

#[test]
fn named_region_futex_exchange_with_a_child_then_unlinked() {
    named_exchange(WakeupKind::Futex);
}

#[test]
fn named_region_hybrid_exchange_with_a_child_then_unlinked() {
    named_exchange(WakeupKind::Hybrid);
}

#[test]
fn named_region_kept_without_unlink_on_drop_then_removed() {
    let name = common::unique_name("keep");
    let _cleanup = RemoveOnDrop(name.clone());
    let region = Region::create_named(&name, &config(WakeupKind::Futex).unlink_on_drop(false))
        .expect("create_named");
    drop(region);
    let path = shm_path(&name);
    assert!(path.exists(), "unlink_on_drop(false) keeps the object");
    let reopened = Region::open_named(&name).expect("reopen the kept region");
    assert_eq!(reopened.creator_pid(), std::process::id());
    drop(reopened);
    assert!(path.exists());
    assert!(Region::remove(&name).expect("remove"));
    assert!(!path.exists());
    assert!(!Region::remove(&name).expect("remove again"));
}

#[test]
fn creating_an_existing_name_names_its_live_creator() {
    let name = common::unique_name("exists");
    let _cleanup = RemoveOnDrop(name.clone());
    let _region = Region::create_named(&name, &config(WakeupKind::Futex)).expect("create");
    match Region::create_named(&name, &config(WakeupKind::Futex)) {
        Err(
            e @ CreateError::AlreadyExists {
                creator_pid,
                creator_alive,
                ..
            },
        ) => {
            assert_eq!(creator_pid, Some(std::process::id()));
            assert_eq!(creator_alive, Some(true));
            let msg = e.to_string();
            assert!(msg.contains("still running"), "{msg}");
            assert!(msg.contains("Region::remove"), "{msg}");
            assert!(msg.contains("replace_existing(true)"), "{msg}");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[test]
fn a_killed_creators_leftover_is_reported_stale_and_can_be_replaced() {
    let _serial = common::serial();
    let name = common::unique_name("stale");
    let _cleanup = RemoveOnDrop(name.clone());
    let mut child = spawn_child("child_entry", "create_named_then_park", None, &name);
    child.wait_for_line(READY, HANG_GUARD);
    child.kill();
    child.reap_killed();
    assert!(shm_path(&name).exists(), "SIGKILL runs no destructor");

    match Region::create_named(&name, &config(WakeupKind::Futex)) {
        Err(
            e @ CreateError::AlreadyExists {
                creator_pid,
                creator_alive,
                ..
            },
        ) => {
            assert_eq!(creator_pid, Some(child.pid()));
            assert_eq!(creator_alive, Some(false));
            assert!(e.to_string().contains("no longer running"), "{e}");
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }

    let replaced = Region::create_named(&name, &config(WakeupKind::Futex).replace_existing(true))
        .expect("replace_existing(true)");
    assert_eq!(replaced.creator_pid(), std::process::id());
    let mut producer = replaced.producer().expect("fresh producer end");
    let mut consumer = replaced.consumer().expect("fresh consumer end");
    producer.send(b"replaced").unwrap();
    let mut buf = Vec::new();
    consumer.try_recv(&mut buf).unwrap();
    assert_eq!(buf, b"replaced");
    drop((producer, consumer, replaced));
    assert!(!shm_path(&name).exists());
}

/// Regression: a region's drop must not unlink its *name*
/// when the name now belongs to another region that replaced it
/// (`replace_existing(true)`), pulling the object out from under a live owner.
#[test]
fn dropping_a_replaced_region_leaves_the_replacement_linked() {
    let name = common::unique_name("replaced");
    let _cleanup = RemoveOnDrop(name.clone());
    let first = Region::create_named(&name, &config(WakeupKind::Futex)).expect("create");
    let second = Region::create_named(&name, &config(WakeupKind::Futex).replace_existing(true))
        .expect("replace");
    drop(first);
    assert!(
        shm_path(&name).exists(),
        "dropping the replaced region unlinked its replacement"
    );
    let opened = Region::open_named(&name).expect("open the replacement by name");
    assert_eq!(opened.creator_pid(), second.creator_pid());
}

#[test]
fn eventfd_regions_cannot_be_named() {
    let name = common::unique_name("efd");
    let _cleanup = RemoveOnDrop(name.clone());
    match Region::create_named(&name, &config(WakeupKind::EventFd)) {
        Err(CreateError::InvalidConfig(ConfigError::EventFdNeedsDescriptors)) => {}
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    assert!(!shm_path(&name).exists(), "nothing left behind");
    let dir = TempDir::new();
    assert!(matches!(
        Region::create_at_path(dir.join("efd"), &config(WakeupKind::EventFd)),
        Err(CreateError::InvalidConfig(
            ConfigError::EventFdNeedsDescriptors
        ))
    ));
    assert!(!dir.join("efd").exists());
}

/// Creates a region file at `path` and leaves it there (unlink_on_drop false).
fn region_file(path: &Path, wakeup: WakeupKind) {
    let region = Region::create_at_path(path, &config(wakeup).unlink_on_drop(false))
        .expect("create_at_path");
    drop(region);
    Region::open_at_path(path).expect("a fresh region file opens");
}

#[test]
fn opening_junk_is_not_mempipe() {
    let dir = TempDir::new();
    let junk = dir.join("junk");
    fs::write(&junk, vec![0xab; 8192]).unwrap();
    match Region::open_at_path(&junk) {
        Err(OpenError::NotMempipe(why)) => assert!(why.contains("magic"), "{why}"),
        other => panic!("expected NotMempipe, got {other:?}"),
    }
    // A real region file whose header was overwritten.
    let scribbled = dir.join("scribbled");
    region_file(&scribbled, WakeupKind::Futex);
    let file = fs::OpenOptions::new().write(true).open(&scribbled).unwrap();
    file.write_all_at(b"not a mempipe header", 0).unwrap();
    assert!(matches!(
        Region::open_at_path(&scribbled),
        Err(OpenError::NotMempipe(_))
    ));
    // Too small to be any region.
    let small = dir.join("small");
    fs::write(&small, b"tiny").unwrap();
    assert!(matches!(
        Region::open_at_path(&small),
        Err(OpenError::NotMempipe(_))
    ));
}

#[test]
fn opening_another_layout_version_is_a_version_mismatch() {
    let dir = TempDir::new();
    let path = dir.join("v2");
    region_file(&path, WakeupKind::Futex);
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    // The header's version field is the u32 at offset 8 (after the magic).
    file.write_all_at(&2u32.to_ne_bytes(), 8).unwrap();
    match Region::open_at_path(&path) {
        Err(e @ OpenError::VersionMismatch { found, expected }) => {
            assert_eq!((found, expected), (2, 1));
            assert!(e.to_string().contains("version 2 vs 1"), "{e}");
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
}

#[test]
fn opening_a_truncated_region_is_a_size_mismatch() {
    let dir = TempDir::new();
    let path = dir.join("cut");
    region_file(&path, WakeupKind::Futex);
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(8192).unwrap();
    match Region::open_at_path(&path) {
        Err(OpenError::SizeMismatch { actual, expected }) => {
            assert_eq!(actual, 8192);
            assert_eq!(expected, 4096 + (16 << 10));
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    // Truncated to nothing: a creator that has not sized it yet.
    file.set_len(0).unwrap();
    assert!(matches!(
        Region::open_at_path(&path),
        Err(OpenError::NotReady)
    ));
}

#[test]
fn opening_an_eventfd_region_by_name_needs_descriptors() {
    let dir = TempDir::new();
    let path = dir.join("efd-header");
    region_file(&path, WakeupKind::Futex);
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    // The header's wakeup field is the u32 at offset 32.
    file.write_all_at(&(WakeupKind::EventFd as u32).to_ne_bytes(), 32)
        .unwrap();
    assert!(matches!(
        Region::open_at_path(&path),
        Err(OpenError::NeedsDescriptors)
    ));
}

#[test]
fn opening_a_missing_region_is_not_found() {
    let name = common::unique_name("missing");
    match Region::open_named(&name) {
        Err(e @ OpenError::NotFound { .. }) => assert!(e.to_string().contains(&name), "{e}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let dir = TempDir::new();
    assert!(matches!(
        Region::open_at_path(dir.join("missing")),
        Err(OpenError::NotFound { .. })
    ));
}

#[test]
fn send_over_a_socket_to_a_child_with_eventfd_wakeups() {
    use rustix::io::{fcntl_setfd, FdFlags};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    let _serial = common::serial();
    let region = Region::create_anonymous(&config(WakeupKind::EventFd)).expect("create");
    let mut consumer = region.consumer().expect("claim consumer");
    assert!(consumer.notify_fd().is_some());
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    // Let the child inherit its end across exec.
    fcntl_setfd(&theirs, FdFlags::empty()).expect("clear CLOEXEC");
    let s = Stream {
        seed: 0x50c4,
        count: 20_000,
        max: 1024,
    };
    let mut child = spawn_child(
        "child_entry",
        "socket_producer",
        None,
        &format!("{}:{}", theirs.as_raw_fd(), s.to_arg()),
    );
    drop(theirs);
    region.send_over(&ours).expect("send_over");
    common::recv_stream(&mut consumer, s);
    common::expect_disconnected(&mut consumer);
    child.assert_success(HANG_GUARD);
}

#[test]
fn claiming_an_end_twice_is_refused() {
    let region = Region::create_anonymous(&config(WakeupKind::Futex)).expect("create");
    let me = std::process::id();
    let producer = region.producer().expect("claim producer");
    let consumer = region.consumer().expect("claim consumer");
    for (result, want) in [
        (region.producer().map(drop), Side::Producer),
        (region.clone().consumer().map(drop), Side::Consumer),
    ] {
        match result {
            Err(AttachError::AlreadyClaimed { side, pid, .. }) => {
                assert_eq!((side, pid), (want, me))
            }
            other => panic!("expected AlreadyClaimed, got {other:?}"),
        }
    }
    drop(producer);
    drop(consumer);
    assert!(matches!(
        region.producer(),
        Err(AttachError::AlreadyClosed {
            side: Side::Producer
        })
    ));
}

#[test]
fn an_end_claimed_by_a_child_is_refused_to_the_parent() {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(WakeupKind::Futex)).expect("create");
    let handoff = region.handoff().expect("handoff");
    let mut child = spawn_child(
        "child_entry",
        "claim_producer_then_park",
        Some(&handoff.token()),
        "",
    );
    drop(handoff);
    child.wait_for_line(READY, HANG_GUARD);
    match region.producer() {
        Err(e @ AttachError::AlreadyClaimed { side, pid, .. }) => {
            assert_eq!((side, pid), (Side::Producer, child.pid()));
            assert!(e.to_string().contains("still running"), "{e}");
        }
        other => panic!("expected AlreadyClaimed, got {other:?}"),
    }
    child.kill();
    child.reap_killed();
    // The holder is dead: the error says so, and what to do instead.
    match region.producer() {
        Err(e @ AttachError::AlreadyClaimed { side, pid, .. }) => {
            assert_eq!((side, pid), (Side::Producer, child.pid()));
            let text = e.to_string();
            assert!(text.contains("no longer running"), "{text}");
            assert!(text.contains("create a new region"), "{text}");
        }
        other => panic!("expected AlreadyClaimed, got {other:?}"),
    }
}
