//! Attacks on the listening side: silent and byte-dribbling clients (UNIX and
//! TCP), sockets reconnecting in a loop, clients that acknowledge without
//! attaching or exit, spin requests beyond the listener's cap, a listener out
//! of descriptors. Under each, honest clients run round trips meanwhile and
//! must complete; the attack's connection must be dropped or refused. The
//! worst honest round trip (connect included) is printed, never asserted.

mod common;

use common::{child_context, spawn_child, unique_listener_name, ChildProc, HANG_GUARD, READY};
use mempipe::asyncio::{self, AsyncListener};
use mempipe::conn::{AcceptError, ConnectError};
use mempipe::{connect, ConnConfig, Listener, Region, WakeupKind};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A short handshake deadline keeps the attacks (and the file) quick.
fn server_config() -> ConnConfig {
    ConnConfig::new()
        .handshake_timeout(Duration::from_secs(1))
        .max_message(4096)
        .ring_capacity(64 << 10)
}

/// A client hello: magic, version, wakeup, via (1 UNIX, 2 TCP), pid, max
/// message, ring capacity, spin budget, flags, boot id.
fn client_hello(via: u8, wakeup: u8) -> Vec<u8> {
    let mut b = b"MEMPIPE\x01".to_vec();
    b.extend_from_slice(&1u16.to_le_bytes());
    b.push(wakeup);
    b.push(via);
    b.extend_from_slice(&std::process::id().to_le_bytes());
    b.extend_from_slice(&4096u64.to_le_bytes());
    b.extend_from_slice(&(64u64 << 10).to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[0u8; 16]);
    b
}

/// Serves every connection with an echo thread until `stop`; collects the
/// per-client errors (the listener keeps serving), fails on any other.
fn serve(listener: Listener, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut errors = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept_timeout(Duration::from_millis(100)) {
                Ok(conn) => common::echo_on_a_thread(conn),
                Err(AcceptError::Timeout) => {}
                // Every attack is one client's failure: the listener serves on.
                Err(e) if e.is_per_client() => errors.push(e.to_string()),
                Err(e) => panic!("the listener itself failed: {e}"),
            }
        }
        // What finished before the stop, such as clients dropped at their
        // deadline behind others' results, is still reported.
        loop {
            match listener.try_accept() {
                Err(AcceptError::NoPending) => return errors,
                Err(e) => errors.push(e.to_string()),
                Ok(_) => {}
            }
        }
    })
}

/// `clients` honest clients one after another, each connecting and making
/// `rounds` round trips; the worst connect or round trip seen.
fn honest(address: &str, clients: usize, rounds: usize) -> Duration {
    let config = ConnConfig::new()
        .max_message(4096)
        .connect_timeout(HANG_GUARD);
    let mut worst = Duration::ZERO;
    let mut buf = Vec::new();
    for _ in 0..clients {
        let start = Instant::now();
        let mut conn = connect(address, &config).expect("an honest client connects");
        worst = worst.max(start.elapsed());
        for i in 0..rounds {
            let start = Instant::now();
            conn.send(&i.to_le_bytes()).expect("send");
            conn.recv(&mut buf).expect("echo");
            worst = worst.max(start.elapsed());
            assert_eq!(buf, i.to_le_bytes());
        }
    }
    worst
}

/// Waits for the peer to close `socket` (EOF or reset); what it read first.
fn closed_by_peer(mut socket: impl Read) -> usize {
    let mut got = 0;
    let mut buf = [0u8; 256];
    loop {
        match socket.read(&mut buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got += n,
        }
    }
}

fn bind(tag: &str, config: &ConnConfig) -> (Listener, String, PathBuf) {
    let name = unique_listener_name(tag);
    let listener = Listener::bind(&name, config).expect("bind");
    let path = listener.path().to_owned();
    (listener, name, path)
}

#[test]
fn silent_and_reconnecting_unix_clients_delay_no_one() {
    let _serial = common::serial();
    let (listener, name, path) = bind("silent", &server_config());
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, stop.clone());
    // Four sockets that never speak, and two reconnecting in a loop.
    let silent: Vec<UnixStream> = (0..4)
        .map(|_| UnixStream::connect(&path).expect("connect"))
        .collect();
    let loopers: Vec<_> = (0..2)
        .map(|_| {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(s) = UnixStream::connect(&path) {
                        std::thread::sleep(Duration::from_millis(20));
                        drop(s);
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let worst = honest(&name, 20, 20);
    eprintln!("silent + reconnecting UNIX clients: worst honest round trip {worst:?}");
    for s in silent {
        s.set_read_timeout(Some(HANG_GUARD)).unwrap();
        assert_eq!(
            closed_by_peer(s),
            0,
            "a silent client is dropped, told nothing"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for l in loopers {
        assert!(l.join().unwrap() > 0);
    }
    let errors = server.join().unwrap();
    assert!(
        errors.iter().any(|e| e.contains("within 1s")),
        "silent clients are reported as missing the deadline: {errors:?}"
    );
}

#[test]
fn silent_and_dribbling_tcp_clients_delay_no_one() {
    let _serial = common::serial();
    let (listener, name, _) = bind("dribble", &server_config().plaintext_tcp("127.0.0.1:0"));
    let addr = listener.tcp_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, stop.clone());
    let silent = TcpStream::connect(addr).unwrap();
    // A valid hello, one byte every 300 ms: 18 s if every byte restarted a
    // per-read timeout; one deadline for the whole handshake cuts it short.
    let dribbler = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let hello = client_hello(2, 0);
        let mut sent = 0;
        for byte in &hello {
            if s.write_all(std::slice::from_ref(byte)).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(300));
            let mut probe = [0u8; 1];
            s.set_nonblocking(true).unwrap();
            let closed = matches!(s.read(&mut probe), Ok(0));
            s.set_nonblocking(false).unwrap();
            if closed {
                break;
            }
        }
        sent
    });
    let worst_tcp = honest(&format!("tcp://{addr}"), 10, 20);
    let worst_local = honest(&name, 10, 20);
    eprintln!(
        "silent + dribbling TCP clients: worst honest round trip {worst_tcp:?} (TCP), {worst_local:?} (shared memory)"
    );
    let sent = dribbler.join().unwrap();
    assert!(
        sent < 60,
        "the dribbled hello was cut off by the deadline ({sent} of 60 bytes sent)"
    );
    silent.set_read_timeout(Some(HANG_GUARD)).unwrap();
    closed_by_peer(silent);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// The async listener on a current-thread runtime: silent and dribbling
/// clients stall neither accept nor an established connection on it.
#[test]
fn async_listener_never_blocks_its_runtime() {
    let _serial = common::serial();
    let name = unique_listener_name("async-attack");
    let config = server_config().plaintext_tcp("127.0.0.1:0");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut listener = AsyncListener::bind(&name, &config).expect("bind");
        let addr = listener.get_ref().tcp_addr().unwrap();
        let path = listener.get_ref().path().to_owned();
        tokio::spawn(async move {
            loop {
                // A client that failed is an error for that client only.
                let mut conn = match listener.accept().await {
                    Ok(conn) => conn,
                    Err(e) if e.is_per_client() => continue,
                    Err(e) => panic!("the listener itself failed: {e}"),
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while conn.recv(&mut buf).await.is_ok() {
                        if conn.send(&buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        // An established connection, echoing on this runtime throughout.
        let mut conn = asyncio::connect(name.clone(), &ConnConfig::new().max_message(4096))
            .await
            .expect("connect");
        let _silent_unix = UnixStream::connect(&path).unwrap();
        let _silent_tcp = TcpStream::connect(addr).unwrap();
        let mut dribbler = TcpStream::connect(addr).unwrap();
        dribbler.write_all(&client_hello(2, 0)[..4]).unwrap();
        let mut worst = Duration::ZERO;
        let mut buf = Vec::new();
        let until = Instant::now() + Duration::from_millis(1500);
        let mut round = 0u64;
        while Instant::now() < until {
            let start = Instant::now();
            conn.send(&round.to_le_bytes()).await.expect("send");
            conn.recv(&mut buf).await.expect("echo");
            worst = worst.max(start.elapsed());
            round += 1;
            if round % 16 == 0 {
                let _ = dribbler.write_all(&[0]);
            }
        }
        // New clients are accepted meanwhile too, on the same runtime.
        let start = Instant::now();
        let mut late = asyncio::connect(name.clone(), &ConnConfig::new().max_message(4096))
            .await
            .expect("a client accepted under attack");
        late.send(b"late").await.unwrap();
        late.recv(&mut buf).await.unwrap();
        eprintln!(
            "async listener under silent + dribbling clients: worst round trip {worst:?} over {round}; a new client in {:?}",
            start.elapsed()
        );
        assert!(round > 0);
    });
}

/// Child roles: a raw local client doing the handshake by hand.
#[test]
fn child_entry() {
    let Some(ctx) = child_context() else { return };
    if ctx.role == "hold" {
        let config = ConnConfig::new().connect_timeout(HANG_GUARD);
        let held: Vec<_> = (0..ctx.parse::<usize>(1))
            .map(|_| connect(ctx.field(0), &config).expect("connect"))
            .collect();
        println!("{READY}");
        let _held = held;
        common::park_forever();
    }
    if ctx.role == "flood" {
        flood(std::path::Path::new(ctx.field(1)), ctx.parse(0));
    }
    let path = ctx.field(1).to_owned();
    let mut s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let wakeup = if ctx.role == "spin-ack-exit" { 1 } else { 0 };
    s.write_all(&client_hello(1, wakeup)).unwrap();
    let mut reply = [0u8; 70];
    s.read_exact(&mut reply).expect("server hello");
    let to_them = Region::recv_from(&s).expect("ring");
    let to_us = Region::recv_from(&s).expect("ring");
    match ctx.role.as_str() {
        // Acknowledges without claiming its ends, then waits to be dropped.
        "ack-unclaimed" => {
            s.write_all(&[1]).unwrap();
            println!("{READY}");
            let got = closed_by_peer(s);
            println!("CLOSED {got}");
        }
        // Claims its ends, acknowledges, and exits without closing them.
        _ => {
            let tx = to_them.producer().expect("claim");
            let rx = to_us.consumer().expect("claim");
            s.write_all(&[1]).unwrap();
            println!("{READY}");
            std::mem::forget((tx, rx));
            std::process::exit(0);
        }
    }
}

fn raw_client(role: &str, path: &std::path::Path) -> ChildProc {
    spawn_child("child_entry", role, None, &format!("x:{}", path.display()))
}

#[test]
fn clients_that_ack_without_attaching_or_exit_are_dropped() {
    let _serial = common::serial();
    let (listener, name, path) = bind("ack", &server_config());
    // Acknowledging without claiming the rings: refused at once.
    let mut unclaimed = raw_client("ack-unclaimed", &path);
    let refused = match listener.accept_timeout(HANG_GUARD) {
        Err(e @ AcceptError::Handshake { .. }) => e.to_string(),
        other => panic!("expected the handshake refused, got {other:?}"),
    };
    assert!(refused.contains("claimed"), "{refused}");
    unclaimed.wait_for_prefix("CLOSED", HANG_GUARD);
    // Claiming, acknowledging and exiting (asking for spin): the connection
    // reports the death, and stops spinning.
    for role in ["ack-exit", "spin-ack-exit"] {
        let mut child = raw_client(role, &path);
        let mut conn = listener.accept_timeout(HANG_GUARD).expect("accepted");
        child.wait_timeout(HANG_GUARD);
        let mut buf = Vec::new();
        let start = Instant::now();
        match conn.recv_timeout(&mut buf, HANG_GUARD) {
            Err(mempipe::RecvError::PeerDied { pid }) => assert_eq!(pid, child.pid()),
            other => panic!("{role}: expected PeerDied, got {other:?}"),
        }
        eprintln!("{role}: death noticed in {:?}", start.elapsed());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, stop.clone());
    let worst = honest(&name, 5, 20);
    eprintln!("after ack attacks: worst honest round trip {worst:?}");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

#[test]
fn spin_beyond_the_listeners_cap_gets_hybrid() {
    let _serial = common::serial();
    let (listener, name, _) = bind("spin", &server_config().max_spinning_connections(1));
    let spin = ConnConfig::new()
        .max_message(4096)
        .wakeup(WakeupKind::Spin)
        .connect_timeout(HANG_GUARD);
    let pair = |listener: &Listener| {
        let client = std::thread::spawn({
            let (name, spin) = (listener.name().to_owned(), spin.clone());
            move || connect(name.as_str(), &spin).expect("connect")
        });
        let server = listener.accept_timeout(HANG_GUARD).expect("accept");
        (server, client.join().unwrap())
    };
    let (first, _c1) = pair(&listener);
    assert_eq!(first.transport().wakeup(), Some(WakeupKind::Spin));
    let (second, c2) = pair(&listener);
    assert_eq!(second.transport().wakeup(), Some(WakeupKind::Hybrid));
    assert!(
        second.transport().why().contains("hybrid instead"),
        "{}",
        second.transport()
    );
    assert_eq!(c2.transport().wakeup(), Some(WakeupKind::Hybrid));
    drop(first);
    let (third, _c3) = pair(&listener);
    assert_eq!(third.transport().wakeup(), Some(WakeupKind::Spin));
    let none = bind("nospin", &server_config().max_spinning_connections(0));
    let (nospin, _c4) = pair(&none.0);
    assert_eq!(nospin.transport().wakeup(), Some(WakeupKind::Hybrid));
    assert!(nospin.transport().why().contains("allows no spinning"));
    let _ = name;
}

/// A listener out of descriptors, in a child: clients hear why, and the
/// accept loop waits instead of spinning.
#[test]
fn out_of_descriptors_turns_clients_away_without_spinning() {
    if let Some(ctx) = child_context() {
        if ctx.role != "emfile" {
            return;
        }
        let listener =
            Listener::bind(ctx.field(0), &server_config().raise_fd_limit(false)).expect("bind");
        let mut hoard = Vec::new();
        while let Ok(fd) = std::fs::File::open("/dev/null") {
            hoard.push(fd);
        }
        println!("{READY}");
        let (mut calls, mut refused) = (0u64, 0u64);
        let until = Instant::now() + HANG_GUARD;
        while refused < 3 && Instant::now() < until {
            calls += 1;
            match listener.accept_timeout(Duration::from_millis(200)) {
                Err(AcceptError::OutOfResources { .. }) => refused += 1,
                Err(_) => {}
                Ok(_) => panic!("accepted with no descriptor left"),
            }
        }
        println!("CALLS {calls} REFUSED {refused}");
        drop(hoard);
        return;
    }
    let _serial = common::serial();
    let name = unique_listener_name("emfile");
    let mut child = spawn_child(
        "out_of_descriptors_turns_clients_away_without_spinning",
        "emfile",
        None,
        &name,
    );
    child.wait_for_line(READY, HANG_GUARD);
    for _ in 0..3 {
        match connect(
            name.as_str(),
            &ConnConfig::new().connect_timeout(HANG_GUARD),
        ) {
            Err(ConnectError::ListenerOutOfResources { listener_pid }) => {
                assert_eq!(listener_pid, child.pid())
            }
            other => panic!("expected ListenerOutOfResources, got {other:?}"),
        }
    }
    let counts = child.wait_for_prefix("CALLS", HANG_GUARD);
    let calls: u64 = counts
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("a call count");
    eprintln!("out of descriptors: {counts}");
    assert!(calls < 1000, "the accept loop spun: {counts}");
    child.assert_success(HANG_GUARD);
}

/// Descriptors a shared-memory connection holds on the listener's side.
#[test]
fn a_connection_holds_five_descriptors_on_the_listeners_side() {
    let _serial = common::serial();
    let (listener, name, _) = bind("fds", &server_config());
    let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    const N: usize = 20;
    let mut child = spawn_child("child_entry", "hold", None, &format!("{name}:{N}"));
    let before = open(); // after the child's pipes
    let conns: Vec<_> = (0..N)
        .map(|_| listener.accept_timeout(HANG_GUARD).expect("accept"))
        .collect();
    child.wait_for_line(READY, HANG_GUARD);
    let per_connection = (open() - before) as f64 / N as f64;
    eprintln!("descriptors per shared-memory connection (listener side): {per_connection}");
    assert!(per_connection <= 5.0, "{per_connection} descriptors each");
    drop(conns);
}

/// One address holding its share of handshakes: its next client is turned
/// away with a typed reply, clients from elsewhere (here: local) still get in.
#[test]
fn an_address_over_its_handshake_share_is_turned_away() {
    let _serial = common::serial();
    let config = server_config()
        .plaintext_tcp("127.0.0.1:0")
        .max_handshakes_per_peer(3);
    let (listener, name, _) = bind("share", &config);
    let addr = listener.tcp_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, stop.clone());
    let silent: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let tcp = ConnConfig::new().connect_timeout(HANG_GUARD);
    match connect(format!("tcp://{addr}").as_str(), &tcp) {
        Err(ConnectError::Busy { .. }) => {}
        other => panic!("expected Busy, got {other:?}"),
    }
    let worst = honest(&name, 5, 20);
    eprintln!("one address at its handshake share: worst honest (local) round trip {worst:?}");
    drop(silent);
    stop.store(true, Ordering::Relaxed);
    let errors = server.join().unwrap();
    assert!(
        errors.iter().any(|e| e.contains("per-peer limit")),
        "{errors:?}"
    );
}

/// A listener on loopback TCP whose handshakes outlive any honest client's
/// connect timeout, with these limits.
fn held_on_tcp(max_handshakes: usize, per_peer: usize) -> ConnConfig {
    server_config()
        .handshake_timeout(HANG_GUARD * 3)
        .plaintext_tcp("127.0.0.1:0")
        .max_handshakes(max_handshakes)
        .max_handshakes_per_peer(per_peer)
}

/// Many TCP addresses (here one, allowed as many handshakes as the listener
/// has) holding every handshake the listener allows, for a long deadline:
/// local clients still get in at once, because each socket has its own
/// share, and TCP clients beyond it wait in the backlog.
#[test]
fn a_tcp_flood_leaves_local_clients_their_own_handshakes() {
    let _serial = common::serial();
    let config = held_on_tcp(4, 4);
    let (listener, name, _) = bind("flood", &config);
    let addr = listener.tcp_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, stop.clone());
    let silent: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let worst = honest(&name, 5, 20);
    eprintln!("TCP clients holding every TCP handshake: worst honest (local) round trip {worst:?}");
    drop(silent);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}

/// A child's flood: `count` silent sockets to `path`; prints how many were
/// turned away busy (status 4 in the reply), then holds the rest.
fn flood(path: &std::path::Path, count: usize) -> ! {
    let mut sockets: Vec<UnixStream> = (0..count)
        .map(|_| UnixStream::connect(path).expect("connect"))
        .collect();
    let mut busy = vec![false; count];
    let until = Instant::now() + HANG_GUARD;
    // The turned-away ones hear it at once; the others hold their handshake.
    while busy.iter().filter(|b| !**b).count() > 3 && Instant::now() < until {
        for (s, seen) in sockets.iter_mut().zip(busy.iter_mut()) {
            let mut reply = [0u8; 70];
            s.set_nonblocking(true).unwrap();
            if !*seen && matches!(s.read(&mut reply), Ok(70)) {
                *seen = reply[10] == 4;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("BUSY {}", busy.iter().filter(|b| **b).count());
    println!("{READY}");
    common::park_forever();
}

/// Another user (nobody) opening many silent handshakes holds at most its
/// share: the rest are turned away busy at once, and the listener's own
/// clients keep connecting. Skipped where the test cannot run as nobody.
#[test]
fn a_flood_from_another_user_holds_only_its_share() {
    let _serial = common::serial();
    const NOBODY: u32 = 65534;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: needs root to run a child as nobody");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(unique_listener_name("flood-dir"));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = server_config()
        .handshake_timeout(HANG_GUARD * 3)
        .rendezvous_dir(&dir)
        .allow_uid(NOBODY)
        .max_handshakes_per_peer(3);
    let (listener, name, path) = bind("flood-uid", &config);
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(listener, stop.clone());
    let spawned = common::spawn_child_with(
        "child_entry",
        "flood",
        None,
        &format!("20:{}", path.display()),
        |cmd| {
            use std::os::unix::process::CommandExt;
            cmd.uid(NOBODY).gid(NOBODY);
        },
    );
    let Ok(mut child) = spawned else {
        eprintln!("skipped: cannot run the test binary as nobody");
        stop.store(true, Ordering::Relaxed);
        return;
    };
    let busy: usize = child.wait_for_prefix("BUSY ", HANG_GUARD).parse().unwrap();
    child.wait_for_line(READY, HANG_GUARD);
    // Honest clients of the listener's own user, while nobody holds its share.
    let honest_config = ConnConfig::new()
        .rendezvous_dir(&dir)
        .max_message(4096)
        .connect_timeout(HANG_GUARD);
    let mut buf = Vec::new();
    let mut worst = Duration::ZERO;
    for i in 0..20u64 {
        let start = Instant::now();
        let mut conn = connect(name.as_str(), &honest_config).expect("an honest client");
        conn.send(&i.to_le_bytes()).unwrap();
        conn.recv(&mut buf).unwrap();
        worst = worst.max(start.elapsed());
    }
    eprintln!("another user flooding: {busy} of 20 turned away busy; worst honest connect + round trip {worst:?}");
    child.kill();
    stop.store(true, Ordering::Relaxed);
    let errors = server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(busy, 17, "all but its share of 3 turned away");
    assert!(
        errors
            .iter()
            .filter(|e| e.contains("per-peer limit"))
            .count()
            >= 17,
        "{errors:?}"
    );
}

/// A flood of clients turned away at once (one address over its share)
/// while the server does not accept: one accept answers at most
/// `max_handshakes` of them, the rest wait in the kernel's backlog instead of
/// piling up in the listener's memory; all are answered as accepting goes on.
#[test]
fn clients_turned_away_do_not_pile_up_between_accepts() {
    let _serial = common::serial();
    let config = held_on_tcp(4, 1);
    let (listener, _, _) = bind("pile", &config);
    let addr = listener.tcp_addr().unwrap();
    let _held = TcpStream::connect(addr).unwrap();
    assert!(matches!(listener.try_accept(), Err(AcceptError::NoPending)));
    let flood: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let answered = |flood: &[TcpStream]| {
        flood
            .iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let mut b = [0u8; 1];
                s.peek(&mut b).is_ok()
            })
            .count()
    };
    let first = listener.try_accept();
    assert!(matches!(first, Err(AcceptError::Busy { .. })), "{first:?}");
    let after_one = answered(&flood);
    let mut busy = 1;
    while busy < flood.len() {
        match listener.accept_timeout(HANG_GUARD) {
            Err(AcceptError::Busy { .. }) => busy += 1,
            other => panic!("expected Busy, got {other:?}"),
        }
    }
    eprintln!("one accept answered {after_one} of 40 turned-away clients");
    assert!(after_one <= 4, "{after_one} answered by one accept");
    assert_eq!(answered(&flood), 40);
}
