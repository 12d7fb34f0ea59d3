//! The `handshake` target's client half: a real `connect` against a fake
//! listener that answers with whatever the input says.
//!
//! Input (after the mode byte): flags (bit 0: over the rendezvous socket,
//! else TCP; bit 1: a crafted server hello, else raw bytes; bit 2: an
//! upgrade's path names a live local socket, the sentinel; bit 3: the TCP
//! address without its `tcp://`), a plan length (`% 16`) and that many plan
//! bytes (each writes `b % 64` bytes of the reply, 0 a pause), then the
//! reply: raw bytes, or the crafted hello's fields (status, wakeup, pid,
//! maximum message, capacity, spin budget, liveness interval, detail, path,
//! and one byte flipped).
//!
//! The fake listener reads the client's hello (which must be valid and, on
//! TCP, carry no boot id), writes the reply in the planned chunks with
//! yields between them, and closes. Checked: `connect` returns (a typed
//! error or a connection: on TCP only for an accepting reply; never on the
//! rendezvous socket, where no ring is sent), an offer to switch is always
//! refused, and nothing ever connects to the sentinel the reply names.

use super::super::{Draw, Input};
use super::{asked_wakeup, socket_dir, write_in_chunks};
use crate::conn::rendezvous::socket_path;
use crate::conn::wire::{self, ClientHello, ServerHello, Status, CLIENT_HELLO_LEN};
use crate::conn::{ConnectError, HandshakeError, TransportKind};
use crate::ConnConfig;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A hang guard: the fake listener always closes, so no wait reaches it.
const GUARD: Duration = Duration::from_secs(20);
/// Longest raw reply.
const MAX_REPLY: usize = 512;

/// The fake listener's sockets (one per process, one client at a time) and
/// the sentinel: a live socket an upgrade may name, which must never see a
/// connection.
struct Fake {
    tcp: TcpListener,
    local: UnixListener,
    local_name: String,
    dir: PathBuf,
    sentinel: UnixListener,
    sentinel_path: PathBuf,
}

fn fake() -> &'static Mutex<Fake> {
    static FAKE: OnceLock<Mutex<Fake>> = OnceLock::new();
    FAKE.get_or_init(|| {
        let dir = socket_dir();
        let pid = std::process::id();
        let bind = |name: &str| {
            let path = socket_path(&dir, name);
            let _ = std::fs::remove_file(&path);
            let socket = UnixListener::bind(&path).expect("bind a fake socket");
            socket.set_nonblocking(true).expect("non-blocking");
            (socket, path)
        };
        let local_name = format!("fake-{pid}");
        let (local, _) = bind(&local_name);
        let (sentinel, sentinel_path) = bind(&format!("sentinel-{pid}"));
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        tcp.set_nonblocking(true).expect("non-blocking");
        Mutex::new(Fake {
            tcp,
            local,
            local_name,
            dir,
            sentinel,
            sentinel_path,
        })
    })
}

/// A server hello from the input's fields.
fn crafted(input: &mut Input<'_>, sentinel: &std::path::Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let status = input.u8();
    let wakeup = input.u8();
    let pick = |choice: u8, usual: u64, any: u64| if choice % 4 == 0 { any } else { usual };
    let (c1, c2, c3) = (input.u8(), input.u8(), input.u8());
    let mut hello = ServerHello {
        status: [
            Status::Accepted,
            Status::Refused,
            Status::BadHello,
            Status::Upgrade,
            Status::Busy,
            Status::OutOfResources,
        ][usize::from(status % 6)],
        wakeup: asked_wakeup(wakeup),
        pid: input.u32(),
        max_message: pick(c1, 1024, input.u64()),
        capacity: pick(c2, 4096, input.u64()),
        spin_budget_ns: input.u64(),
        liveness_ns: pick(c3, 1_000_000_000, input.u64()),
        boot_id: [input.u8(); 16],
        detail: input.u32(),
        path: Vec::new(),
    };
    let path_len = usize::from(input.u8() % 128);
    hello.path = if status & 0x80 != 0 {
        sentinel.as_os_str().as_bytes().to_vec()
    } else {
        input.bytes_up_to(path_len).to_vec()
    };
    let mut bytes = hello.encode();
    let (at, mask) = (usize::from(input.u8()), input.u8());
    let len = bytes.len();
    bytes[at % len] ^= mask;
    bytes
}

pub(super) fn drive(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let local = flags & 1 == 1;
    let plan_len = usize::from(input.u8() % 16);
    let plan = input.bytes_up_to(plan_len);
    let fake = fake().lock().unwrap_or_else(|e| e.into_inner());
    let mut reply = if flags & 2 != 0 {
        crafted(&mut input, &fake.sentinel_path)
    } else {
        input.bytes_up_to(MAX_REPLY).to_vec()
    };
    if flags & 4 != 0 {
        // An upgrade naming the sentinel, whatever came before.
        let mut hello = ServerHello::bare(Status::Upgrade);
        hello.pid = std::process::id();
        hello.path = {
            use std::os::unix::ffi::OsStrExt;
            fake.sentinel_path.as_os_str().as_bytes().to_vec()
        };
        reply = hello.encode();
    }
    let config = ConnConfig::new()
        .rendezvous_dir(&fake.dir)
        .connect_timeout(GUARD)
        .handshake_timeout(GUARD);
    let address = if local {
        fake.local_name.clone()
    } else {
        let addr = fake.tcp.local_addr().expect("address");
        if flags & 8 != 0 {
            addr.to_string()
        } else {
            format!("tcp://{addr}")
        }
    };
    let result = std::thread::scope(|scope| {
        let client = scope.spawn(|| crate::connect(address.as_str(), &config));
        serve(&fake, local, &reply, plan);
        client.join().expect("connect panicked")
    });
    check(result, local, &reply);
    assert!(
        fake.sentinel.accept().is_err(),
        "the client connected where the reply pointed"
    );
}

/// The fake listener: takes the one client, checks its hello, answers.
fn serve(fake: &Fake, local: bool, reply: &[u8], plan: &[u8]) {
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        let accepted = if local {
            fake.local
                .accept()
                .map(|(s, _)| Box::new(s) as Box<dyn Peer>)
        } else {
            fake.tcp.accept().map(|(s, _)| {
                s.set_nodelay(true).expect("TCP_NODELAY");
                Box::new(s) as Box<dyn Peer>
            })
        };
        match accepted {
            Ok(mut peer) => {
                peer.set_blocking(GUARD);
                let mut hello = [0u8; CLIENT_HELLO_LEN];
                peer.read_exact(&mut hello).expect("the client's hello");
                let hello = ClientHello::decode(&hello).expect("a valid client hello");
                let via = if local { wire::VIA_UNIX } else { wire::VIA_TCP };
                assert_eq!(hello.via, via);
                if !local {
                    assert_eq!(hello.boot_id, [0; 16], "a TCP peer was told the boot id");
                }
                write_in_chunks(peer.fd(), reply, plan, std::thread::yield_now);
                return;
            }
            Err(_) if std::time::Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => panic!("the client never connected: {e}"),
        }
    }
}

/// What the fake listener's accepted socket must do.
trait Peer: Read {
    fn set_blocking(&self, guard: Duration);
    fn fd(&self) -> std::os::fd::BorrowedFd<'_>;
}

impl Peer for std::os::unix::net::UnixStream {
    fn set_blocking(&self, guard: Duration) {
        self.set_nonblocking(false).expect("blocking");
        self.set_read_timeout(Some(guard)).expect("timeout");
    }
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

impl Peer for std::net::TcpStream {
    fn set_blocking(&self, guard: Duration) {
        self.set_nonblocking(false).expect("blocking");
        self.set_read_timeout(Some(guard)).expect("timeout");
    }
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self)
    }
}

/// A connection only over TCP and for an accepting reply (so an offer to
/// switch is always refused); no wait ran into the guard (the fake listener closed).
fn check(result: Result<crate::Connection, ConnectError>, local: bool, reply: &[u8]) {
    let parsed = ServerHello::decode(reply).ok();
    let status = parsed.as_ref().map(|h| h.status);
    match result {
        Ok(conn) => {
            assert!(!local, "connected locally without any ring sent");
            assert_eq!(status, Some(Status::Accepted), "connected on {reply:?}");
            assert_eq!(conn.transport().kind(), TransportKind::Tcp);
        }
        Err(e) => {
            assert!(
                !matches!(
                    e,
                    ConnectError::Handshake(HandshakeError::Timeout(_))
                        | ConnectError::NotFound { .. }
                        | ConnectError::ListenerBusy { .. }
                ),
                "connect waited on a listener that had closed: {e}"
            );
        }
    }
}
