//! Async connections between real processes (feature `tokio`): request and
//! response streams with sequence numbers and checksums on every wakeup and on
//! TCP, a pipelined stream through split halves (senders waiting for room),
//! 1000 connections served by one current-thread runtime, `select!` against a
//! timer with nothing lost or duplicated, and a peer killed while tasks await.
//! Every bound is a hang guard, never a performance figure.
#![cfg(feature = "tokio")]

mod common;

use common::{
    check_message, fill_message, spawn_child, unique_listener_name, ChildProc, Lengths, HANG_GUARD,
    READY,
};
use mempipe::asyncio::{AsyncConnection, AsyncListener};
use mempipe::conn::TransportKind;
use mempipe::{connect, ConnConfig, RecvError, SendError, WakeupKind};
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Raises this process's soft limit on open descriptors to its hard limit.
fn raise_fd_limit() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, raised)
        .expect("raise RLIMIT_NOFILE");
}

fn client_config() -> ConnConfig {
    ConnConfig::new()
        .connect_timeout(HANG_GUARD)
        .max_message(4096)
}

/// The client's side of `count` request/response pairs, async: requests
/// alternately sent with `send` and written into a zero-copy grant.
async fn run_client(conn: &mut AsyncConnection, count: u64, seed: u64) {
    let mut requests = Lengths::new(seed, 1024);
    let mut replies = Lengths::new(seed ^ 0xffff, 1024);
    let (mut msg, mut buf) = (Vec::new(), Vec::new());
    for seq in 0..count {
        fill_message(seq, requests.next_len(), &mut msg);
        if seq % 2 == 0 {
            conn.send(&msg).await.expect("send a request");
        } else {
            let mut grant = conn.reserve(msg.len()).await.expect("reserve a request");
            grant.write_at(0, &msg).expect("fill the grant");
            grant.commit();
        }
        conn.recv(&mut buf).await.expect("receive a reply");
        check_message(seq, replies.next_len(), &buf).expect("reply intact");
    }
}

/// The server's side: checks each request, answers it, then expects the close.
async fn run_server(conn: &mut AsyncConnection, count: u64, seed: u64) {
    let mut requests = Lengths::new(seed, 1024);
    let mut replies = Lengths::new(seed ^ 0xffff, 1024);
    let (mut msg, mut buf) = (Vec::new(), Vec::new());
    for seq in 0..count {
        conn.recv(&mut buf).await.expect("receive a request");
        check_message(seq, requests.next_len(), &buf).expect("request intact");
        fill_message(seq, replies.next_len(), &mut msg);
        conn.send(&msg).await.expect("send a reply");
    }
    match conn.recv(&mut buf).await {
        Err(RecvError::Disconnected) => {}
        other => panic!("expected Disconnected after the client closed, got {other:?}"),
    }
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let f = ctx.fields();
    match ctx.role.as_str() {
        // Async request/response client.
        "client" => {
            let (address, count, seed) = (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
            runtime().block_on(async {
                let mut conn = mempipe::asyncio::connect(address.to_owned(), &client_config())
                    .await
                    .expect("connect");
                println!("TRANSPORT {}", conn.transport());
                run_client(&mut conn, count, seed).await;
            });
        }
        // Echo client for the pipelined stream: blocking, the other side awaits.
        "echo" => {
            let mut conn = connect(f[0], &client_config()).expect("connect");
            let mut buf = Vec::new();
            while conn.recv(&mut buf).is_ok() {
                if conn.send(&buf).is_err() {
                    break;
                }
            }
        }
        // Many connections from one process, served round-robin (blocking).
        "many" => {
            raise_fd_limit();
            let (name, conns, rounds) = (f[0], f[1].parse().unwrap(), f[2].parse::<u64>().unwrap());
            let config = client_config().max_message(64).ring_capacity(1024);
            let mut all: Vec<_> = (0..conns)
                .map(|_| connect(name, &config).expect("connect"))
                .collect();
            let (mut msg, mut buf) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                for conn in &mut all {
                    fill_message(round, 32, &mut msg);
                    conn.send(&msg).expect("send");
                }
                for conn in &mut all {
                    conn.recv(&mut buf).expect("receive the echo");
                    check_message(round, 32, &buf).expect("echo intact");
                }
            }
        }
        // Sends `count` checked messages in bursts with pauses between them.
        "paced" => {
            let (name, count) = (f[0], f[1].parse::<u64>().unwrap());
            let mut conn = connect(name, &client_config()).expect("connect");
            let mut msg = Vec::new();
            for seq in 0..count {
                fill_message(seq, 24 + (seq % 200) as usize, &mut msg);
                conn.send(&msg).expect("send");
                if seq % 16 == 15 {
                    std::thread::sleep(Duration::from_micros(700));
                }
            }
            let mut buf = Vec::new();
            let _ = conn.recv(&mut buf); // wait for the parent's close
        }
        "park" => {
            let conn = connect(f[0], &client_config()).expect("connect");
            common::signal_ready();
            let _keep = conn;
            common::park_forever();
        }
        role => panic!("unknown role {role}"),
    }
}

fn child(role: &str, arg: &str) -> ChildProc {
    spawn_child("child_entry", role, None, arg)
}

/// 100k async request/response pairs between two processes (tokio on both
/// sides), with the listener forcing `wakeup` (or TCP).
fn request_response(wakeup: Option<WakeupKind>, tcp: bool) {
    let _serial = common::serial();
    let name = unique_listener_name("arr");
    let mut config = ConnConfig::new().max_message(4096);
    if let Some(kind) = wakeup {
        config = config.wakeup(kind);
    }
    if tcp {
        config = config.plaintext_tcp("127.0.0.1:0");
    }
    runtime().block_on(async {
        let mut listener = AsyncListener::bind(&name, &config).expect("bind");
        let address = match listener.get_ref().tcp_addr() {
            Some(addr) if tcp => format!("tcp://{addr}"),
            _ => name.clone(),
        };
        let count = if tcp { 20_000 } else { 100_000 };
        let mut client = child("client", &format!("{address}|{count}|11"));
        let mut conn = listener.accept().await.expect("accept");
        let want = if tcp {
            TransportKind::Tcp
        } else {
            TransportKind::SharedMemory
        };
        assert_eq!(conn.transport().kind(), want, "{}", conn.transport());
        run_server(&mut conn, count, 11).await;
        client.assert_success(HANG_GUARD * 6);
    });
}

#[test]
fn request_response_100k_futex() {
    request_response(Some(WakeupKind::Futex), false);
}

#[test]
fn request_response_100k_eventfd() {
    request_response(Some(WakeupKind::EventFd), false);
}

#[test]
fn request_response_100k_hybrid() {
    request_response(Some(WakeupKind::Hybrid), false);
}

#[test]
fn request_response_20k_tcp() {
    request_response(None, true);
}

/// Split halves in two tasks: one sends 100k checked messages as fast as the
/// small rings allow (so it waits for room again and again), the other
/// receives the echoes and checks them.
#[test]
fn split_halves_pipelined_stream_waits_for_room() {
    let _serial = common::serial();
    let name = unique_listener_name("apipe");
    let config = ConnConfig::new()
        .max_message(512)
        .ring_capacity(4096)
        .wakeup(WakeupKind::Futex);
    runtime().block_on(async {
        let mut listener = AsyncListener::bind(&name, &config).expect("bind");
        let mut echo = child("echo", &name);
        let conn = listener.accept().await.expect("accept");
        let (mut tx, mut rx) = conn.split();
        const COUNT: u64 = 100_000;
        let sender = tokio::spawn(async move {
            let mut lengths = Lengths::new(5, 512);
            let mut msg = Vec::new();
            for seq in 0..COUNT {
                fill_message(seq, lengths.next_len(), &mut msg);
                tx.send(&msg).await.expect("send");
            }
            tx
        });
        let mut lengths = Lengths::new(5, 512);
        let mut buf = Vec::new();
        for seq in 0..COUNT {
            rx.recv(&mut buf).await.expect("receive an echo");
            check_message(seq, lengths.next_len(), &buf).expect("echo intact");
        }
        drop(sender.await.expect("sender task"));
        echo.assert_success(HANG_GUARD);
    });
}

/// One current-thread runtime serves 1000 connections (4 client processes of
/// 250 each), every one in its own task, echoing checked messages.
#[test]
fn thousand_connections_one_current_thread_runtime() {
    let _serial = common::serial();
    raise_fd_limit();
    let name = unique_listener_name("athousand");
    let config = ConnConfig::new().max_message(64).ring_capacity(1024);
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 250;
    const ROUNDS: u64 = 20;
    runtime().block_on(async {
        let mut listener = AsyncListener::bind(&name, &config).expect("bind");
        let children: Vec<ChildProc> = (0..CLIENTS)
            .map(|_| child("many", &format!("{name}|{PER_CLIENT}|{ROUNDS}")))
            .collect();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS * PER_CLIENT {
            let mut conn = listener.accept().await.expect("accept");
            tasks.push(tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut echoed = 0u64;
                loop {
                    match conn.recv(&mut buf).await {
                        Ok(_) => {
                            check_message(echoed, 32, &buf).expect("message intact");
                            conn.send(&buf).await.expect("echo");
                            echoed += 1;
                        }
                        Err(RecvError::Disconnected) => return echoed,
                        Err(e) => panic!("receive: {e}"),
                    }
                }
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("connection task"), ROUNDS);
        }
        for mut c in children {
            c.assert_success(HANG_GUARD * 3);
        }
    });
}

/// `select!` between `recv()` and a timer, 10k messages: every dropped
/// `recv` future left its message for the next one.
#[test]
fn select_recv_against_timer_loses_nothing() {
    let _serial = common::serial();
    let name = unique_listener_name("aselect");
    runtime().block_on(async {
        let mut listener =
            AsyncListener::bind(&name, &ConnConfig::new().max_message(4096)).expect("bind");
        const COUNT: u64 = 10_000;
        let mut sender = child("paced", &format!("{name}|{COUNT}"));
        let mut conn = listener.accept().await.expect("accept");
        let (mut buf, mut next, mut timer_won, mut iterations) = (Vec::new(), 0u64, 0u64, 0u64);
        while next < COUNT {
            iterations += 1;
            tokio::select! {
                received = conn.recv(&mut buf) => {
                    received.expect("receive");
                    check_message(next, 24 + (next % 200) as usize, &buf)
                        .expect("the next message, intact, exactly once");
                    next += 1;
                }
                _ = tokio::time::sleep(Duration::from_micros(300)) => timer_won += 1,
            }
        }
        assert!(matches!(conn.try_recv(&mut buf), Err(RecvError::Empty)));
        println!("{iterations} iterations, the timer won {timer_won}");
        drop(conn);
        sender.assert_success(HANG_GUARD);
    });
}

/// A peer SIGKILLed while one task awaits a message and another awaits room:
/// both get `PeerDied`, with no thread blocked.
#[test]
fn peer_killed_while_tasks_await() {
    let _serial = common::serial();
    let name = unique_listener_name("akill");
    let config = ConnConfig::new()
        .max_message(256)
        .ring_capacity(1024)
        .liveness_interval(Duration::from_millis(50));
    runtime().block_on(async {
        let mut listener = AsyncListener::bind(&name, &config).expect("bind");
        let mut peer = child("park", &name);
        let conn = listener.accept().await.expect("accept");
        peer.wait_for_line(READY, HANG_GUARD);
        let (mut tx, mut rx) = conn.split();
        // Fill the ring toward the peer, which never reads.
        while tx.try_send(&[7; 200]).is_ok() {}
        let receiving = tokio::spawn(async move {
            let mut buf = Vec::new();
            let result = rx.recv(&mut buf).await;
            (result, Instant::now())
        });
        let sending = tokio::spawn(async move {
            let result = tx.send(&[8; 200]).await;
            (result, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let killed_at = Instant::now();
        peer.kill();
        let guard = tokio::time::timeout(HANG_GUARD, async {
            (receiving.await.unwrap(), sending.await.unwrap())
        });
        let ((recv_result, recv_at), (send_result, send_at)) = guard.await.expect("both tasks end");
        assert!(
            matches!(recv_result, Err(RecvError::PeerDied { .. })),
            "{recv_result:?}"
        );
        assert!(
            matches!(send_result, Err(SendError::PeerDied { .. })),
            "{send_result:?}"
        );
        println!(
            "PeerDied after {:?} (receiver), {:?} (sender)",
            recv_at - killed_at,
            send_at - killed_at
        );
        peer.reap_killed();
    });
}

/// `asyncio::connect` takes the address as the blocking `connect` does, a
/// borrowed `&str` included, and its future borrows nothing: it can be
/// spawned (this would not compile were the `&str` held across the await).
#[test]
fn connect_with_a_borrowed_address_inside_tokio_spawn() {
    let _serial = common::serial();
    let name = unique_listener_name("aspawn");
    runtime().block_on(async {
        let mut listener = AsyncListener::bind(&name, &ConnConfig::new()).expect("bind");
        let addr: String = name.clone();
        let client = tokio::spawn(mempipe::asyncio::connect(addr.as_str(), &client_config()));
        drop(addr);
        let mut server = listener.accept().await.expect("accept");
        let mut client = client.await.expect("the task").expect("connect");
        client.send(b"spawned").await.expect("send");
        let mut buf = Vec::new();
        server.recv(&mut buf).await.expect("recv");
        assert_eq!(buf, b"spawned");
        // A malformed address fails when awaited, naming the accepted forms.
        let e = mempipe::asyncio::connect("udp://x", &client_config())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("tcp://HOST:PORT"), "{e}");
    });
}
