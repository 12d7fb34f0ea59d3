//! The `handshake` target's listener half: a real listener's non-blocking
//! handshake fed arbitrary bytes in arbitrary chunks.
//!
//! Input (after the mode byte): flags (bit 0: over TCP, else the rendezvous
//! socket; bit 1: the stream starts with a valid hello; bit 2: one byte of
//! that hello flipped), the hello's wakeup byte, the flip's position and
//! mask, a plan length (`% 32`) and that many plan bytes (each writes
//! `b % 64` bytes, 0 a pause), then the rest of the stream.
//!
//! After every step the listener is asked for a finished client
//! (`try_accept`); at the end the client shuts its writing side and the
//! listener must finish it. Checked: only typed errors; a raw local client,
//! which claims no ring, is never handed over as a connection; a TCP client
//! only when its stream starts with a valid TCP hello; exactly one result per
//! client; the listener's reply, if any, is a server hello that names no path
//! and, on TCP, no boot id.

use super::super::{Draw, Input};
use super::{asked_wakeup, socket_dir, write_in_chunks};
use crate::conn::wire::{self, ClientHello, ServerHello, Status, CLIENT_HELLO_LEN};
use crate::conn::{AcceptError, TransportKind};
use crate::{ConnConfig, Listener};
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Longest stream one input writes (well within a socket's buffer).
const MAX_STREAM: usize = 4096;
/// A hang guard: no handshake here waits for its deadline.
const GUARD: Duration = Duration::from_secs(20);

/// One listener per process, one client at a time (the replay test calls the
/// target from several threads).
fn listener() -> &'static Mutex<Listener> {
    static LISTENER: OnceLock<Mutex<Listener>> = OnceLock::new();
    LISTENER.get_or_init(|| {
        let config = ConnConfig::new()
            .rendezvous_dir(socket_dir())
            .plaintext_tcp("127.0.0.1:0")
            .handshake_timeout(GUARD)
            .raise_fd_limit(false);
        let name = format!("handshake-{}", std::process::id());
        Mutex::new(Listener::bind(&name, &config).expect("bind the fuzz listener"))
    })
}

/// A hello that gets past the listener's checks.
fn valid_hello(tcp: bool, wakeup: u8) -> [u8; CLIENT_HELLO_LEN] {
    ClientHello {
        via: if tcp { wire::VIA_TCP } else { wire::VIA_UNIX },
        wakeup: asked_wakeup(wakeup),
        flags: 0,
        pid: std::process::id(),
        max_message: 1024,
        capacity: 4096,
        spin_budget_ns: 20_000,
        boot_id: if tcp { [0; 16] } else { wire::boot_id() },
    }
    .encode()
}

pub(super) fn drive(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let tcp = flags & 1 == 1;
    let wakeup = input.u8();
    let (flip_at, flip) = (usize::from(input.u8()), input.u8());
    let plan_len = usize::from(input.u8() % 32);
    let plan = input.bytes_up_to(plan_len);
    let mut stream = Vec::new();
    if flags & 2 != 0 {
        stream.extend_from_slice(&valid_hello(tcp, wakeup));
        if flags & 4 != 0 {
            stream[flip_at % CLIENT_HELLO_LEN] ^= flip;
        }
    }
    stream.extend_from_slice(input.bytes_up_to(MAX_STREAM));
    let valid_tcp_hello = tcp
        && stream
            .get(..CLIENT_HELLO_LEN)
            .is_some_and(|hello| ClientHello::decode(hello).is_ok_and(|h| h.via == wire::VIA_TCP));

    let listener = listener().lock().unwrap_or_else(|e| e.into_inner());
    let mut results = Vec::new();
    let take = |results: &mut Vec<_>| match listener.try_accept() {
        Err(AcceptError::NoPending) => {}
        other => results.push(other),
    };
    if tcp {
        let addr = listener.tcp_addr().expect("the fuzz listener has TCP");
        let client = std::net::TcpStream::connect(addr).expect("connect over TCP");
        client.set_nodelay(true).expect("TCP_NODELAY");
        write_in_chunks(&client, &stream, plan, || take(&mut results));
        let _ = client.shutdown(std::net::Shutdown::Write);
        check_result(finish(&listener, results), tcp, valid_tcp_hello);
        check_reply(&read_reply(client), tcp);
    } else {
        let client = UnixStream::connect(listener.path()).expect("connect locally");
        write_in_chunks(&client, &stream, plan, || take(&mut results));
        let _ = client.shutdown(std::net::Shutdown::Write);
        check_result(finish(&listener, results), tcp, valid_tcp_hello);
        check_reply(&read_reply(client), tcp);
    }
}

type Finished = Result<crate::Connection, AcceptError>;

/// A raw client is handed over only on TCP with a valid hello; otherwise
/// it gets a typed error for one client. The connection closes here, so
/// that the client's read of the reply ends.
fn check_result(result: Finished, tcp: bool, valid_tcp_hello: bool) {
    match result {
        Ok(conn) => {
            assert!(tcp, "a local client that claimed no ring was handed over");
            assert!(valid_tcp_hello, "a TCP client without a valid hello got in");
            assert_eq!(conn.transport().kind(), TransportKind::Tcp);
        }
        Err(e) => assert!(
            matches!(
                e,
                AcceptError::Handshake { .. }
                    | AcceptError::OutOfResources { .. }
                    | AcceptError::Create(_)
            ),
            "unexpected error for one client: {e:?}"
        ),
    }
}

/// The one result for the client whose writing side just closed: waits
/// for it (within the guard) unless it came already; nothing else is left.
fn finish(listener: &Listener, mut results: Vec<Finished>) -> Finished {
    if results.is_empty() {
        match listener.accept_timeout(GUARD) {
            Err(AcceptError::Timeout) => panic!("a client that closed was never finished"),
            other => results.push(other),
        }
    }
    assert_eq!(results.len(), 1, "one result per client: {results:?}");
    match listener.try_accept() {
        Err(AcceptError::NoPending) => {}
        other => panic!("a second result for one client: {other:?}"),
    }
    results.pop().expect("one result")
}

/// What the listener wrote back, until it closed (TCP may end in a reset
/// when the listener left input unread).
fn read_reply(mut client: impl Read) -> Vec<u8> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n @ 1..) = client.read(&mut buf) {
        reply.extend_from_slice(&buf[..n]);
    }
    reply
}

/// The listener's reply is a server hello with no path, and tells a TCP peer
/// nothing about this host.
fn check_reply(reply: &[u8], tcp: bool) {
    if reply.is_empty() || (tcp && reply.len() < wire::SERVER_HELLO_LEN) {
        return;
    }
    let (hello, path_len) =
        ServerHello::decode_fixed(&reply[..wire::SERVER_HELLO_LEN.min(reply.len())])
            .expect("the listener's reply is a valid server hello");
    assert_eq!(path_len, 0, "the listener named a path");
    assert_ne!(
        hello.status,
        Status::Upgrade,
        "the listener offered a switch"
    );
    if tcp {
        assert_eq!(hello.boot_id, [0; 16], "a TCP peer was told the boot id");
    }
}
