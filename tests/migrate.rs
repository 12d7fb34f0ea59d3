//! Moving a live connection between shared memory and TCP, across processes:
//! hundreds of moves while both directions run at full load, every message
//! checked for sequence, length and checksum; a move nobody joins fails with
//! a typed error and the flow goes on; SIGKILL of either side during moves
//! ends the other side's calls with typed errors, never a hang.

mod common;

use common::{check_message, fill_message, spawn_child, HANG_GUARD, READY};
use mempipe::conn::{MigrateError, RecvHalf, SendHalf, TransportKind};
use mempipe::{connect, ConnConfig, Connection, Listener, RecvError, SendError};
use std::thread;
use std::time::Duration;

const MOVE_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Sends `count` messages; every `every` messages (when `every > 0`) moves
/// the connection to the other transport. Returns the moves made.
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

/// Receives `count` messages in order, then the peer's close.
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

/// Runs both directions at full load on two threads; this side moves every
/// `every` messages. Returns the moves made.
fn run(conn: Connection, count: u64, every: u64) -> u64 {
    let (mut tx, mut rx) = conn.split();
    let receiver = thread::spawn(move || recv_all(&mut rx, count));
    let moves = send_all(&mut tx, count, every);
    drop(tx);
    receiver.join().expect("receiver");
    moves
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let f = ctx.fields();
    match ctx.role.as_str() {
        "peer" => {
            let conn = connect(f[0], &config()).expect("connect");
            common::signal_ready();
            let moves = run(conn, f[1].parse().unwrap(), f[2].parse().unwrap());
            println!("MOVES {moves}");
        }
        "mover_until_killed" => {
            let conn = connect(f[0], &config()).expect("connect");
            common::signal_ready();
            let (mut tx, mut rx) = conn.split();
            thread::spawn(move || {
                let mut buf = Vec::new();
                while rx.recv(&mut buf).is_ok() {}
            });
            let mut buf = vec![0; 100];
            loop {
                let to = other(tx.transport().kind());
                let _ = tx.migrate(to, MOVE_TIMEOUT);
                for _ in 0..10 {
                    let _ = tx.send(&buf);
                }
                buf[0] = buf[0].wrapping_add(1);
            }
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

/// Both directions at full load, 200 moves made by `mover` ("parent" or
/// "child"), starting on `tcp` or shared memory.
fn back_and_forth(tag: &str, tcp: bool, parent_moves: bool) {
    let _serial = common::serial();
    const COUNT: u64 = 20_000;
    const EVERY: u64 = 100;
    let (listener, address) = listen(tag, tcp);
    let child_every = if parent_moves { 0 } else { EVERY };
    let mut child = spawn_child(
        "child_entry",
        "peer",
        None,
        &format!("{address}|{COUNT}|{child_every}"),
    );
    let conn = listener.accept_timeout(HANG_GUARD).expect("accept");
    child.wait_for_line(READY, HANG_GUARD);
    let parent_every = if parent_moves { EVERY } else { 0 };
    let moves = run(conn, COUNT, parent_every);
    let line = child.wait_for_prefix("MOVES ", HANG_GUARD);
    let child_moves: u64 = line.trim().parse().unwrap();
    assert_eq!(moves + child_moves, COUNT / EVERY);
    child.assert_success(HANG_GUARD);
}

#[test]
fn parent_moves_back_and_forth_from_shared_memory() {
    back_and_forth("mv-shm", false, true);
}

#[test]
fn child_moves_back_and_forth_from_tcp() {
    back_and_forth("mv-tcp", true, false);
}

/// A peer that does not join (it is not receiving) fails the move with a
/// typed error; the connection stays on its transport and carries on.
#[test]
fn a_move_nobody_joins_fails_and_the_flow_goes_on() {
    let _serial = common::serial();
    let (listener, address) = listen("mv-nojoin", false);
    let client = thread::spawn(move || connect(address.as_str(), &config()).expect("connect"));
    let mut server = listener.accept_timeout(HANG_GUARD).expect("accept");
    let mut client = client.join().unwrap();
    server.send(b"before").unwrap();
    match server.migrate(TransportKind::Tcp, Duration::from_millis(200)) {
        Err(MigrateError::Timeout { kind, .. }) => assert_eq!(kind, TransportKind::Tcp),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(server.transport().kind(), TransportKind::SharedMemory);
    server.send(b"after").unwrap();
    let mut buf = Vec::new();
    for want in [&b"before"[..], b"after"] {
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], want);
    }
    assert_eq!(client.transport().kind(), TransportKind::SharedMemory);
    // And the other way round, a move that is joined still works after it.
    let mover = thread::spawn(move || {
        server.migrate(TransportKind::Tcp, MOVE_TIMEOUT).unwrap();
        server.send(b"moved").unwrap();
        server
    });
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"moved");
    let server = mover.join().unwrap();
    assert_eq!(server.transport().kind(), TransportKind::Tcp);
}

fn typed_end_send(e: &SendError) -> bool {
    matches!(
        e,
        SendError::PeerDied { .. } | SendError::Disconnected | SendError::Io(_)
    )
}

fn typed_end_recv(e: &RecvError) -> bool {
    matches!(
        e,
        RecvError::PeerDied { .. }
            | RecvError::Disconnected
            | RecvError::Io(_)
            | RecvError::Corrupted(_)
    )
}

/// SIGKILL of the moving child at several points: this side's receive and
/// sends end with typed errors.
#[test]
fn sigkill_of_the_mover_during_moves_ends_in_typed_errors() {
    let _serial = common::serial();
    for (round, after_ms) in [3u64, 17, 41, 90].into_iter().enumerate() {
        let (listener, address) = listen(&format!("mv-kill{round}"), round % 2 == 1);
        let mut child = spawn_child("child_entry", "mover_until_killed", None, &address);
        let conn = listener.accept_timeout(HANG_GUARD).expect("accept");
        child.wait_for_line(READY, HANG_GUARD);
        let (mut tx, mut rx) = conn.split();
        let receiver = thread::spawn(move || {
            let mut buf = Vec::new();
            loop {
                if let Err(e) = rx.recv(&mut buf) {
                    return e;
                }
            }
        });
        thread::sleep(Duration::from_millis(after_ms));
        child.kill();
        child.reap_killed();
        let e = receiver.join().unwrap();
        assert!(typed_end_recv(&e), "receive ended with {e:?}");
        let buf = [0u8; 64];
        let end = loop {
            if let Err(e) = tx.send(&buf) {
                break e;
            }
        };
        assert!(typed_end_send(&end), "send ended with {end:?}");
    }
}

/// SIGKILL of the peer while this side moves: the move or the flow ends with
/// a typed error.
#[test]
fn sigkill_of_the_peer_while_this_side_moves_ends_in_typed_errors() {
    let _serial = common::serial();
    for (round, after_ms) in [5u64, 23, 60].into_iter().enumerate() {
        let (listener, address) = listen(&format!("mv-pkill{round}"), round % 2 == 0);
        let mut child = spawn_child(
            "child_entry",
            "peer",
            None,
            &format!("{address}|100000000|0"),
        );
        let conn = listener.accept_timeout(HANG_GUARD).expect("accept");
        child.wait_for_line(READY, HANG_GUARD);
        let (mut tx, mut rx) = conn.split();
        let receiver = thread::spawn(move || {
            let mut buf = Vec::new();
            loop {
                if let Err(e) = rx.recv(&mut buf) {
                    return e;
                }
            }
        });
        let killer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(after_ms));
            child.kill();
            child.reap_killed();
        });
        let mut buf = Vec::new();
        let mut seq = 0;
        let end = loop {
            if seq % 20 == 0 {
                let to = other(tx.transport().kind());
                match tx.migrate(to, Duration::from_millis(300)) {
                    Ok(()) => {}
                    Err(MigrateError::Send(e)) if typed_end_send(&e) => break e,
                    Err(MigrateError::Timeout { .. }) => {}
                    Err(e) => panic!("move ended with {e:?}"),
                }
            }
            fill_message(seq, len_of(seq), &mut buf);
            if let Err(e) = tx.send(&buf) {
                break e;
            }
            seq += 1;
        };
        assert!(typed_end_send(&end), "send ended with {end:?}");
        killer.join().unwrap();
        let e = receiver.join().unwrap();
        assert!(typed_end_recv(&e), "receive ended with {e:?}");
    }
}
