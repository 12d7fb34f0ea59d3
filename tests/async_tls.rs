//! Async mutual TLS on real loopback sockets: handshakes awaited on tokio
//! (`mempipe::asyncio::tls`), then `AsyncConnection`s over the sessions.
//! Sequence-numbered, checksummed round trips; both peers writing 32 MiB
//! before either reads (on one current-thread runtime, a send that waited for
//! its peer on the runtime's thread would stall both); a dropped send
//! finished before the next; refusals as typed errors on the refusing side.
//! Bounds are hang guards, never performance figures.

mod common;

use common::certs::{Ca, Validity};
use common::{check_message, fill_message, Lengths, HANG_GUARD};
use mempipe::asyncio::{tls, AsyncConnection, AsyncRecvHalf, AsyncSendHalf};
use mempipe::conn::tls::{TlsConfig, TlsError, TlsStream};
use mempipe::conn::TransportKind;
use mempipe::Connection;
use std::future::Future;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Handshake deadline on both sides.
const HANDSHAKE: Duration = Duration::from_secs(5);
const TOTAL: usize = 32 << 20;
const MESSAGE: usize = 4 << 20;

/// Configurations by node: `node-a` (listener) and `node-b` (client) from the
/// cluster CA; `stranger` from another CA; `expired`.
struct Configs {
    a: TlsConfig,
    b: TlsConfig,
    stranger: TlsConfig,
    expired: TlsConfig,
}

fn configs() -> &'static Configs {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let ca = Ca::new("test cluster CA");
        let other = Ca::new("some other CA");
        let make = |ca: &Ca, name: &str, validity| {
            let node = ca.node(name, validity);
            let pem = ca.pem();
            TlsConfig::from_pem(pem.as_bytes(), node.cert.as_bytes(), node.key.as_bytes())
                .expect("a TLS configuration")
        };
        // The stranger trusts the cluster CA but shows a certificate from another.
        let stranger = {
            let node = other.node("node-b", Validity::Current);
            TlsConfig::from_pem(
                ca.pem().as_bytes(),
                node.cert.as_bytes(),
                node.key.as_bytes(),
            )
            .expect("the stranger's configuration")
        };
        Configs {
            a: make(&ca, "node-a", Validity::Current),
            b: make(&ca, "node-b", Validity::Current),
            stranger,
            expired: make(&ca, "node-b", Validity::Expired),
        }
    })
}

/// Runs `body` on a current-thread runtime of its own thread, so a stalled
/// send (which holds the thread, not a future) fails the guard instead of
/// hanging the test; `outcome` names what the guard waits for.
fn on_runtime<F, Fut>(outcome: &str, body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(body());
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(HANG_GUARD * 3).expect(outcome);
}

/// A listener on loopback and a client socket connected to it.
async fn sockets() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("its address");
    let (server, client) = tokio::join!(listener.accept(), TcpStream::connect(addr));
    (server.expect("accept").0, client.expect("connect"))
}

/// Both handshakes on a fresh socket pair: `node-a` accepts, the client
/// shows `client` and expects `name`.
async fn handshakes(
    client: &TlsConfig,
    name: &str,
) -> (Result<TlsStream, TlsError>, Result<TlsStream, TlsError>) {
    let (server_tcp, client_tcp) = sockets().await;
    tokio::join!(
        tls::accept(server_tcp, &configs().a, HANDSHAKE),
        tls::connect(client_tcp, name, client, HANDSHAKE)
    )
}

/// A verified (server, client) pair of async connections.
async fn pair(max_message: usize) -> (AsyncConnection, AsyncConnection) {
    let (server, client) = handshakes(&configs().b, "node-a").await;
    let (server, client) = (server.expect("accept"), client.expect("connect"));
    assert_eq!(server.peer().names, ["node-b"]);
    assert_eq!(client.peer().names, ["node-a"]);
    let server = AsyncConnection::new(Connection::over_tls(server, max_message)).expect("async");
    let client = AsyncConnection::new(Connection::over_tls(client, max_message)).expect("async");
    assert_eq!(server.transport().kind(), TransportKind::Tcp);
    (server, client)
}

#[test]
fn sequenced_round_trips_over_async_tls() {
    on_runtime("every echo arrived", || async {
        let max = 256 << 10;
        let (mut server, mut client) = pair(max).await;
        let echo = tokio::spawn(async move {
            let mut buf = Vec::new();
            while server.recv(&mut buf).await.is_ok() {
                server.send(&buf).await.expect("echo");
            }
        });
        let mut lengths = Lengths::new(7, max);
        let (mut msg, mut back) = (Vec::new(), Vec::new());
        for seq in 0..2_000u64 {
            // Small messages mostly, large ones now and then.
            let len = match seq % 16 {
                0 => lengths.next_len(),
                _ => lengths.next_len() % 512,
            };
            fill_message(seq, len, &mut msg);
            client.send(&msg).await.expect("send");
            client.recv(&mut back).await.expect("the echo");
            check_message(seq, len, &back).unwrap_or_else(|e| panic!("{e}"));
        }
        drop(client);
        echo.await.expect("the echo task");
    });
}

/// The bytes side `seed` writes: a pattern that differs by offset and side.
fn pattern(seed: u8) -> Vec<u8> {
    (0..TOTAL)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

async fn send_messages(mut tx: AsyncSendHalf, data: Vec<u8>) -> AsyncSendHalf {
    for chunk in data.chunks(MESSAGE) {
        tx.send(chunk).await.expect("send a message");
    }
    tx
}

async fn write_bytes(mut tx: AsyncSendHalf, data: Vec<u8>) -> AsyncSendHalf {
    tx.write_all(&data).await.expect("write the bytes");
    tx.flush().await.expect("flush");
    tx
}

async fn read_and_check(mut rx: AsyncRecvHalf, seed: u8) -> AsyncRecvHalf {
    let mut got = vec![0u8; TOTAL];
    rx.read_exact(&mut got).await.expect("read everything");
    let want = pattern(seed);
    if let Some(at) = (0..TOTAL).find(|&i| got[i] != want[i]) {
        panic!("side {seed}'s bytes differ first at offset {at}");
    }
    rx
}

#[test]
fn both_tls_peers_write_megabytes_before_reading() {
    on_runtime(
        "both peers finished writing and reading 32 MiB each way",
        || async {
            let (server, client) = pair(MESSAGE).await;
            let (server_tx, server_rx) = server.split();
            let (client_tx, client_rx) = client.split();
            // Writers first: each fills its socket before any read starts.
            let writers = [
                tokio::spawn(send_messages(server_tx, pattern(1))),
                tokio::spawn(write_bytes(client_tx, pattern(2))),
            ];
            let readers = [
                tokio::spawn(read_and_check(client_rx, 1)),
                tokio::spawn(read_and_check(server_rx, 2)),
            ];
            for task in readers {
                drop(task.await.expect("reading task"));
            }
            for task in writers {
                drop(task.await.expect("writing task"));
            }
        },
    );
}

/// A `send` future dropped after its first poll (the socket took only part
/// of its 4 MiB frame's records) left a message that is finished before the
/// next one: the peer receives both, whole and in order.
#[test]
fn a_dropped_tls_send_is_finished_before_the_next() {
    on_runtime("both messages arrived", || async {
        let (mut server, mut client) = pair(MESSAGE).await;
        let big = pattern(3)[..MESSAGE].to_vec();
        let _ = futures_util::FutureExt::now_or_never(client.send(&big));
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            server.recv(&mut buf).await.expect("the first message");
            assert!(buf == big, "the first message arrived whole");
            server.recv(&mut buf).await.expect("the second message");
            assert_eq!(buf, b"next", "the second message arrived after it");
        });
        client.send(b"next").await.expect("the next send");
        reader.await.expect("reading task");
    });
}

#[test]
fn refusals_are_typed_on_the_refusing_side() {
    on_runtime("every refusal was reported", || async {
        let c = configs();
        // A client certificate from another CA: the listener refuses it; the
        // client learns it on its first receive.
        let (server, client) = handshakes(&c.stranger, "node-a").await;
        assert!(matches!(server, Err(TlsError::UnknownCa)), "{server:?}");
        if let Ok(stream) = client {
            let mut conn = AsyncConnection::new(Connection::over_tls(stream, 1024)).expect("async");
            let mut buf = Vec::new();
            assert!(
                conn.recv(&mut buf).await.is_err(),
                "a refused client reads an error"
            );
        }
        // An expired client certificate.
        let (server, _) = handshakes(&c.expired, "node-a").await;
        assert!(matches!(server, Err(TlsError::Expired)), "{server:?}");
        // The listener is not the name the client asked for.
        let (_, client) = handshakes(&c.b, "node-x").await;
        assert!(
            matches!(&client, Err(TlsError::WrongName { expected }) if expected == "node-x"),
            "{client:?}"
        );
        // A plaintext peer.
        let (server_tcp, mut client_tcp) = sockets().await;
        let (server, _) = tokio::join!(tls::accept(server_tcp, &c.a, HANDSHAKE), async {
            let _ = client_tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
            let mut sink = Vec::new();
            let _ = client_tcp.read_to_end(&mut sink).await;
        });
        assert!(matches!(server, Err(TlsError::NotTls { .. })), "{server:?}");
        // A silent peer is given up on at the deadline.
        let (server_tcp, _silent) = sockets().await;
        let server = tls::accept(server_tcp, &c.a, Duration::from_millis(200)).await;
        assert!(
            matches!(server, Err(TlsError::Stalled { .. })),
            "{server:?}"
        );
        // A handshake waiting on a silent peer holds no thread: on this one
        // thread another pair connects and talks meanwhile, then the silent
        // peer hangs up, which the waiting handshake reports.
        let (server_tcp, silent) = sockets().await;
        let (server, ()) = tokio::join!(tls::accept(server_tcp, &c.a, HANG_GUARD), async move {
            let (mut server, mut client) = pair(1024).await;
            client.send(b"meanwhile").await.expect("send");
            let mut buf = Vec::new();
            server.recv(&mut buf).await.expect("recv");
            assert_eq!(buf, b"meanwhile");
            drop(silent);
        });
        assert!(matches!(server, Err(TlsError::Closed)), "{server:?}");
    });
}
