//! Hostile peers on the rendezvous socket and on TCP: garbage, impossible
//! fields, half messages, huge lengths, descriptors nobody asked for. Each
//! gets a typed error, and the listener (or client) keeps working. Every bound
//! is a hang guard.

mod common;

use common::{unique_listener_name, HANG_GUARD};
use mempipe::conn::{AcceptError, ConnectError, HandshakeError};
use mempipe::{connect, ConnConfig, Connection, Listener, RecvError};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

/// A client hello, byte by byte as the handshake defines it: magic, version,
/// wakeup, via (1 UNIX, 2 TCP), pid, max message, ring capacity, spin budget,
/// flags, boot id.
fn client_hello(via: u8, max: u64, capacity: u64) -> Vec<u8> {
    let mut b = b"MEMPIPE\x01".to_vec();
    b.extend_from_slice(&1u16.to_le_bytes());
    b.push(2); // futex
    b.push(via);
    b.extend_from_slice(&std::process::id().to_le_bytes());
    b.extend_from_slice(&max.to_le_bytes());
    b.extend_from_slice(&capacity.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&[0u8; 16]);
    assert_eq!(b.len(), 60);
    b
}

/// A server hello that accepts (TCP: no rings).
fn accepting_server_hello(max: u64) -> Vec<u8> {
    let mut b = b"MEMPIPE\x01".to_vec();
    b.extend_from_slice(&1u16.to_le_bytes());
    b.push(0); // accepted
    b.push(0); // no wakeup
    b.extend_from_slice(&std::process::id().to_le_bytes());
    b.extend_from_slice(&max.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes()); // capacity
    b.extend_from_slice(&0u64.to_le_bytes()); // spin
    b.extend_from_slice(&50_000_000u64.to_le_bytes()); // liveness
    b.extend_from_slice(&[0u8; 16]);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    assert_eq!(b.len(), 70);
    b
}

fn frame(len: u32, kind: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&len.to_le_bytes());
    b[4..].copy_from_slice(&kind.to_le_bytes());
    b
}

fn config() -> ConnConfig {
    ConnConfig::new()
        .max_message(4096)
        .handshake_timeout(Duration::from_millis(300))
        .connect_timeout(HANG_GUARD)
}

/// Proves the listener still serves: a real client echoes through it.
fn still_serving(listener: &Listener, address: &str) {
    let address = address.to_owned();
    let client = std::thread::spawn(move || {
        let mut conn = connect(address.as_str(), &config()).expect("connect after the attack");
        conn.send(b"ok?").unwrap();
        let mut buf = Vec::new();
        conn.recv(&mut buf).unwrap();
        assert_eq!(buf, b"ok?");
    });
    let mut conn = listener.accept().expect("accept a real client");
    let mut buf = Vec::new();
    conn.recv(&mut buf).unwrap();
    conn.send(&buf).unwrap();
    client.join().unwrap();
}

fn expect_handshake_error(
    listener: &Listener,
    what: &str,
    check: impl Fn(&HandshakeError) -> bool,
) {
    match listener.accept() {
        Err(AcceptError::Handshake { source, .. }) if check(&source) => {}
        other => panic!("{what}: unexpected accept result {other:?}"),
    }
}

#[test]
fn hostile_clients_on_the_rendezvous_socket() {
    let _serial = common::serial();
    let name = unique_listener_name("hostile-local");
    let listener = Listener::bind(&name, &config()).expect("bind");
    let path = listener.path().to_owned();
    let attack = |bytes: Vec<u8>| {
        let path = path.clone();
        std::thread::spawn(move || {
            let mut s = UnixStream::connect(path).unwrap();
            let _ = s.write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        })
    };

    let t = attack(vec![0xAB; 60]);
    expect_handshake_error(&listener, "garbage", |e| {
        matches!(e, HandshakeError::BadMagic)
    });
    t.join().unwrap();
    still_serving(&listener, &name);

    let t = attack(client_hello(1, 4096, 1 << 16)[..10].to_vec());
    expect_handshake_error(&listener, "half hello", |e| {
        matches!(
            e,
            HandshakeError::Truncated {
                got: 10,
                expected: 60
            }
        )
    });
    t.join().unwrap();

    let t = attack(client_hello(1, u64::MAX, u64::MAX));
    expect_handshake_error(&listener, "huge ring", |e| {
        matches!(
            e,
            HandshakeError::BadField {
                field: "capacity",
                ..
            }
        )
    });
    t.join().unwrap();

    let mut wrong_version = client_hello(1, 4096, 1 << 16);
    wrong_version[8] = 99;
    let t = attack(wrong_version);
    expect_handshake_error(&listener, "version", |e| {
        matches!(e, HandshakeError::VersionMismatch { theirs: 99, .. })
    });
    t.join().unwrap();

    let t = attack(client_hello(2, 4096, 1 << 16));
    expect_handshake_error(&listener, "TCP hello on the UNIX socket", |e| {
        matches!(e, HandshakeError::BadField { field: "via", .. })
    });
    t.join().unwrap();
    still_serving(&listener, &name);

    // Silence: the handshake times out, the listener moves on.
    let silent = UnixStream::connect(&path).unwrap();
    expect_handshake_error(&listener, "silence", |e| {
        matches!(e, HandshakeError::Timeout(_))
    });
    drop(silent);

    // Descriptors with the hello.
    let sender = std::thread::spawn({
        let path = path.clone();
        move || {
            use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
            use std::os::fd::AsFd;
            let s = UnixStream::connect(path).unwrap();
            let (r, w) = UnixStream::pair().unwrap();
            let fds = [r.as_fd(), w.as_fd()];
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
            let hello = client_hello(1, 4096, 1 << 16);
            sendmsg(
                &s,
                &[std::io::IoSlice::new(&hello)],
                &mut control,
                SendFlags::empty(),
            )
            .unwrap();
            let mut sink = Vec::new();
            let _ = (&s).read_to_end(&mut sink);
        }
    });
    expect_handshake_error(&listener, "descriptors", |e| {
        matches!(e, HandshakeError::UnexpectedDescriptors { count: 2 })
    });
    sender.join().unwrap();

    // A valid hello, then gone before acknowledging the rings.
    let quitter = std::thread::spawn({
        let path = path.clone();
        move || {
            let mut s = UnixStream::connect(path).unwrap();
            s.write_all(&client_hello(1, 4096, 1 << 16)).unwrap();
        }
    });
    expect_handshake_error(&listener, "no acknowledgement", |e| {
        matches!(e, HandshakeError::Truncated { .. } | HandshakeError::Io(_))
    });
    quitter.join().unwrap();
    still_serving(&listener, &name);
}

/// A client whose TCP handshake went through, as raw bytes; returns the server's connection.
fn raw_tcp_client(listener: &Listener) -> (TcpStream, Connection) {
    let addr = listener.tcp_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&client_hello(2, 4096, 1 << 16)).unwrap();
        let mut reply = [0u8; 70];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply[10], 0, "accepted");
        s
    });
    let conn = listener.accept().expect("accept the raw client");
    (client.join().unwrap(), conn)
}

fn expect_corrupted(conn: &mut Connection, what: &str) {
    let mut buf = Vec::new();
    match conn.recv_timeout(&mut buf, HANG_GUARD) {
        Err(RecvError::Corrupted(c)) => eprintln!("{what}: {c}"),
        other => panic!("{what}: expected Corrupted, got {other:?}"),
    }
}

#[test]
fn hostile_clients_on_tcp() {
    let _serial = common::serial();
    let name = unique_listener_name("hostile-tcp");
    let listener = Listener::bind(&name, &config().plaintext_tcp("127.0.0.1:0")).expect("bind");
    let tcp = format!("tcp://{}", listener.tcp_addr().unwrap());

    let addr = listener.tcp_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n..................................");
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    expect_handshake_error(&listener, "HTTP on the TCP port", |e| {
        matches!(e, HandshakeError::BadMagic)
    });
    t.join().unwrap();
    still_serving(&listener, &tcp);

    let (mut s, mut conn) = raw_tcp_client(&listener);
    s.write_all(&frame(u32::MAX, 0)).unwrap();
    expect_corrupted(&mut conn, "huge length");

    let (mut s, mut conn) = raw_tcp_client(&listener);
    s.write_all(&frame(100, 0)).unwrap();
    s.write_all(&[7; 10]).unwrap();
    drop(s);
    expect_corrupted(&mut conn, "half message");

    let (mut s, mut conn) = raw_tcp_client(&listener);
    s.write_all(&frame(3, 0)).unwrap();
    s.write_all(b"abc").unwrap();
    s.write_all(&frame(0, 0x5eed)).unwrap();
    let mut buf = Vec::new();
    assert_eq!(conn.recv(&mut buf).unwrap(), 3);
    expect_corrupted(&mut conn, "unknown frame kind");

    // A message above the maximum, in a frame that claims it honestly.
    let (mut s, mut conn) = raw_tcp_client(&listener);
    s.write_all(&frame(4097, 0)).unwrap();
    expect_corrupted(&mut conn, "above the maximum");
    still_serving(&listener, &tcp);
}

#[test]
fn hostile_tcp_servers() {
    let _serial = common::serial();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", server.local_addr().unwrap());
    let serve = |reply: Vec<u8>, then: Vec<u8>| {
        let (mut s, _) = server.accept().unwrap();
        let mut hello = [0u8; 60];
        s.read_exact(&mut hello).unwrap();
        s.write_all(&reply).unwrap();
        s.write_all(&then).unwrap();
        s
    };

    let client = std::thread::spawn({
        let address = address.clone();
        move || connect(address.as_str(), &config())
    });
    let _s = serve(vec![0x42; 70], vec![]);
    match client.join().unwrap() {
        Err(ConnectError::Handshake(HandshakeError::BadMagic)) => {}
        other => panic!("garbage reply: {other:?}"),
    }

    let client = std::thread::spawn({
        let address = address.clone();
        move || {
            let mut conn = connect(address.as_str(), &config()).expect("handshake");
            let mut buf = Vec::new();
            conn.recv_timeout(&mut buf, HANG_GUARD)
        }
    });
    let _s = serve(accepting_server_hello(4096), frame(1 << 30, 0).to_vec());
    match client.join().unwrap() {
        Err(RecvError::Corrupted(_)) => {}
        other => panic!("huge frame from the server: {other:?}"),
    }

    // A server that announces a larger maximum than the client asked for.
    let client = std::thread::spawn({
        let address = address.clone();
        move || connect(address.as_str(), &config())
    });
    let _s = serve(accepting_server_hello(1 << 20), vec![]);
    match client.join().unwrap() {
        Err(ConnectError::Handshake(HandshakeError::BadField {
            field: "max_message",
            ..
        })) => {}
        other => panic!("inflated maximum: {other:?}"),
    }
}

#[test]
fn hostile_rendezvous_server_sends_a_socket_for_memory() {
    let _serial = common::serial();
    let dir = std::env::temp_dir().join(unique_listener_name("fake-listener"));
    std::fs::create_dir(&dir).unwrap();
    let name = unique_listener_name("fake");
    let fake = UnixListener::bind(dir.join(format!("{name}.sock"))).unwrap();
    let client = std::thread::spawn({
        let (name, dir) = (name.clone(), dir.clone());
        move || connect(name.as_str(), &config().rendezvous_dir(dir))
    });
    let (mut s, _) = fake.accept().unwrap();
    let mut hello = [0u8; 60];
    s.read_exact(&mut hello).unwrap();
    let mut reply = accepting_server_hello(4096);
    reply[11] = 2; // futex
    reply[24..32].copy_from_slice(&(1u64 << 16).to_le_bytes());
    s.write_all(&reply).unwrap();
    {
        use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        use std::os::fd::AsFd;
        let (r, _w) = UnixStream::pair().unwrap();
        let fds = [r.as_fd()];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        sendmsg(
            &s,
            &[std::io::IoSlice::new(&[1])],
            &mut control,
            SendFlags::empty(),
        )
        .unwrap();
    }
    match client.join().unwrap() {
        Err(ConnectError::Handshake(HandshakeError::Region(e))) => eprintln!("refused: {e}"),
        other => panic!("a socket for memory: {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
