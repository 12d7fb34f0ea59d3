//! Descriptors a peer process shares with this side, turned against it.
//!
//! * Wake descriptors (eventfd wakeups): they share their open file description
//!   with the peer, which can clear `O_NONBLOCK` on them and fill or empty them
//!   at will. No call on this side may block because of that: a non-blocking
//!   send stays non-blocking, a timed call returns within its timeout.
//! * The memory descriptor: a region received from a peer (inherited, or over a
//!   socket) must be a memfd sealed against shrinking, growing and new seals,
//!   or the peer could truncate it under the mapping (every access then raises
//!   SIGBUS). An unsealed one is refused before it is mapped.

mod common;

use common::{spawn_child, ChildProc, HANG_GUARD, READY};
use mempipe::{Config, OpenError, RecvError, Region, SendError, WakeupKind};
use rustix::fs::OFlags;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::FdFlags;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;

const CAPACITY: usize = 4096;
const MAX_MESSAGE: usize = 1024;

fn config(wakeup: WakeupKind) -> Config {
    Config::new()
        .capacity(CAPACITY)
        .max_message(MAX_MESSAGE)
        .wakeup(wakeup)
        .liveness_interval(Duration::from_millis(20))
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    match ctx.role.as_str() {
        // Claims the consumer, asks to be woken on the next commit, then makes
        // every wake descriptor blocking and full.
        "armed_consumer_saturates" => {
            let region = ctx.inherited_region();
            let mut consumer = region.consumer().expect("claim the consumer end");
            assert!(!consumer.arm_notify().expect("arm_notify"));
            tamper(&wake_fds(&ctx), true);
            common::signal_ready();
            common::park_forever();
        }
        // Claims `ctx.field(0)`'s end, then makes every wake descriptor
        // blocking and empty.
        "claim_then_block" => {
            let region = ctx.inherited_region();
            let _producer = (ctx.field(0) == "producer").then(|| region.producer().unwrap());
            let _consumer = (ctx.field(0) == "consumer").then(|| region.consumer().unwrap());
            tamper(&wake_fds(&ctx), false);
            common::signal_ready();
            common::park_forever();
        }
        // Opens an inherited region and reads from it until killed.
        "open_handoff_and_read" => {
            let token = ctx.token.as_deref().expect("a token");
            // SAFETY: the parent left these descriptors open across exec for this
            // child, which calls this once; nothing else here owns them.
            match unsafe { Region::from_handoff(token) } {
                Err(e) => println!("REFUSED {e}"),
                Ok(region) => {
                    let mut consumer = region.consumer().expect("claim the consumer end");
                    println!("OPENED");
                    let mut buf = Vec::new();
                    loop {
                        let _ = consumer.try_recv(&mut buf);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        // Sends an unsealed copy of a region (with the seals named in field 1)
        // over the socket inherited as descriptor field 0.
        "send_unsealed" => {
            let fd: RawFd = ctx.parse(0);
            // SAFETY: the parent left this socket open across exec for this child;
            // nothing else in this process owns it.
            let socket = unsafe { UnixStream::from_raw_fd(fd) };
            let seals = match ctx.field(1) {
                "none" => SealFlags::empty(),
                "shrink" => SealFlags::SHRINK,
                other => panic!("unknown seals {other}"),
            };
            let memfd = unsealed_copy(seals);
            send_fds(&socket, &[memfd.as_fd()]);
            common::signal_ready();
            common::park_forever();
        }
        role => panic!("unknown role {role}"),
    }
}

/// The wake descriptors named in the inherited token (all but the first).
fn wake_fds(ctx: &common::ChildContext) -> Vec<RawFd> {
    let token = ctx.token.as_deref().expect("a token");
    let list = token.strip_prefix("mempipe-fds:").expect("a handoff token");
    let fds: Vec<RawFd> = list.split(',').map(|n| n.parse().unwrap()).collect();
    assert_eq!(fds.len(), 3, "an eventfd region passes three descriptors");
    fds[1..].to_vec()
}

/// Empties every wake descriptor (`fill`: then fills it to the brim), then
/// clears `O_NONBLOCK` on it: what the region's other process sees afterwards
/// is a descriptor that blocks on read, and on write if `fill`.
fn tamper(fds: &[RawFd], fill: bool) {
    for &raw in fds {
        // SAFETY: the descriptor came with the region and stays open (the
        // region owns it) for this whole function.
        let fd = unsafe { BorrowedFd::borrow_raw(raw) };
        let link = std::fs::read_link(format!("/proc/self/fd/{raw}")).unwrap();
        let is_eventfd = link.to_string_lossy().contains("eventfd");
        let mut buf = [0u8; 64];
        while rustix::io::read(fd, &mut buf).is_ok() {}
        if fill && is_eventfd {
            // The largest count an eventfd holds: any further write blocks.
            rustix::io::write(fd, &(u64::MAX - 1).to_ne_bytes()).expect("saturate");
        } else if fill {
            // A datagram socket: queue datagrams to its peer until refused.
            use rustix::net::SendFlags;
            while rustix::net::send(fd, &[0xee], SendFlags::DONTWAIT).is_ok() {}
        }
        let flags = rustix::fs::fcntl_getfl(fd).unwrap();
        rustix::fs::fcntl_setfl(fd, flags - OFlags::NONBLOCK).expect("clear O_NONBLOCK");
    }
}

fn spawn(region: &Region, role: &str, arg: &str) -> ChildProc {
    let handoff = region.handoff().expect("handoff");
    let mut child = spawn_child("child_entry", role, Some(&handoff.token()), arg);
    drop(handoff);
    child.wait_for_line(READY, HANG_GUARD);
    child
}

/// Runs `call` on a thread and gives its result, or panics if it has not
/// returned within the hang guard (it blocked on a descriptor).
fn must_return<R: Send + 'static>(what: &str, call: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx.recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{what} blocked on a descriptor the peer tampered with"))
}

#[test]
fn try_send_does_not_block_on_a_full_blocking_wake_descriptor() {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(WakeupKind::EventFd)).expect("create");
    let mut producer = region.producer().expect("claim producer");
    let mut child = spawn(&region, "armed_consumer_saturates", "");
    // The consumer is armed: the first commit rings its wake descriptor.
    let result = must_return("try_send", move || {
        let first = producer.try_send(&[1; 64]);
        let second = producer.try_send(&[2; 64]);
        (first, second)
    });
    assert!(matches!(result, (Ok(()), Ok(()))), "{result:?}");
    child.kill();
    child.reap_killed();
}

#[test]
fn a_timed_receive_returns_despite_a_blocking_wake_descriptor() {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(WakeupKind::EventFd)).expect("create");
    let mut consumer = region.consumer().expect("claim consumer");
    let mut child = spawn(&region, "claim_then_block", "producer");
    let (timed, armed, consumer) = must_return("recv_timeout / arm_notify", move || {
        let mut buf = Vec::new();
        let timed = consumer.recv_timeout(&mut buf, Duration::from_millis(60));
        let armed = consumer.arm_notify();
        (timed, armed, consumer)
    });
    assert!(matches!(timed, Err(RecvError::Timeout)), "{timed:?}");
    assert!(matches!(armed, Ok(false)), "{armed:?}");
    drop(consumer);
    child.kill();
    child.reap_killed();
}

#[test]
fn a_timed_send_on_a_full_ring_returns_despite_a_blocking_wake_descriptor() {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(WakeupKind::EventFd)).expect("create");
    let mut producer = region.producer().expect("claim producer");
    let mut child = spawn(&region, "claim_then_block", "consumer");
    while producer.try_send(&[3; 100]).is_ok() {}
    let result = must_return("send_timeout", move || {
        producer.send_timeout(&[4; 100], Duration::from_millis(60))
    });
    assert!(matches!(result, Err(SendError::Timeout)), "{result:?}");
    child.kill();
    child.reap_killed();
}

/// A memfd holding a copy of a fresh region (a valid header), carrying only `seals`.
fn unsealed_copy(seals: SealFlags) -> OwnedFd {
    let region = Region::create_anonymous(&config(WakeupKind::Futex)).expect("create");
    let original = File::from(region.memory_fd().try_clone_to_owned().unwrap());
    let len = original.metadata().unwrap().len();
    let mut bytes = vec![0u8; len as usize];
    original.read_exact_at(&mut bytes, 0).unwrap();
    let memfd = rustix::fs::memfd_create(
        "not-sealed",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .unwrap();
    let copy = File::from(memfd);
    copy.write_all_at(&bytes, 0).unwrap();
    if !seals.is_empty() {
        rustix::fs::fcntl_add_seals(&copy, seals).unwrap();
    }
    OwnedFd::from(copy)
}

/// Sends descriptors the way `Region::send_over` does: a tag byte with the count.
fn send_fds(socket: &UnixStream, fds: &[BorrowedFd<'_>]) {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    let tag = [fds.len() as u8];
    sendmsg(
        socket,
        &[std::io::IoSlice::new(&tag)],
        &mut control,
        SendFlags::empty(),
    )
    .expect("sendmsg");
}

#[test]
fn an_inherited_unsealed_memfd_is_refused_before_it_is_mapped() {
    let _serial = common::serial();
    let memfd = File::from(unsealed_copy(SealFlags::empty()));
    let inherited = rustix::io::fcntl_dupfd_cloexec(&memfd, 3).unwrap();
    rustix::io::fcntl_setfd(&inherited, FdFlags::empty()).unwrap();
    let token = format!("mempipe-fds:{}", inherited.as_raw_fd());
    let mut child = spawn_child("child_entry", "open_handoff_and_read", Some(&token), "");
    drop(inherited);
    let line = child.line_starting_with(&["OPENED", "REFUSED"], HANG_GUARD);
    if line == "OPENED" {
        // What a hostile sender does next: every access of the receiver's
        // mapping now raises SIGBUS.
        memfd.set_len(0).unwrap();
        let status = child.wait_timeout(HANG_GUARD);
        panic!("the child mapped an unsealed memfd, which was then truncated: {status:?}");
    }
    for seal in ["F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_SEAL"] {
        assert!(line.contains(seal), "{line:?} does not name {seal}");
    }
    child.assert_success(HANG_GUARD);
}

fn received_over_a_socket(seals: &str) -> Result<Region, OpenError> {
    let _serial = common::serial();
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    rustix::io::fcntl_setfd(&theirs, FdFlags::empty()).expect("clear CLOEXEC");
    let arg = format!("{}:{seals}", theirs.as_raw_fd());
    let mut child = spawn_child("child_entry", "send_unsealed", None, &arg);
    drop(theirs);
    child.wait_for_line(READY, HANG_GUARD);
    let result = Region::recv_from(&ours);
    child.kill();
    child.reap_killed();
    result
}

#[test]
fn an_unsealed_memfd_received_over_a_socket_is_refused() {
    let err = received_over_a_socket("none").expect_err("an unsealed memfd was accepted");
    let text = err.to_string();
    for seal in ["F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_SEAL"] {
        assert!(text.contains(seal), "{text:?} does not name {seal}");
    }
}

#[test]
fn a_memfd_sealed_only_against_shrinking_is_refused_naming_the_rest() {
    let err = received_over_a_socket("shrink").expect_err("a partly sealed memfd was accepted");
    let text = err.to_string();
    assert!(!text.contains("F_SEAL_SHRINK"), "{text:?}");
    for seal in ["F_SEAL_GROW", "F_SEAL_SEAL"] {
        assert!(text.contains(seal), "{text:?} does not name {seal}");
    }
}
