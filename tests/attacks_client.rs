//! The client side under attack: what a peer's reply may decide, and which
//! timeouts hold. Each hostile peer is a real socket (a thread or a process);
//! honest connections run meanwhile.
//!
//! * a hostile TCP listener that answers "switch to shared memory" with the
//!   path of another local service: the client is refused, never reaches it;
//! * a TCP hello learns nothing about this host, and a replayed boot id with a
//!   fake pid does not make the listener think a live client died;
//! * `connect_timeout` holds against a listener whose backlog is full and
//!   against a TCP server that sends its reply a byte at a time;
//! * plaintext TCP off this host needs its second opt-in;
//! * a rendezvous directory planted by another user: both sides fall back to
//!   `$HOME/.mempipe`, and say what to do when they cannot (root only);
//! * a zero-filled or abandoned region is "never initialised", not "retry".

mod common;

use common::{child_context, spawn_child_with, unique_listener_name, HANG_GUARD};
use mempipe::conn::{BindError, ConnectError, HandshakeError, TransportKind};
use mempipe::{connect, ConnConfig, Connection, Listener, OpenError, RecvError, Region};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs `f` on a thread; a call that does not return within the hang guard
/// fails the test instead of hanging it.
fn guarded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("no answer within {HANG_GUARD:?}"))
}

/// A server hello as the wire has it: `status` (0 accepted, 3 upgrade), the
/// listener's pid, and a path (only an upgrade carries one).
fn server_hello(status: u8, pid: u32, path: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 70];
    b[..8].copy_from_slice(b"MEMPIPE\x01");
    b[8..10].copy_from_slice(&1u16.to_le_bytes());
    b[10] = status;
    b[12..16].copy_from_slice(&pid.to_le_bytes());
    b[16..24].copy_from_slice(&4096u64.to_le_bytes());
    b[24..32].copy_from_slice(&(1u64 << 16).to_le_bytes());
    b[40..48].copy_from_slice(&50_000_000u64.to_le_bytes());
    b[68..70].copy_from_slice(&(path.len() as u16).to_le_bytes());
    b.extend_from_slice(path);
    b
}

/// A client hello over TCP, with the pid, flags and boot id it claims.
fn tcp_client_hello(pid: u32, flags: u32, boot_id: [u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    b[..8].copy_from_slice(b"MEMPIPE\x01");
    b[8..10].copy_from_slice(&1u16.to_le_bytes());
    b[11] = 2; // over TCP
    b[12..16].copy_from_slice(&pid.to_le_bytes());
    b[16..24].copy_from_slice(&4096u64.to_le_bytes());
    b[24..32].copy_from_slice(&(1u64 << 16).to_le_bytes());
    b[40..44].copy_from_slice(&flags.to_le_bytes());
    b[44..60].copy_from_slice(&boot_id);
    b
}

/// This host's boot id, as a peer on it can read it.
fn boot_id() -> [u8; 16] {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    let mut id = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).take(16).enumerate() {
        id[i] = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
    }
    id
}

/// A pid that belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = child.id();
    child.wait().expect("reap");
    pid
}

/// A hostile TCP listener on loopback: takes `clients` connections, reads
/// each one's hello, and answers with `answer`. Joins with the hellos read.
fn hostile_tcp(
    clients: usize,
    answer: impl Fn(&mut TcpStream) + Send + 'static,
) -> (SocketAddr, std::thread::JoinHandle<Vec<[u8; 60]>>) {
    let hostile = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hostile.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut hellos = Vec::new();
        for _ in 0..clients {
            let (mut socket, _) = hostile.accept().unwrap();
            let mut hello = [0u8; 60];
            socket.read_exact(&mut hello).unwrap();
            hellos.push(hello);
            answer(&mut socket);
        }
        hellos
    });
    (addr, thread)
}

/// An answer that offers to switch to shared memory at `target`.
fn upgrade_to(target: &Path) -> impl Fn(&mut TcpStream) + Send + 'static {
    let reply = server_hello(3, std::process::id(), target.as_os_str().as_encoded_bytes());
    move |socket| {
        let _ = socket.write_all(&reply);
    }
}

/// One honest round trip on `conn`, answered by `peer`.
fn round_trip(conn: &mut Connection, peer: &mut Connection) {
    let mut buf = Vec::new();
    conn.send(b"ping").expect("send");
    peer.recv(&mut buf).expect("peer recv");
    peer.send(&buf).expect("peer send");
    conn.recv(&mut buf).expect("recv");
    assert_eq!(buf, b"ping");
}

/// An honest client and its server connection, by name.
fn honest_pair(listener: &Listener) -> (Connection, Connection) {
    let name = listener.name().to_owned();
    let client = std::thread::spawn(move || connect(name.as_str(), &ConnConfig::new()));
    let server = listener.accept_timeout(HANG_GUARD).expect("accept");
    (client.join().unwrap().expect("honest connect"), server)
}

#[test]
fn a_hostile_tcp_listener_cannot_send_the_client_to_another_local_service() {
    let _serial = common::serial();
    // The service the attacker would like the client to reach.
    let private = Listener::bind(&unique_listener_name("private"), &ConnConfig::new()).unwrap();
    let (addr, attacker) = hostile_tcp(2, upgrade_to(private.path()));
    for address in [format!("xio://{addr}"), format!("tcp://{addr}")] {
        match guarded(move || connect(address.as_str(), &ConnConfig::new())) {
            Err(ConnectError::Handshake(HandshakeError::BadField { field, .. })) => {
                assert_eq!(field, "status")
            }
            other => panic!("expected the upgrade refused, got {other:?}"),
        }
    }
    // The client asked for no switch and told the TCP peer nothing of this host.
    for hello in attacker.join().unwrap() {
        assert_eq!(&hello[40..44], &[0; 4], "flags");
        assert_eq!(&hello[44..60], &[0; 16], "boot id");
    }
    // The private service never saw the client, and still serves honest ones.
    assert!(matches!(
        private.try_accept(),
        Err(mempipe::conn::AcceptError::NoPending)
    ));
    let (mut client, mut server) = honest_pair(&private);
    round_trip(&mut client, &mut server);
}

#[test]
fn the_async_client_is_refused_the_same_way() {
    let _serial = common::serial();
    let private =
        Listener::bind(&unique_listener_name("private-async"), &ConnConfig::new()).unwrap();
    let (addr, _attacker) = hostile_tcp(1, upgrade_to(private.path()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        tokio::time::timeout(
            HANG_GUARD,
            mempipe::asyncio::connect(format!("xio://{addr}"), &ConnConfig::new()),
        )
        .await
        .expect("no answer within the hang guard")
    });
    match result {
        Err(ConnectError::Handshake(HandshakeError::BadField { field, .. })) => {
            assert_eq!(field, "status")
        }
        other => panic!("expected the upgrade refused, got {:?}", other.err()),
    }
    assert!(matches!(
        private.try_accept(),
        Err(mempipe::conn::AcceptError::NoPending)
    ));
}

#[test]
fn a_tcp_client_learns_nothing_of_this_host_and_a_fake_pid_kills_nothing() {
    let _serial = common::serial();
    let listener = Listener::bind(
        &unique_listener_name("replay"),
        &ConnConfig::new().plaintext_tcp("127.0.0.1:0"),
    )
    .unwrap();
    let mut raw = TcpStream::connect(listener.tcp_addr().unwrap()).unwrap();
    raw.set_read_timeout(Some(HANG_GUARD)).unwrap();
    // This host's boot id (any local user reads it) with a dead pid and the
    // flag that used to ask for the rendezvous path.
    raw.write_all(&tcp_client_hello(dead_pid(), 1, boot_id()))
        .unwrap();
    let mut server = listener.accept_timeout(HANG_GUARD).expect("accept");
    let mut reply = [0u8; 70];
    raw.read_exact(&mut reply).unwrap();
    assert_eq!(reply[10], 0, "accepted over TCP, not sent elsewhere");
    assert_eq!(&reply[48..64], &[0; 16], "no boot id to a TCP client");
    assert_eq!(&reply[68..70], &[0; 2], "no path to a TCP client");
    assert_eq!(server.transport().kind(), TransportKind::Tcp);
    // The claimed pid is dead; the client is not: the connection lives.
    let mut buf = Vec::new();
    match server.recv_timeout(&mut buf, Duration::from_millis(300)) {
        Err(RecvError::Timeout) => {}
        other => panic!("a live client must not read as dead: {other:?}"),
    }
    let mut frame = 2u32.to_le_bytes().to_vec();
    frame.extend_from_slice(&0u32.to_le_bytes());
    frame.extend_from_slice(b"hi");
    raw.write_all(&frame).unwrap();
    server.recv(&mut buf).expect("the live client's message");
    assert_eq!(buf, b"hi");
}

#[test]
fn connect_keeps_its_timeout_against_a_full_backlog() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let dir = TempDir::new("backlog");
    let name = "full";
    let path = dir.0.join(format!("{name}.sock"));
    let unix = |flags| {
        rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, flags, None).unwrap()
    };
    // A listener that never accepts, with the smallest backlog, filled.
    let listener = unix(SocketFlags::CLOEXEC);
    let addr = SocketAddrUnix::new(&path).unwrap();
    rustix::net::bind(&listener, &addr).unwrap();
    rustix::net::listen(&listener, 0).unwrap();
    let mut queued = Vec::new();
    loop {
        let socket = unix(SocketFlags::CLOEXEC | SocketFlags::NONBLOCK);
        match rustix::net::connect(&socket, &addr) {
            Ok(()) => queued.push(socket),
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("filling the backlog: {e}"),
        }
        assert!(queued.len() < 1000, "the backlog never filled");
    }
    let config = ConnConfig::new()
        .rendezvous_dir(&dir.0)
        .connect_timeout(Duration::from_secs(2));
    let start = Instant::now();
    let result = guarded(move || connect(name, &config));
    println!(
        "full backlog ({} queued): connect returned after {:?}",
        queued.len(),
        start.elapsed()
    );
    match result {
        Err(ConnectError::ListenerBusy { .. }) => {}
        other => panic!("expected ListenerBusy, got {other:?}"),
    }
}

#[test]
fn connect_keeps_its_timeout_against_a_tcp_server_that_dribbles_its_reply() {
    let _serial = common::serial();
    // A valid reply, one byte every 250 ms: each read is quick, the whole takes 17 s.
    let (addr, _dribbler) = hostile_tcp(1, |socket| {
        for byte in server_hello(0, std::process::id(), &[]) {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    // An honest TCP listener keeps serving meanwhile.
    let honest = Listener::bind(
        &unique_listener_name("honest-tcp"),
        &ConnConfig::new().plaintext_tcp("127.0.0.1:0"),
    )
    .unwrap();
    let honest_addr = format!("tcp://{}", honest.tcp_addr().unwrap());
    let config = ConnConfig::new()
        .connect_timeout(Duration::from_secs(2))
        .handshake_timeout(Duration::from_secs(2));
    let start = Instant::now();
    let slow = std::thread::spawn(move || connect(format!("tcp://{addr}").as_str(), &config));
    let client = std::thread::spawn(move || connect(honest_addr.as_str(), &ConnConfig::new()));
    let mut server = honest.accept_timeout(HANG_GUARD).expect("honest accept");
    let mut client = client.join().unwrap().expect("honest connect");
    round_trip(&mut client, &mut server);
    let result = guarded(move || slow.join().unwrap());
    println!(
        "dribbling server: connect returned after {:?}",
        start.elapsed()
    );
    match result {
        Err(ConnectError::Handshake(HandshakeError::Timeout(_))) => {}
        other => panic!("expected a handshake timeout, got {other:?}"),
    }
}

#[test]
fn plaintext_tcp_off_this_host_needs_a_second_opt_in() {
    let _serial = common::serial();
    let name = unique_listener_name("offhost");
    match Listener::bind(&name, &ConnConfig::new().plaintext_tcp("0.0.0.0:0")) {
        Err(e @ BindError::PlaintextOffHost { .. }) => {
            assert!(e.to_string().contains("allow_plaintext_off_host"), "{e}")
        }
        other => panic!("expected PlaintextOffHost, got {other:?}"),
    }
    let open = ConnConfig::new()
        .plaintext_tcp("0.0.0.0:0")
        .allow_plaintext_off_host();
    let listener = Listener::bind(&name, &open).expect("bind with the opt-in");
    let port = listener.tcp_addr().unwrap().port();
    // 0.0.0.0 is not loopback: refused before anything is sent, as any
    // address other hosts can be.
    for address in [
        format!("tcp://0.0.0.0:{port}"),
        "tcp://192.0.2.1:7".to_owned(),
    ] {
        match connect(address.as_str(), &ConnConfig::new()) {
            Err(ConnectError::PlaintextOffHost { .. }) => {}
            other => panic!("{address}: expected PlaintextOffHost, got {other:?}"),
        }
    }
    let address = format!("tcp://0.0.0.0:{port}");
    let client = std::thread::spawn(move || {
        connect(
            address.as_str(),
            &ConnConfig::new().allow_plaintext_off_host(),
        )
    });
    let mut server = listener.accept_timeout(HANG_GUARD).expect("accept");
    let mut client = client.join().unwrap().expect("connect with the opt-in");
    round_trip(&mut client, &mut server);
}

/// The uid the planted-directory test runs its victim as, and the one that
/// planted the directory.
const VICTIM: u32 = 61_234;
const PLANTER: u32 = 65_534;

#[test]
fn a_planted_rendezvous_directory_falls_back_to_home() {
    if child_context().is_some() {
        return planted_child();
    }
    if !rustix::process::geteuid().is_root() {
        println!("skipped: planting a directory as another user needs root");
        return;
    }
    let planted = PathBuf::from(format!("/tmp/mempipe-{VICTIM}"));
    let home = PathBuf::from(format!("/tmp/mempipe-test-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&planted);
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir(&planted).unwrap();
    std::os::unix::fs::chown(&planted, Some(PLANTER), Some(PLANTER)).unwrap();
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&home, Some(VICTIM), Some(VICTIM)).unwrap();
    let run = |home: Option<&Path>| {
        let home = home.map(Path::to_owned);
        let mut child = spawn_child_with(
            "a_planted_rendezvous_directory_falls_back_to_home",
            "victim",
            None,
            &unique_listener_name("planted"),
            |cmd| {
                use std::os::unix::process::CommandExt;
                cmd.uid(VICTIM).gid(VICTIM).env_remove("XDG_RUNTIME_DIR");
                match home {
                    Some(home) => cmd.env("HOME", home),
                    None => cmd.env_remove("HOME"),
                };
            },
        )
        .expect("spawn the victim");
        let line = child.line_starting_with(&["BOUND ", "REFUSED "], HANG_GUARD);
        child.assert_success(HANG_GUARD);
        line
    };
    let bound = run(Some(&home));
    let refused = run(None);
    let _ = std::fs::remove_dir_all(&planted);
    let _ = std::fs::remove_dir_all(&home);
    let dir = home.join(".mempipe");
    assert!(
        bound.starts_with(&format!("BOUND {}", dir.display())),
        "{bound}"
    );
    for what in ["another user created it first", "XDG_RUNTIME_DIR", "HOME"] {
        assert!(refused.contains(what), "{what:?} missing from: {refused}");
    }
}

/// The victim: binds by name in the default directory, and connects to it.
fn planted_child() {
    let ctx = child_context().unwrap();
    let name = ctx.arg.clone();
    match Listener::bind(&name, &ConnConfig::new()) {
        Ok(listener) => {
            let (mut client, mut server) = honest_pair(&listener);
            round_trip(&mut client, &mut server);
            println!("BOUND {}", listener.path().display());
        }
        Err(e) => println!("REFUSED {e}"),
    }
}

#[test]
fn a_region_nobody_will_initialise_says_so_instead_of_retry() {
    let dir = TempDir::new("regions");
    // Zero-filled, sized an hour ago: no creator is coming.
    let zeros = dir.0.join("zeros");
    let file = std::fs::File::create(&zeros).unwrap();
    file.set_len(8192).unwrap();
    file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(file);
    match Region::open_at_path(&zeros) {
        Err(e @ OpenError::NeverInitialised { .. }) => {
            assert!(e.to_string().contains("all zeros"), "{e}")
        }
        other => panic!("expected NeverInitialised, got {other:?}"),
    }
    // A header whose creator died before publishing it.
    let abandoned = dir.0.join("abandoned");
    let mut bytes = vec![0u8; 8192];
    let pid = dead_pid();
    bytes[36..40].copy_from_slice(&pid.to_ne_bytes());
    std::fs::write(&abandoned, &bytes).unwrap();
    match Region::open_at_path(&abandoned) {
        Err(e @ OpenError::NeverInitialised { .. }) => {
            assert!(e.to_string().contains(&format!("pid {pid}")), "{e}")
        }
        other => panic!("expected NeverInitialised, got {other:?}"),
    }
    // Handed over with no header: it will never get one.
    use rustix::fs::{MemfdFlags, SealFlags};
    let memfd = rustix::fs::memfd_create("zeros", MemfdFlags::ALLOW_SEALING).unwrap();
    rustix::fs::ftruncate(&memfd, 8192).unwrap();
    rustix::fs::fcntl_add_seals(
        &memfd,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
    )
    .unwrap();
    match Region::from_fds(memfd, None) {
        Err(OpenError::NeverInitialised { .. }) => {}
        other => panic!("expected NeverInitialised, got {other:?}"),
    }
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("mempipe-attacks-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
