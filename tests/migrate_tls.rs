//! Moving a live connection to TCP when TLS is configured, across
//! processes: the new leg speaks mutual TLS (the transport names the peer's
//! verified certificate), messages with sequence numbers and checksums flow
//! both ways across several moves back and forth with nothing lost, and
//! either side may move. A peer whose certificate comes from another CA, or
//! one without TLS, cannot join: the move fails with a typed error within
//! its timeout and the flow goes on over shared memory.

#![cfg(feature = "tls")]

mod common;

use common::certs::{Ca, Validity};
use common::{check_message, fill_message, spawn_child_with, ChildProc, READY};
use mempipe::conn::flows::{self, FlowTransport, Role};
use mempipe::conn::tls::{TlsConfig, TlsError, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV};
use mempipe::conn::{AcceptError, MigrateError, RecvHalf, SendHalf, Transport, TransportKind};
use mempipe::{connect, ConnConfig, Connection, Listener, RecvError};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

/// A hang fails the test after this.
const GUARD: Duration = Duration::from_secs(60);
/// How long a move that should succeed may wait for the peer.
const MOVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a move that should fail waits: the typed error comes by then.
const FAIL_TIMEOUT: Duration = Duration::from_millis(1500);

/// Ends the whole test process if a test runs past [`GUARD`]: a hang fails
/// instead of stalling CI. Disarmed when dropped.
struct Watchdog(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

fn watchdog(test: &'static str) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(GUARD) {
            eprintln!("{test}: still running after {GUARD:?}: a hang");
            std::process::exit(101);
        }
    });
    Watchdog(tx)
}

/// `ca.pem` (the cluster CA), certificates for `node-a` (the parent) and
/// `node-b` (an honest child), and `stranger`, signed by another CA.
fn cert_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("mempipe-test-move-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::new("move test cluster CA");
        let other = Ca::new("some other CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        for (name, ca) in [("node-a", &ca), ("node-b", &ca), ("stranger", &other)] {
            let node = ca.node(name, Validity::Current);
            std::fs::write(dir.join(format!("{name}.pem")), node.cert).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), node.key).unwrap();
        }
        dir
    })
    .clone()
}

/// Node `node`'s configuration, trusting the cluster CA.
fn tls(dir: &Path, node: &str) -> TlsConfig {
    TlsConfig::from_files(
        dir.join("ca.pem"),
        dir.join(format!("{node}.pem")),
        dir.join(format!("{node}.key")),
    )
    .unwrap()
}

fn config() -> ConnConfig {
    ConnConfig::new().max_message(4096)
}

fn len_of(seq: u64) -> usize {
    16 + (seq.wrapping_mul(2_654_435_761) % 3000) as usize
}

fn other(kind: TransportKind) -> TransportKind {
    match kind {
        TransportKind::SharedMemory => TransportKind::Tcp,
        TransportKind::Tcp => TransportKind::SharedMemory,
    }
}

/// Whether `t` is a TLS leg to the node named `peer`: its verified identity,
/// and its description.
fn is_tls_to(t: &Transport, peer: &str) -> bool {
    t.kind() == TransportKind::Tcp
        && t.peer_identity()
            .is_some_and(|id| id.names.iter().any(|n| n == peer))
        && t.to_string().contains("TLS")
}

/// Sends `count` messages, moving to the other transport every `every`
/// (when `every > 0`); every TCP leg must be TLS to `peer`. Returns the moves.
fn send_all(tx: &mut SendHalf, count: u64, every: u64, peer: &str) -> u64 {
    let mut buf = Vec::new();
    let mut moves = 0;
    for seq in 0..count {
        if every > 0 && seq % every == every / 2 {
            let to = other(tx.transport().kind());
            tx.migrate(to, MOVE_TIMEOUT)
                .unwrap_or_else(|e| panic!("move {moves} to {to:?} at {seq}: {e}"));
            let t = tx.transport();
            assert_eq!(t.kind(), to);
            if to == TransportKind::Tcp {
                assert!(is_tls_to(t, peer), "move {moves}: not TLS to {peer}: {t}");
            }
            moves += 1;
        }
        fill_message(seq, len_of(seq), &mut buf);
        tx.send_timeout(&buf, GUARD)
            .unwrap_or_else(|e| panic!("send {seq}: {e}"));
    }
    moves
}

/// TCP legs seen by a receiver: TLS to the expected peer, and any other.
#[derive(Debug, Default, Clone, Copy)]
struct Legs {
    tls: u64,
    other: u64,
}

/// Receives `count` messages in order, then the peer's close; counts the
/// TCP legs they came on.
fn recv_all(rx: &mut RecvHalf, count: u64, peer: &str) -> Legs {
    let mut buf = Vec::new();
    let mut legs = Legs::default();
    let mut last = String::new();
    for seq in 0..count {
        let n = rx
            .recv_timeout(&mut buf, GUARD)
            .unwrap_or_else(|e| panic!("recv {seq}: {e}"));
        check_message(seq, len_of(seq), &buf[..n]).unwrap_or_else(|e| panic!("{e}"));
        let t = rx.transport();
        let now = t.to_string();
        if now != last {
            match t.kind() {
                TransportKind::Tcp if is_tls_to(t, peer) => legs.tls += 1,
                TransportKind::Tcp => legs.other += 1,
                TransportKind::SharedMemory => {}
            }
            last = now;
        }
    }
    match rx.recv_timeout(&mut buf, GUARD) {
        Err(RecvError::Disconnected) => {}
        other => panic!("after {count} messages: {other:?}"),
    }
    legs
}

/// Both directions at full load on two threads; this side moves every
/// `every` messages. Returns the moves made and the legs received on.
fn run(conn: Connection, count: u64, every: u64, peer: &'static str) -> (u64, Legs) {
    let (mut tx, mut rx) = conn.split();
    let receiver = thread::spawn(move || recv_all(&mut rx, count, peer));
    let moves = send_all(&mut tx, count, every, peer);
    drop(tx);
    (moves, receiver.join().expect("receiver"))
}

/// Re-runs this binary as a child in `role`; `tls` says how its TLS is
/// configured: `env` (node-b's files in `MEMPIPE_TLS_*`, and a TLS address
/// for its listeners that this host cannot bind), `stranger` (in
/// code, a certificate from another CA), or `none`.
fn child(role: &str, tls: &str, arg: &str) -> ChildProc {
    let dir = cert_dir();
    let arg = format!("{}|{tls}|{arg}", dir.display());
    spawn_child_with("child_entry", role, None, &arg, |cmd| {
        for var in [TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV] {
            cmd.env_remove(var);
        }
        cmd.env_remove(mempipe::conn::tls::TLS_LISTEN_ENV)
            .env_remove(mempipe::conn::names::ETCD_ENV);
        if tls == "env" {
            // A service's own TLS address (one this host cannot bind) is not
            // where a move's one-off listener goes.
            cmd.env(TLS_CA_ENV, dir.join("ca.pem"))
                .env(TLS_CERT_ENV, dir.join("node-b.pem"))
                .env(TLS_KEY_ENV, dir.join("node-b.key"))
                .env(mempipe::conn::tls::TLS_LISTEN_ENV, "192.0.2.1:7000");
        }
    })
    .expect("spawn the child")
}

/// A one-word summary of a move's result, for the parent to check.
fn outcome(r: &Result<(), MigrateError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(MigrateError::Refused {
            kind: TransportKind::Tcp,
            source: AcceptError::Tls { source, .. },
            ..
        }) => format!("refused:{source:?}"),
        Err(MigrateError::Timeout {
            kind: TransportKind::Tcp,
            ..
        }) => "timeout".into(),
        Err(e) => format!("other:{e:?}"),
    }
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let f = ctx.fields();
    let dir = Path::new(f[0]);
    let config = match f[1] {
        "stranger" => config().tls(tls(dir, "stranger")),
        _ => config(),
    };
    let conn = connect(f[2], &config).expect("connect");
    common::signal_ready();
    match ctx.role.as_str() {
        "peer" => {
            let (moves, legs) = run(conn, f[3].parse().unwrap(), f[4].parse().unwrap(), "node-a");
            println!("MOVES {moves}");
            println!("LEGS {} {}", legs.tls, legs.other);
        }
        // Echoes every message; `MOVE` asks it to move to TCP itself, and it
        // answers with the outcome.
        "echo" => {
            let mut conn = conn;
            let mut buf = Vec::new();
            loop {
                match conn.recv_timeout(&mut buf, GUARD) {
                    Ok(n) if &buf[..n] == b"MOVE" => {
                        let r = conn.migrate(TransportKind::Tcp, FAIL_TIMEOUT);
                        let kind = conn.transport().kind();
                        let answer = format!("RESULT {} {kind:?}", outcome(&r));
                        conn.send_timeout(answer.as_bytes(), GUARD).expect("answer");
                    }
                    Ok(n) => {
                        let msg = buf[..n].to_vec();
                        conn.send_timeout(&msg, GUARD).expect("echo");
                    }
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("echo: {e}"),
                }
            }
        }
        role => panic!("unknown role {role}"),
    }
}

/// A listener on shared memory only, with node-a's TLS configuration.
fn listen(tag: &str) -> (Listener, String) {
    let name = common::unique_listener_name(tag);
    let listener = Listener::bind(&name, &config().tls(tls(&cert_dir(), "node-a"))).expect("bind");
    (listener, name)
}

/// A shared-memory flow between two processes, both with TLS (the parent's
/// in code, the child's from the environment), moved back and forth by
/// `parent_moves` (or the child) while both directions run at full load.
fn tls_back_and_forth(tag: &'static str, parent_moves: bool) {
    let _serial = common::serial();
    let _guard = watchdog(tag);
    const COUNT: u64 = 3000;
    const EVERY: u64 = 500;
    let (listener, name) = listen(tag);
    let child_every = if parent_moves { 0 } else { EVERY };
    let mut peer = child("peer", "env", &format!("{name}|{COUNT}|{child_every}"));
    let conn = listener.accept_timeout(GUARD).expect("accept");
    peer.wait_for_line(READY, GUARD);
    assert_eq!(conn.transport().kind(), TransportKind::SharedMemory);
    let parent_every = if parent_moves { EVERY } else { 0 };
    let (moves, legs) = run(conn, COUNT, parent_every, "node-b");
    let child_moves: u64 = peer
        .wait_for_prefix("MOVES ", GUARD)
        .trim()
        .parse()
        .unwrap();
    let line = peer.wait_for_prefix("LEGS ", GUARD);
    let child_legs: Vec<u64> = line
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    peer.assert_success(GUARD);
    // Six moves: three to TLS, three back to shared memory.
    assert_eq!(moves + child_moves, COUNT / EVERY);
    let mover = if parent_moves {
        child_legs[0]
    } else {
        legs.tls
    };
    // The mover's peer reads every TCP leg the mover sent on (each carried
    // messages), all of them TLS; the follower's direction moves at its
    // next send (it may have sent everything before a move), but never
    // onto a leg that is not TLS to the expected peer.
    assert_eq!(mover, COUNT / EVERY / 2, "TLS legs read from the mover");
    assert_eq!(
        (legs.other, child_legs[1]),
        (0, 0),
        "a TCP leg without TLS to the expected peer"
    );
}

#[test]
fn the_accepting_side_moves_a_shared_memory_flow_to_mutual_tls_and_back() {
    tls_back_and_forth("mvtls-parent", true);
}

#[test]
fn the_connecting_side_moves_a_shared_memory_flow_to_mutual_tls_and_back() {
    tls_back_and_forth("mvtls-child", false);
}

/// Sends `msg` and checks that the echo child sends it back.
fn echo(conn: &mut Connection, msg: &[u8]) {
    conn.send_timeout(msg, GUARD).expect("send");
    let mut buf = Vec::new();
    let n = conn.recv_timeout(&mut buf, GUARD).expect("echo back");
    assert_eq!(&buf[..n], msg);
}

/// Asks the echo child to move to TCP itself; returns its answer.
fn child_moves(conn: &mut Connection) -> String {
    conn.send_timeout(b"MOVE", GUARD).expect("send");
    let mut buf = Vec::new();
    let n = conn.recv_timeout(&mut buf, GUARD).expect("answer");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// Messages with sequence numbers and checksums, echoed: `from..to`.
fn echo_range(conn: &mut Connection, from: u64, to: u64) {
    let mut buf = Vec::new();
    for seq in from..to {
        fill_message(seq, len_of(seq), &mut buf);
        let sent = buf.clone();
        conn.send_timeout(&sent, GUARD).expect("send");
        let n = conn.recv_timeout(&mut buf, GUARD).expect("echo back");
        check_message(seq, len_of(seq), &buf[..n]).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A shared-memory flow to an echo child configured as `tls`; returns the
/// connection and the child.
fn echo_flow(tag: &str, tls: &str) -> (Connection, ChildProc) {
    let (listener, name) = listen(tag);
    let mut peer = child("echo", tls, &name);
    let mut conn = listener.accept_timeout(GUARD).expect("accept");
    peer.wait_for_line(READY, GUARD);
    echo(&mut conn, b"hello");
    (conn, peer)
}

/// The peer's certificate is signed by another CA: this side refuses it on
/// the new leg, the move fails with `Refused` (the TLS reason inside), and
/// the flow carries on over shared memory. The other way round, the peer's
/// move fails because this side refuses its certificate (`Refused` there).
#[test]
fn a_peer_certificate_from_another_ca_fails_the_move_and_the_flow_stays() {
    let _serial = common::serial();
    let _guard = watchdog("mvtls-stranger");
    let (mut conn, mut peer) = echo_flow("mvtls-stranger", "stranger");
    echo_range(&mut conn, 0, 50);
    match conn.migrate(TransportKind::Tcp, FAIL_TIMEOUT) {
        Err(MigrateError::Refused {
            kind: TransportKind::Tcp,
            source:
                AcceptError::Tls {
                    source: TlsError::UnknownCa,
                    ..
                },
            ..
        }) => {}
        other => panic!("expected a refusal of the peer's certificate, got {other:?}"),
    }
    assert_eq!(conn.transport().kind(), TransportKind::SharedMemory);
    echo_range(&mut conn, 50, 100);
    // The child's own move: this side joins, refuses the child's certificate
    // (alert), and the child's accept sees the refusal.
    let answer = child_moves(&mut conn);
    assert!(
        // Usually the alert (`RefusedByPeer`); a reset that overtakes it
        // reads as a socket error, still a TLS refusal.
        answer.starts_with("RESULT refused:") && answer.ends_with("SharedMemory"),
        "{answer}"
    );
    assert_eq!(conn.transport().kind(), TransportKind::SharedMemory);
    echo_range(&mut conn, 100, 150);
    drop(conn);
    peer.assert_success(GUARD);
}

/// The peer has no TLS while this side has: it cannot join a TLS leg (the
/// move times out, typed) and this side does not join its plaintext leg;
/// the flow carries on over shared memory both times.
#[test]
fn a_peer_without_tls_cannot_join_and_the_flow_stays() {
    let _serial = common::serial();
    let _guard = watchdog("mvtls-none");
    let (mut conn, mut peer) = echo_flow("mvtls-none", "none");
    echo_range(&mut conn, 0, 50);
    match conn.migrate(TransportKind::Tcp, FAIL_TIMEOUT) {
        Err(MigrateError::Timeout {
            kind: TransportKind::Tcp,
            waited,
        }) => assert!(waited >= FAIL_TIMEOUT),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(conn.transport().kind(), TransportKind::SharedMemory);
    echo_range(&mut conn, 50, 100);
    let answer = child_moves(&mut conn);
    assert_eq!(answer, "RESULT timeout SharedMemory");
    echo_range(&mut conn, 100, 150);
    drop(conn);
    peer.assert_success(GUARD);
}

/// Moves that start on a TLS leg stay TLS (a new leg from the current local
/// address, to the same verified peer), either side moving, and return to
/// shared memory; the echoes check every message.
#[test]
fn moves_from_a_tls_leg_stay_on_tls_and_return_to_shared_memory() {
    let _serial = common::serial();
    let _guard = watchdog("mvtls-again");
    let (mut conn, mut peer) = echo_flow("mvtls-again", "env");
    let mut seq = 0;
    for round in 0..2 {
        conn.migrate(TransportKind::Tcp, MOVE_TIMEOUT)
            .unwrap_or_else(|e| panic!("move {round} to TCP: {e}"));
        assert!(
            is_tls_to(conn.transport(), "node-b"),
            "{}",
            conn.transport()
        );
        // The flow's stats slot says so too (unless publishing is off).
        if let Some(t) = published_transport("mvtls-again") {
            assert_eq!(t, FlowTransport::Tls);
        }
        echo_range(&mut conn, seq, seq + 50);
        seq += 50;
    }
    // The child moves from its TLS leg: this side joins with its own.
    assert_eq!(child_moves(&mut conn), "RESULT ok Tcp");
    echo_range(&mut conn, seq, seq + 50);
    seq += 50;
    assert!(
        is_tls_to(conn.transport(), "node-b"),
        "{}",
        conn.transport()
    );
    // Joined here, this side's slot says TLS as well.
    if let Some(t) = published_transport("mvtls-again") {
        assert_eq!(t, FlowTransport::Tls);
    }
    conn.migrate(TransportKind::SharedMemory, MOVE_TIMEOUT)
        .expect("move back to shared memory");
    assert_eq!(conn.transport().kind(), TransportKind::SharedMemory);
    echo_range(&mut conn, seq, seq + 50);
    drop(conn);
    peer.assert_success(GUARD);
}

/// The transport this process's stats file gives its accepted flow whose
/// name contains `tag`; `None` when flows are not published.
fn published_transport(tag: &str) -> Option<FlowTransport> {
    let path = flows::default_dir().join(format!("{}.flows", std::process::id()));
    let mine = flows::read_file(&path).ok()?;
    let flow = mine
        .flows
        .iter()
        .find(|f| f.name.contains(tag) && f.role == Some(Role::Server))
        .unwrap_or_else(|| panic!("no published flow for {tag} in {}", path.display()));
    flow.transport
}

/// A connection made from a TLS stream by hand (`Connection::over_tls`)
/// knows no TLS configuration: it refuses to move to TCP rather than go
/// plaintext, and keeps working on TLS.
#[test]
fn a_tls_connection_without_its_configuration_never_moves_to_plaintext() {
    let _serial = common::serial();
    let _guard = watchdog("mvtls-overtls");
    let dir = cert_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = {
        let config = tls(&dir, "node-a");
        thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let stream = mempipe::conn::tls::accept(tcp, &config, GUARD).unwrap();
            let mut conn = Connection::over_tls(stream, 4096);
            let mut buf = Vec::new();
            while let Ok(n) = conn.recv_timeout(&mut buf, GUARD) {
                let msg = buf[..n].to_vec();
                conn.send_timeout(&msg, GUARD).unwrap();
            }
        })
    };
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let stream = mempipe::conn::tls::connect(tcp, "node-a", &tls(&dir, "node-b"), GUARD).unwrap();
    let mut conn = Connection::over_tls(stream, 4096);
    echo_range(&mut conn, 0, 20);
    match conn.migrate(TransportKind::Tcp, FAIL_TIMEOUT) {
        Err(MigrateError::Setup {
            kind: TransportKind::Tcp,
            source: mempipe::conn::BindError::Tls { .. },
        }) => {}
        other => panic!("expected a refusal to set up plaintext, got {other:?}"),
    }
    assert!(
        is_tls_to(conn.transport(), "node-a"),
        "{}",
        conn.transport()
    );
    echo_range(&mut conn, 20, 40);
    drop(conn);
    server.join().unwrap();
}
