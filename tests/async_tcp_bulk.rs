//! Async TCP peers that both write more than the socket buffers hold before
//! either reads: on one current-thread runtime, a send that waited for its
//! peer on the runtime's thread would stall both for good. Each side writes
//! 32 MiB in 4 MiB messages (larger than a loopback socket's buffers take at
//! once; one side with message sends, the other with byte-stream writes)
//! from a task started before its reading task; both must finish and every
//! byte must arrive intact. A send dropped with its frame in flight is
//! finished before the next. Bounds are hang guards, never performance
//! figures.
#![cfg(feature = "tokio")]

mod common;

use common::{unique_listener_name, HANG_GUARD};
use mempipe::asyncio::{connect, AsyncConnection, AsyncListener, AsyncRecvHalf, AsyncSendHalf};
use mempipe::conn::TransportKind;
use mempipe::ConnConfig;
use std::future::Future;
use std::sync::mpsc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOTAL: usize = 32 << 20;
const MESSAGE: usize = 4 << 20;

/// The bytes side `seed` writes: a pattern that differs by offset and side.
fn pattern(seed: u8) -> Vec<u8> {
    (0..TOTAL)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// Writes `data` as `MESSAGE`-byte messages with `send().await`.
async fn send_messages(mut tx: AsyncSendHalf, data: Vec<u8>) -> AsyncSendHalf {
    for chunk in data.chunks(MESSAGE) {
        tx.send(chunk).await.expect("send a message");
    }
    tx
}

/// Writes `data` through the byte-stream view, then flushes.
async fn write_bytes(mut tx: AsyncSendHalf, data: Vec<u8>) -> AsyncSendHalf {
    tx.write_all(&data).await.expect("write the bytes");
    tx.flush().await.expect("flush");
    tx
}

/// Reads `TOTAL` bytes and checks them against what side `seed` wrote.
async fn read_and_check(mut rx: AsyncRecvHalf, seed: u8) -> AsyncRecvHalf {
    let mut got = vec![0u8; TOTAL];
    rx.read_exact(&mut got).await.expect("read everything");
    let want = pattern(seed);
    if let Some(at) = (0..TOTAL).find(|&i| got[i] != want[i]) {
        panic!("side {seed}'s bytes differ first at offset {at}");
    }
    rx
}

/// Runs `body` on a connected (server, client) pair of async TCP connections,
/// on a current-thread runtime of its own thread, so a stalled send (which
/// holds the thread, not a future) fails the guard instead of hanging the
/// test; `outcome` names what the guard waits for.
fn on_tcp_pair<F, Fut>(tag: &str, outcome: &str, body: F)
where
    F: FnOnce(AsyncConnection, AsyncConnection) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let name = unique_listener_name(tag);
    let config = ConnConfig::new()
        .max_message(MESSAGE)
        .connect_timeout(HANG_GUARD)
        .plaintext_tcp("127.0.0.1:0");
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            let mut listener = AsyncListener::bind(&name, &config).expect("bind");
            let addr = listener.get_ref().tcp_addr().expect("a TCP address");
            let client = connect(format!("tcp://{addr}").as_str(), &config);
            let (server, client) = tokio::join!(listener.accept(), client);
            let (server, client) = (server.expect("accept"), client.expect("connect"));
            assert_eq!(server.transport().kind(), TransportKind::Tcp);
            body(server, client).await;
        });
        let _ = done_tx.send(());
    });
    done_rx.recv_timeout(HANG_GUARD * 3).expect(outcome);
}

#[test]
fn both_tcp_peers_write_megabytes_before_reading() {
    on_tcp_pair(
        "tcpbulk",
        "both peers finished writing and reading 32 MiB each way",
        |server, client| async move {
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
/// of its 4 MiB frame) left a message that is finished before the next one:
/// the peer receives both, whole and in order.
#[test]
fn a_dropped_send_is_finished_before_the_next() {
    on_tcp_pair(
        "tcpdrop",
        "both messages arrived",
        |mut server, mut client| async move {
            let big = pattern(3)[..MESSAGE].to_vec();
            // One poll, then the future is dropped (whether or not it finished).
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
        },
    );
}
