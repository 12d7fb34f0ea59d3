//! Moving a live connection between shared memory and TCP when one side is
//! async (feature `tokio`): a blocking parent moves back and forth while an
//! async child (current-thread and multi-thread runtimes, every receive
//! form) streams both ways; an async child moves against a blocking parent;
//! a move nobody joins, from either side, fails with a typed error and the
//! flow goes on; a dropped async move leaves a working flow whose later
//! moves work. Every message is checked for sequence, length and checksum.
//! Every bound is a hang guard, never a performance figure.
#![cfg(feature = "tokio")]

mod common;

use common::{check_message, fill_message, spawn_child, READY};
use futures_util::StreamExt;
use mempipe::asyncio::{AsyncConnection, AsyncRecvHalf, AsyncSendHalf};
use mempipe::conn::{MigrateError, RecvHalf, SendHalf, TransportKind};
use mempipe::{ConnConfig, Connection, Listener, RecvError};
use std::thread;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Each test fails after this instead of hanging CI.
const GUARD: Duration = Duration::from_secs(60);
const MOVE_TIMEOUT: Duration = Duration::from_secs(5);
const COUNT: u64 = 3000;
const EVERY: u64 = 50;

fn len_of(seq: u64) -> usize {
    16 + (seq.wrapping_mul(2_654_435_761) % 3000) as usize
}

fn config() -> ConnConfig {
    ConnConfig::new().max_message(4096)
}

fn other(kind: TransportKind) -> TransportKind {
    match kind {
        TransportKind::SharedMemory => TransportKind::Tcp,
        TransportKind::Tcp => TransportKind::SharedMemory,
    }
}

/// Runs `body` on its own thread and fails the test if it takes longer than
/// [`GUARD`] (a hang), passing on its panic otherwise.
fn guarded(body: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(GUARD) {
        Ok(()) => worker.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("hung for {GUARD:?}"),
    }
}

fn runtime(flavor: &str) -> tokio::runtime::Runtime {
    match flavor {
        "current" => tokio::runtime::Builder::new_current_thread(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    }
    .enable_all()
    .build()
    .expect("runtime")
}

// ---------------------------------------------------------------------------
// Blocking side.

fn send_all(tx: &mut SendHalf, count: u64, every: u64) -> u64 {
    let mut buf = Vec::new();
    let mut moves = 0;
    for seq in 0..count {
        if every > 0 && seq % every == every / 2 {
            let to = other(tx.transport().kind());
            tx.migrate(to, MOVE_TIMEOUT)
                .unwrap_or_else(|e| panic!("move {moves} to {to:?} at {seq}: {e}"));
            assert_eq!(tx.transport().kind(), to);
            moves += 1;
        }
        fill_message(seq, len_of(seq), &mut buf);
        tx.send(&buf).unwrap_or_else(|e| panic!("send {seq}: {e}"));
    }
    moves
}

fn recv_all(rx: &mut RecvHalf, count: u64) {
    let mut buf = Vec::new();
    for seq in 0..count {
        let n = rx
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("recv {seq}: {e}"));
        check_message(seq, len_of(seq), &buf[..n]).unwrap_or_else(|e| panic!("{e}"));
    }
    match rx.recv(&mut buf) {
        Err(RecvError::Disconnected) => {}
        other => panic!("after {count} messages: {other:?}"),
    }
}

/// Both directions at full load on two threads; moves every `every`
/// messages. Returns the moves made.
fn run_blocking(conn: Connection, count: u64, every: u64) -> u64 {
    let (mut tx, mut rx) = conn.split();
    let receiver = thread::spawn(move || recv_all(&mut rx, count));
    let moves = send_all(&mut tx, count, every);
    drop(tx);
    receiver.join().expect("receiver");
    moves
}

// ---------------------------------------------------------------------------
// Async side.

async fn send_all_async(tx: &mut AsyncSendHalf, count: u64, every: u64, api: &str) -> u64 {
    let mut buf = Vec::new();
    let mut moves = 0;
    for seq in 0..count {
        if every > 0 && seq % every == every / 2 {
            let to = other(tx.transport().kind());
            tx.migrate(to, MOVE_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("async move {moves} to {to:?} at {seq}: {e}"));
            assert_eq!(tx.transport().kind(), to);
            moves += 1;
        }
        fill_message(seq, len_of(seq), &mut buf);
        let sent = match api {
            // Reservations through the byte-stream view's other path.
            "reserve" => match tx.reserve(buf.len()).await {
                Ok(mut grant) => {
                    grant.write_at(0, &buf).expect("in bounds");
                    grant.commit();
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => tx.send(&buf).await,
        };
        sent.unwrap_or_else(|e| panic!("async send {seq}: {e}"));
    }
    moves
}

/// Receives `count` messages in order with the receive form `api`, then the
/// peer's end.
async fn recv_all_async(rx: &mut AsyncRecvHalf, count: u64, api: &str) {
    let mut buf = Vec::new();
    let mut into = vec![0u8; 4096];
    for seq in 0..count {
        let len = len_of(seq);
        let got: &[u8] = match api {
            // The sender's form names the test; its receiver takes whole messages.
            "recv" | "reserve" => {
                let n = rx.recv(&mut buf).await;
                &buf[..n.unwrap_or_else(|e| panic!("recv {seq}: {e}"))]
            }
            // A receive raced against a short timer: most futures are
            // dropped before they complete.
            "select" => loop {
                tokio::select! {
                    n = rx.recv(&mut buf) => {
                        break &buf[..n.unwrap_or_else(|e| panic!("recv {seq}: {e}"))];
                    }
                    _ = tokio::time::sleep(Duration::from_micros(100)) => {}
                }
            },
            "recv_into" => {
                let n = rx.recv_into(&mut into).await;
                &into[..n.unwrap_or_else(|e| panic!("recv_into {seq}: {e}"))]
            }
            "stream" => {
                let item = rx.next().await.expect("the stream ended early");
                buf = item
                    .unwrap_or_else(|e| panic!("stream {seq}: {e}"))
                    .to_vec();
                &buf
            }
            "try" => loop {
                match rx.try_recv(&mut buf) {
                    Ok(n) => break &buf[..n],
                    Err(RecvError::Empty) => tokio::task::yield_now().await,
                    Err(e) => panic!("try_recv {seq}: {e}"),
                }
            },
            "bytes" => {
                rx.read_exact(&mut into[..len])
                    .await
                    .unwrap_or_else(|e| panic!("read {seq}: {e}"));
                &into[..len]
            }
            api => panic!("unknown receive form {api}"),
        };
        check_message(seq, len, got).unwrap_or_else(|e| panic!("{e}"));
    }
    let end = match api {
        "stream" => match rx.next().await {
            None => Ok(()),
            Some(other) => Err(format!("{other:?}")),
        },
        "bytes" => match rx.read(&mut into).await {
            Ok(0) => Ok(()),
            other => Err(format!("{other:?}")),
        },
        "try" => loop {
            match rx.try_recv(&mut buf) {
                Err(RecvError::Empty) => tokio::task::yield_now().await,
                Err(RecvError::Disconnected) => break Ok(()),
                other => break Err(format!("{other:?}")),
            }
        },
        _ => match rx.recv(&mut buf).await {
            Err(RecvError::Disconnected) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    };
    end.unwrap_or_else(|e| panic!("after {count} messages: {e}"));
}

/// The async peer: both directions at full load in two tasks; moves every
/// `every` messages. Returns the moves made.
async fn run_async(conn: AsyncConnection, count: u64, every: u64, api: String) -> u64 {
    let (mut tx, mut rx) = conn.split();
    let recv_api = api.clone();
    let receiver = tokio::spawn(async move { recv_all_async(&mut rx, count, &recv_api).await });
    let moves = send_all_async(&mut tx, count, every, &api).await;
    drop(tx);
    if let Err(e) = receiver.await {
        std::panic::resume_unwind(e.into_panic());
    }
    moves
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    // The child's own hang guard: a parent that failed leaves no orphan.
    thread::spawn(|| {
        thread::sleep(GUARD);
        eprintln!("child hung for {GUARD:?}");
        std::process::exit(3);
    });
    let f = ctx.fields();
    match ctx.role.as_str() {
        "async_peer" => {
            let (address, count, every) = (f[0].to_owned(), f[1].parse().unwrap(), f[2].parse());
            let (flavor, api) = (f[3], f[4].to_owned());
            let moves = runtime(flavor).block_on(async move {
                let conn = mempipe::asyncio::connect(address.as_str(), &config())
                    .await
                    .expect("connect");
                common::signal_ready();
                run_async(conn, count, every.unwrap(), api).await
            });
            println!("MOVES {moves}");
        }
        role => panic!("unknown role {role}"),
    }
}

fn listen(tag: &str, tcp: bool) -> (Listener, String) {
    let name = common::unique_listener_name(tag);
    let mut config = config();
    if tcp {
        config = config.plaintext_tcp("127.0.0.1:0");
    }
    let listener = Listener::bind(&name, &config).expect("bind");
    let address = match listener.tcp_addr() {
        Some(addr) => format!("tcp://{addr}"),
        None => name,
    };
    (listener, address)
}

/// Both directions at full load between a blocking parent and an async
/// child (`flavor` runtime, receive form `api`); `COUNT / EVERY` moves made
/// by the parent or the child, starting on TCP or shared memory.
fn back_and_forth(tag: &'static str, tcp: bool, parent_moves: bool, flavor: &str, api: &str) {
    let arg_tail = format!("{flavor}|{api}");
    guarded(move || {
        let _serial = common::serial();
        let (listener, address) = listen(tag, tcp);
        let child_every = if parent_moves { 0 } else { EVERY };
        let mut child = spawn_child(
            "child_entry",
            "async_peer",
            None,
            &format!("{address}|{COUNT}|{child_every}|{arg_tail}"),
        );
        let conn = listener.accept_timeout(GUARD).expect("accept");
        child.wait_for_line(READY, GUARD);
        let parent_every = if parent_moves { EVERY } else { 0 };
        let moves = run_blocking(conn, COUNT, parent_every);
        let line = child.wait_for_prefix("MOVES ", GUARD);
        let child_moves: u64 = line.trim().parse().unwrap();
        assert_eq!(moves + child_moves, COUNT / EVERY);
        child.assert_success(GUARD);
    });
}

#[test]
fn blocking_parent_moves_an_async_current_thread_child_from_shared_memory() {
    back_and_forth("amv-a", false, true, "current", "recv");
}

#[test]
fn blocking_parent_moves_an_async_multi_thread_child_from_tcp_with_dropped_receives() {
    back_and_forth("amv-b", true, true, "multi", "select");
}

#[test]
fn blocking_parent_moves_an_async_child_reading_bytes() {
    back_and_forth("amv-c", false, true, "multi", "bytes");
}

#[test]
fn blocking_parent_moves_an_async_child_receiving_into_slices_and_without_waiting() {
    back_and_forth("amv-d", true, true, "current", "recv_into");
    back_and_forth("amv-e", false, true, "multi", "try");
}

#[test]
fn async_child_moves_back_and_forth_from_shared_memory() {
    back_and_forth("amv-f", false, false, "multi", "stream");
}

#[test]
fn async_current_thread_child_moves_back_and_forth_from_tcp_with_reservations() {
    back_and_forth("amv-g", true, false, "current", "reserve");
}

/// A blocking client and an async server, connected in this process.
fn pair(tag: &str) -> (Connection, AsyncConnection) {
    let (listener, address) = listen(tag, false);
    let client = thread::spawn(move || mempipe::connect(address.as_str(), &config()).unwrap());
    let server = listener.accept_timeout(GUARD).expect("accept");
    let client = client.join().unwrap();
    (client, AsyncConnection::new(server).expect("async"))
}

/// A blocking move the async peer does not join (it is not receiving)
/// fails with a typed error; the flow stays and carries on, and a move the
/// async peer joins works after it.
#[test]
fn a_move_an_async_peer_does_not_join_fails_and_the_flow_goes_on() {
    guarded(|| {
        let _serial = common::serial();
        let rt = runtime("current");
        let (mut mover, mut peer) = pair("amv-nojoin");
        mover.send(b"before").unwrap();
        match mover.migrate(TransportKind::Tcp, Duration::from_millis(200)) {
            Err(MigrateError::Timeout { kind, .. }) => assert_eq!(kind, TransportKind::Tcp),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(mover.transport().kind(), TransportKind::SharedMemory);
        mover.send(b"after").unwrap();
        rt.block_on(async {
            let mut buf = Vec::new();
            for want in [&b"before"[..], b"after"] {
                let n = peer.recv(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], want);
            }
        });
        assert_eq!(peer.transport().kind(), TransportKind::SharedMemory);
        // A move the async peer joins: its receive takes the new leg, and its
        // next send follows.
        let (mut mover_tx, mut mover_rx) = mover.split();
        let moving = thread::spawn(move || {
            mover_tx.migrate(TransportKind::Tcp, MOVE_TIMEOUT).unwrap();
            mover_tx.send(b"moved").unwrap();
            mover_tx
        });
        rt.block_on(async {
            let mut buf = Vec::new();
            let n = peer.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"moved");
            assert_eq!(peer.receiver().transport().kind(), TransportKind::Tcp);
            // The sending direction follows at its next send.
            assert_eq!(peer.transport().kind(), TransportKind::SharedMemory);
            peer.send(b"reply").await.unwrap();
            assert_eq!(peer.sender().transport().kind(), TransportKind::Tcp);
        });
        let mover_tx = moving.join().unwrap();
        assert_eq!(mover_tx.transport().kind(), TransportKind::Tcp);
        let mut buf = Vec::new();
        let n = mover_rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(mover_rx.transport().kind(), TransportKind::Tcp);
    });
}

/// An async move the blocking peer does not join fails with a typed error
/// and the flow goes on; a move it joins works after it.
#[test]
fn an_async_move_nobody_joins_fails_and_the_flow_goes_on() {
    guarded(|| {
        let _serial = common::serial();
        let rt = runtime("multi");
        let (mut peer, mut mover) = pair("amv-anojoin");
        rt.block_on(async {
            mover.send(b"before").await.unwrap();
            match mover
                .migrate(TransportKind::Tcp, Duration::from_millis(200))
                .await
            {
                Err(MigrateError::Timeout { kind, .. }) => assert_eq!(kind, TransportKind::Tcp),
                other => panic!("expected a timeout, got {other:?}"),
            }
            assert_eq!(mover.transport().kind(), TransportKind::SharedMemory);
            mover.send(b"after").await.unwrap();
        });
        let mut buf = Vec::new();
        for want in [&b"before"[..], b"after"] {
            let n = peer.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }
        // Joined this time: the blocking peer receives on a thread.
        let (mut peer_tx, mut peer_rx) = peer.split();
        let receiving = thread::spawn(move || {
            let mut buf = Vec::new();
            let n = peer_rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"moved");
            peer_rx
        });
        rt.block_on(async {
            mover
                .migrate(TransportKind::Tcp, MOVE_TIMEOUT)
                .await
                .unwrap();
            assert_eq!(mover.transport().kind(), TransportKind::Tcp);
            mover.send(b"moved").await.unwrap();
        });
        let peer_rx = receiving.join().unwrap();
        assert_eq!(peer_rx.transport().kind(), TransportKind::Tcp);
        peer_tx.send(b"reply").unwrap();
        assert_eq!(peer_tx.transport().kind(), TransportKind::Tcp);
        rt.block_on(async {
            let n = mover.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"reply");
            assert_eq!(mover.receiver().transport().kind(), TransportKind::Tcp);
        });
    });
}

/// An async move whose future is dropped while it waits for the peer leaves
/// the flow on its transport; the abort it owes goes out before the next
/// message, so the peer's own move works afterwards, and so does the next
/// async one.
#[test]
fn a_dropped_async_move_leaves_a_working_flow() {
    guarded(|| {
        let _serial = common::serial();
        let rt = runtime("multi");
        let (peer, mut mover) = pair("amv-drop");
        let (mut peer_tx, mut peer_rx) = peer.split();
        // The peer receives only after the move was given up.
        let (go, wait_go) = std::sync::mpsc::channel::<()>();
        let receiving = thread::spawn(move || {
            wait_go.recv().unwrap();
            let mut buf = Vec::new();
            for want in [
                &b"before"[..],
                b"after",
                b"after-peer-move",
                b"after-second-move",
            ] {
                let n = peer_rx.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], want);
            }
            peer_rx
        });
        rt.block_on(async {
            mover.send(b"before").await.unwrap();
            let dropped = tokio::time::timeout(
                Duration::from_millis(100),
                mover.migrate(TransportKind::Tcp, MOVE_TIMEOUT),
            )
            .await;
            assert!(dropped.is_err(), "the move should still wait: {dropped:?}");
            assert_eq!(mover.transport().kind(), TransportKind::SharedMemory);
            go.send(()).unwrap();
            mover.send(b"after").await.unwrap();
        });
        // The peer moves its direction; the async side's receive joins.
        let peer_move = thread::spawn(move || {
            peer_tx.migrate(TransportKind::Tcp, MOVE_TIMEOUT).unwrap();
            peer_tx.send(b"from-peer").unwrap();
            peer_tx
        });
        rt.block_on(async {
            let mut buf = Vec::new();
            let n = mover.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"from-peer");
            mover.send(b"after-peer-move").await.unwrap();
            assert_eq!(mover.transport().kind(), TransportKind::Tcp);
            mover
                .migrate(TransportKind::SharedMemory, MOVE_TIMEOUT)
                .await
                .unwrap();
            mover.send(b"after-second-move").await.unwrap();
        });
        let peer_tx = peer_move.join().unwrap();
        assert_eq!(peer_tx.transport().kind(), TransportKind::Tcp);
        let peer_rx = receiving.join().unwrap();
        assert_eq!(peer_rx.transport().kind(), TransportKind::SharedMemory);
    });
}
