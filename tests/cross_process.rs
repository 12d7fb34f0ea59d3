//! Streams between two real processes, for every wakeup strategy: a child
//! producer to the parent consumer and the other way round. Every message is
//! checked for order, loss, duplication and integrity; then the orderly close
//! (the consumer drains, then gets `Disconnected`) and the child's exit status.

mod common;

use common::{spawn_child, ChildProc, Stream, HANG_GUARD};
use mempipe::{Config, Region, SendError, WakeupKind};
use std::time::Duration;

const CAPACITY: usize = 16 << 10;
const MAX: usize = 1024;
const COUNT: u64 = 100_000;

fn config(wakeup: WakeupKind) -> Config {
    Config::new()
        .capacity(CAPACITY)
        .max_message(MAX)
        .wakeup(wakeup)
        .liveness_interval(Duration::from_millis(50))
}

fn stream(wakeup: WakeupKind) -> Stream {
    Stream {
        seed: 0x5eed_0000 + wakeup as u64,
        count: COUNT,
        max: MAX,
    }
}

/// The child side of every test here (returns at once in the parent).
#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let region = ctx.inherited_region();
    let s = Stream::from_ctx(&ctx, 0);
    match ctx.role.as_str() {
        "producer" => {
            let mut producer = region.producer().expect("claim the producer end");
            common::send_stream(&mut producer, s);
            // Dropping the producer is the orderly close the parent checks.
        }
        "consumer" => {
            let mut consumer = region.consumer().expect("claim the consumer end");
            common::recv_stream(&mut consumer, s);
            common::expect_disconnected(&mut consumer);
        }
        "read_then_close" => {
            let mut consumer = region.consumer().expect("claim the consumer end");
            common::recv_stream(&mut consumer, s);
        }
        role => panic!("unknown role {role}"),
    }
}

fn spawn(region: &Region, role: &str, s: Stream) -> ChildProc {
    let handoff = region.handoff().expect("handoff");
    let child = spawn_child("child_entry", role, Some(&handoff.token()), &s.to_arg());
    // The parent's copies of the inherited descriptors.
    drop(handoff);
    child
}

fn child_to_parent(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup)).expect("create region");
    assert_eq!(region.wakeup(), wakeup);
    let mut consumer = region.consumer().expect("claim consumer");
    let s = stream(wakeup);
    let mut child = spawn(&region, "producer", s);
    common::recv_stream(&mut consumer, s);
    common::expect_disconnected(&mut consumer);
    child.assert_success(HANG_GUARD);
}

fn parent_to_child(wakeup: WakeupKind) {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(wakeup)).expect("create region");
    let mut producer = region.producer().expect("claim producer");
    let s = stream(wakeup);
    let mut child = spawn(&region, "consumer", s);
    common::send_stream(&mut producer, s);
    assert!(!producer.is_disconnected());
    drop(producer);
    child.assert_success(HANG_GUARD);
}

#[test]
fn spin_child_to_parent() {
    child_to_parent(WakeupKind::Spin);
}

#[test]
fn futex_child_to_parent() {
    child_to_parent(WakeupKind::Futex);
}

#[test]
fn eventfd_child_to_parent() {
    child_to_parent(WakeupKind::EventFd);
}

#[test]
fn hybrid_child_to_parent() {
    child_to_parent(WakeupKind::Hybrid);
}

#[test]
fn spin_parent_to_child() {
    parent_to_child(WakeupKind::Spin);
}

#[test]
fn futex_parent_to_child() {
    parent_to_child(WakeupKind::Futex);
}

#[test]
fn eventfd_parent_to_child() {
    parent_to_child(WakeupKind::EventFd);
}

#[test]
fn hybrid_parent_to_child() {
    parent_to_child(WakeupKind::Hybrid);
}

/// The consumer closes its end: the producer's sends then fail with
/// `Disconnected`, blocking or not.
#[test]
fn producer_sees_consumer_close() {
    let _serial = common::serial();
    let region = Region::create_anonymous(&config(WakeupKind::Futex)).expect("create region");
    let mut producer = region.producer().expect("claim producer");
    let s = Stream {
        seed: 7,
        count: 1000,
        max: MAX,
    };
    let mut child = spawn(&region, "read_then_close", s);
    common::send_stream(&mut producer, s);
    child.assert_success(HANG_GUARD);
    assert!(producer.is_disconnected());
    assert!(matches!(
        producer.try_send(b"late"),
        Err(SendError::Disconnected)
    ));
    assert!(matches!(
        producer.send_timeout(b"late", HANG_GUARD),
        Err(SendError::Disconnected)
    ));
}
