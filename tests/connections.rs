//! Connections between real processes, on both transports: request/response
//! streams with sequence numbers and checksums, many clients, a client started
//! before its server, a listener killed mid-stream and replaced, a refused
//! user, and many connect/kill cycles without leaks. Every bound is a hang
//! guard, never a performance figure.

mod common;

use common::{
    check_message, fill_message, spawn_child, unique_listener_name, ChildProc, Lengths, HANG_GUARD,
    READY,
};
use mempipe::conn::{AcceptError, ConnectError, TransportKind};
use mempipe::{connect, ConnConfig, Connection, Listener, RecvError, SendError};
use std::time::Duration;

fn client_config() -> ConnConfig {
    ConnConfig::new()
        .connect_timeout(HANG_GUARD)
        .max_message(4096)
}

fn listener_config() -> ConnConfig {
    ConnConfig::new().max_message(4096)
}

/// The client's side of `count` request/response pairs: every request is a
/// checked message, sent alternately with `send` and with a zero-copy grant.
fn run_client(conn: &mut Connection, count: u64, seed: u64) {
    let mut requests = Lengths::new(seed, 1024);
    let mut replies = Lengths::new(seed ^ 0xffff, 1024);
    let (mut msg, mut buf) = (Vec::new(), Vec::new());
    for seq in 0..count {
        fill_message(seq, requests.next_len(), &mut msg);
        if seq % 2 == 0 {
            conn.send(&msg).expect("send a request");
        } else {
            let mut grant = conn.reserve(msg.len()).expect("reserve a request");
            grant.write_at(0, &msg).expect("fill the grant");
            grant.commit();
        }
        conn.recv(&mut buf).expect("receive a reply");
        check_message(seq, replies.next_len(), &buf).expect("reply intact");
    }
}

/// The server's side: checks each request, answers it, then expects the
/// client's close (after everything it sent was read).
fn run_server(conn: &mut Connection, count: u64, seed: u64) {
    let mut requests = Lengths::new(seed, 1024);
    let mut replies = Lengths::new(seed ^ 0xffff, 1024);
    let (mut msg, mut buf) = (Vec::new(), Vec::new());
    for seq in 0..count {
        conn.recv(&mut buf).expect("receive a request");
        check_message(seq, requests.next_len(), &buf).expect("request intact");
        fill_message(seq, replies.next_len(), &mut msg);
        conn.send(&msg).expect("send a reply");
    }
    match conn.recv(&mut buf) {
        Err(RecvError::Disconnected) => {}
        other => panic!("expected Disconnected after the client closed, got {other:?}"),
    }
}

/// Serves echo forever on every connection (a thread each).
fn echo_forever(listener: &Listener) -> ! {
    loop {
        match listener.accept() {
            Ok(conn) => common::echo_on_a_thread(conn),
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let f = ctx.fields();
    match ctx.role.as_str() {
        "client" => {
            let (address, count, seed) = (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
            let mut conn = connect(address, &client_config()).expect("connect");
            println!("TRANSPORT {}", conn.transport());
            run_client(&mut conn, count, seed);
        }
        "listener" => {
            let mut config = listener_config();
            if f[1] == "tcp" {
                config = config.plaintext_tcp("127.0.0.1:0");
            }
            let listener = Listener::bind(f[0], &config).expect("bind");
            if let Some(addr) = listener.tcp_addr() {
                println!("PORT {}", addr.port());
            }
            common::signal_ready();
            echo_forever(&listener);
        }
        "connect_and_park" => {
            let conn = connect(f[0], &client_config()).expect("connect");
            common::signal_ready();
            let _keep = conn;
            common::park_forever();
        }
        "refused" => {
            let config = client_config().rendezvous_dir(f[1]);
            match connect(f[0], &config) {
                Err(ConnectError::Refused { uid, .. }) => {
                    println!("REFUSED uid {uid}");
                }
                other => panic!("expected Refused, got {other:?}"),
            }
        }
        role => panic!("unknown role {role}"),
    }
}

fn client(address: &str, count: u64, seed: u64) -> ChildProc {
    spawn_child(
        "child_entry",
        "client",
        None,
        &format!("{address}|{count}|{seed}"),
    )
}

fn listener_child(name: &str, tcp: bool) -> (ChildProc, Option<u16>) {
    let mut child = spawn_child(
        "child_entry",
        "listener",
        None,
        &format!("{name}|{}", if tcp { "tcp" } else { "local" }),
    );
    let port = tcp.then(|| child.wait_for_prefix("PORT", HANG_GUARD).parse().unwrap());
    child.wait_for_line(READY, HANG_GUARD);
    (child, port)
}

/// A listener on a fresh name (and on loopback TCP if `tcp`), and the
/// address its clients connect to.
fn bind_listener(tag: &str, tcp: bool) -> (Listener, String) {
    let name = unique_listener_name(tag);
    let mut config = listener_config();
    if tcp {
        config = config.plaintext_tcp("127.0.0.1:0");
    }
    let listener = Listener::bind(&name, &config).expect("bind");
    let address = match listener.tcp_addr() {
        Some(addr) if tcp => format!("tcp://{addr}"),
        _ => name,
    };
    (listener, address)
}

fn request_response(tcp: bool) {
    let _serial = common::serial();
    let (listener, address) = bind_listener("rr", tcp);
    let mut child = client(&address, 100_000, 7);
    let mut conn = listener.accept().expect("accept");
    let want = if tcp {
        TransportKind::Tcp
    } else {
        TransportKind::SharedMemory
    };
    assert_eq!(conn.transport().kind(), want, "{}", conn.transport());
    run_server(&mut conn, 100_000, 7);
    child.assert_success(HANG_GUARD * 6);
}

#[test]
fn request_response_100k_shared_memory() {
    request_response(false);
}

#[test]
fn request_response_100k_tcp() {
    request_response(true);
}

fn sixteen_clients(tcp: bool) {
    let _serial = common::serial();
    let (listener, address) = bind_listener("many", tcp);
    // All clients replay one seeded stream; each is a separate process and connection.
    let children: Vec<ChildProc> = (0..16).map(|_| client(&address, 1000, 99)).collect();
    let servers: Vec<_> = (0..16)
        .map(|_| {
            let mut conn = listener.accept().expect("accept");
            std::thread::spawn(move || run_server(&mut conn, 1000, 99))
        })
        .collect();
    for s in servers {
        s.join().expect("a server thread failed");
    }
    for mut c in children {
        c.assert_success(HANG_GUARD * 3);
    }
}

#[test]
fn sixteen_clients_shared_memory() {
    sixteen_clients(false);
}

#[test]
fn sixteen_clients_tcp() {
    sixteen_clients(true);
}

#[test]
fn client_started_before_its_server_waits_and_connects() {
    let _serial = common::serial();
    let name = unique_listener_name("early");
    let mut child = client(&name, 100, 3);
    // Give the client time to start trying; correctness does not depend on it.
    std::thread::sleep(Duration::from_millis(300));
    let listener = Listener::bind(&name, &listener_config()).expect("bind");
    let mut conn = listener.accept().expect("accept");
    run_server(&mut conn, 100, 3);
    child.assert_success(HANG_GUARD);
}

fn echo_once(conn: &mut Connection, text: &[u8]) {
    conn.send(text).expect("send");
    let mut buf = Vec::new();
    conn.recv(&mut buf).expect("recv");
    assert_eq!(buf, text);
}

fn listener_killed_then_replaced(tcp: bool) {
    let _serial = common::serial();
    let name = unique_listener_name("killed");
    let (mut server, port) = listener_child(&name, tcp);
    let address = match port {
        Some(p) => format!("tcp://127.0.0.1:{p}"),
        None => name.clone(),
    };
    let mut conns: Vec<Connection> = (0..3)
        .map(|_| connect(address.as_str(), &client_config()).expect("connect"))
        .collect();
    for conn in &mut conns {
        echo_once(conn, b"before");
    }
    server.kill();
    server.reap_killed();
    for conn in &mut conns {
        let mut buf = Vec::new();
        // A request may still be accepted by the ring (or socket) of the dead
        // server; the reply never comes.
        let _ = conn.send(b"lost");
        match conn.recv_timeout(&mut buf, HANG_GUARD) {
            Err(e @ RecvError::PeerDied { pid }) => {
                assert_eq!(pid, server.pid());
                // On either transport the text speaks of the peer, not of a ring.
                assert_eq!(
                    e.to_string(),
                    format!(
                        "the peer process (pid {pid}) died without closing its end; every \
                         message it completed was read"
                    )
                );
            }
            other => panic!("expected PeerDied, got {other:?}"),
        }
    }
    // The restart story: a new listener takes over the name, clients reconnect.
    let (mut server2, port2) = listener_child(&name, tcp);
    let address = match port2 {
        Some(p) => format!("tcp://127.0.0.1:{p}"),
        None => name.clone(),
    };
    for _ in 0..3 {
        let mut conn = connect(address.as_str(), &client_config()).expect("reconnect");
        echo_once(&mut conn, b"after");
    }
    // Leave nothing behind: the killed listener's files go with the next bind's drop.
    server2.kill();
    server2.reap_killed();
    drop(Listener::bind(&name, &listener_config()).expect("take over the name"));
}

#[test]
fn listener_killed_mid_stream_shared_memory() {
    listener_killed_then_replaced(false);
}

#[test]
fn listener_killed_mid_stream_tcp() {
    listener_killed_then_replaced(true);
}

#[test]
fn client_killed_gives_peer_died_on_tcp() {
    let _serial = common::serial();
    let name = unique_listener_name("tcpkill");
    let listener =
        Listener::bind(&name, &listener_config().plaintext_tcp("127.0.0.1:0")).expect("bind");
    let addr = format!("tcp://{}", listener.tcp_addr().unwrap());
    let mut child = spawn_child("child_entry", "connect_and_park", None, &addr);
    let mut conn = listener.accept().expect("accept");
    child.wait_for_line(READY, HANG_GUARD);
    child.kill();
    child.reap_killed();
    let mut buf = Vec::new();
    match conn.recv_timeout(&mut buf, HANG_GUARD) {
        Err(RecvError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
        other => panic!("expected PeerDied, got {other:?}"),
    }
    match conn.send(b"x").and_then(|()| conn.send(b"y")) {
        Err(SendError::PeerDied { .. }) | Ok(()) => {}
        Err(e) => panic!("expected PeerDied or a buffered send, got {e}"),
    }
}

#[test]
fn another_user_is_refused_and_the_listener_keeps_serving() {
    let _serial = common::serial();
    if rustix::process::getuid().as_raw() != 0 {
        eprintln!("skipped: running a client as another user needs root");
        return;
    }
    const NOBODY: u32 = 65534;
    let dir = std::env::temp_dir().join(unique_listener_name("refuse-dir"));
    std::fs::create_dir(&dir).expect("create the shared rendezvous directory");
    let _cleanup = RemoveDir(dir.clone());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let name = unique_listener_name("refuse");
    // Reachable by everyone, but admitting only this user (the default).
    let config = listener_config().rendezvous_dir(&dir);
    let listener = Listener::bind(&name, &config).expect("bind");
    // Only the peer-credential check refuses nobody: make the socket connectable for it.
    std::fs::set_permissions(listener.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let spawned = common::spawn_child_with(
        "child_entry",
        "refused",
        None,
        &format!("{name}|{}", dir.display()),
        |cmd| {
            use std::os::unix::process::CommandExt;
            cmd.uid(NOBODY).gid(NOBODY);
        },
    );
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            eprintln!("skipped: cannot run the test binary as nobody: {e}");
            return;
        }
    };
    match listener.accept() {
        Err(AcceptError::Refused { uid, .. }) => assert_eq!(uid, NOBODY),
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(
        child.wait_for_prefix("REFUSED uid", HANG_GUARD),
        NOBODY.to_string()
    );
    child.assert_success(HANG_GUARD);
    // Still serving its own user.
    let client = std::thread::spawn({
        let name = name.clone();
        let dir = dir.clone();
        move || {
            let mut conn =
                connect(name.as_str(), &client_config().rendezvous_dir(dir)).expect("connect");
            echo_once(&mut conn, b"still here");
        }
    });
    let mut conn = listener.accept().expect("accept our own user");
    let mut buf = Vec::new();
    conn.recv(&mut buf).unwrap();
    conn.send(&buf).unwrap();
    client.join().unwrap();
}

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Names in /dev/shm that this test's processes could have made: all of them
/// except other test binaries' named regions (which carry their pid).
fn shm_entries(own: &[u32]) -> std::collections::BTreeSet<String> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Default::default();
    };
    dir.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.starts_with("mempipe-test-")
                || n.split('-').any(|t| own.iter().any(|p| t == p.to_string()))
        })
        .collect()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
fn a_thousand_connect_kill_cycles_leak_nothing() {
    let _serial = common::serial();
    let name = unique_listener_name("cycles");
    // A short liveness interval: each dead peer is noticed within it, one after another.
    let config = listener_config().liveness_interval(Duration::from_millis(5));
    let listener = Listener::bind(&name, &config).expect("bind");
    let me = std::process::id();
    let shm_before = shm_entries(&[me]);
    let fds_before = open_fds();
    let mut pids = vec![me];
    const BATCH: usize = 10;
    for _round in 0..1000 / BATCH {
        let mut children: Vec<ChildProc> = (0..BATCH)
            .map(|_| spawn_child("child_entry", "connect_and_park", None, &name))
            .collect();
        let mut conns: Vec<Connection> = (0..BATCH)
            .map(|_| listener.accept().expect("accept"))
            .collect();
        for child in &mut children {
            child.wait_for_line(READY, HANG_GUARD);
            pids.push(child.pid());
            child.kill();
        }
        for child in &mut children {
            child.reap_killed();
        }
        let mut buf = Vec::new();
        for conn in &mut conns {
            match conn.recv_timeout(&mut buf, HANG_GUARD) {
                Err(RecvError::PeerDied { .. }) => {}
                other => panic!("expected PeerDied, got {other:?}"),
            }
        }
    }
    assert_eq!(shm_entries(&pids), shm_before, "new entries in /dev/shm");
    // The children's output pipes close when their reader threads see EOF.
    let settle = std::time::Instant::now() + HANG_GUARD;
    while open_fds() != fds_before && std::time::Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
}
