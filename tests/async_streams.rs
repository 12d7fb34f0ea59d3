//! The async byte-stream view (tokio `AsyncRead`/`AsyncWrite`) and the
//! message streams (futures `Stream`/`Sink`, `AsyncListener::incoming`), on
//! every wakeup and on TCP: random interleavings of write and read sizes,
//! reads cancelled by timers between polls, deliver the same bytes in order;
//! `poll_shutdown` is the end for the peer; a `Sink` of messages arrives
//! whole through a `Stream`; clients arrive through `incoming()`. Every
//! bound is a hang guard, never a performance figure.
#![cfg(feature = "tokio")]

mod common;

use common::streams::{config, stream_case, TRANSPORTS};
use common::{spawn_child, unique_listener_name, HANG_GUARD};
use futures_util::{SinkExt, StreamExt};
use mempipe::asyncio::{AsyncConnection, AsyncListener};
use mempipe::{connect, WakeupKind};
use proptest::prelude::*;
use std::io::{IoSlice, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A listener over shared memory with `wakeup`, or loopback TCP for `None`,
/// and the address its clients connect to.
fn listener(tag: &str, wakeup: Option<WakeupKind>) -> (AsyncListener, String) {
    let name = unique_listener_name(tag);
    let listener =
        AsyncListener::bind(&name, &common::streams::listen_config(wakeup)).expect("bind");
    let address = common::streams::address(name, listener.get_ref().tcp_addr(), wakeup);
    (listener, address)
}

/// A connected pair in this runtime: (client, server).
async fn pair(wakeup: Option<WakeupKind>) -> (AsyncConnection, AsyncConnection) {
    let (mut listener, address) = listener("astream", wakeup);
    let client = tokio::spawn(async move {
        mempipe::asyncio::connect(address, &config())
            .await
            .expect("connect")
    });
    let server = listener.accept().await.expect("accept");
    (client.await.expect("connect task"), server)
}

/// Writes `data` in pieces of the given sizes (cycled), every third piece as
/// two vectored slices, following partial writes; then shuts down.
async fn write_in_pieces(w: &mut AsyncConnection, data: &[u8], sizes: &[usize]) {
    let mut pos = 0;
    for (i, size) in sizes.iter().cycle().enumerate() {
        if pos == data.len() {
            break;
        }
        let piece = &data[pos..(pos + size).min(data.len())];
        pos += if i % 3 == 2 {
            let (a, b) = piece.split_at(piece.len() / 2);
            w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]).await
        } else {
            w.write(piece).await
        }
        .expect("write");
    }
    AsyncWriteExt::flush(w).await.expect("flush");
    w.shutdown().await.expect("shutdown");
}

/// Reads to the end with buffers of the given sizes (cycled). Every other
/// read races a timer that may cancel it between polls; a cancelled read
/// took nothing. Then checks the end stays the end.
async fn read_in_pieces(r: &mut AsyncConnection, sizes: &[usize]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; sizes.iter().copied().max().unwrap_or(1)];
    for (i, &size) in sizes.iter().cycle().enumerate() {
        let n = if i % 2 == 1 {
            match tokio::time::timeout(Duration::from_micros(20), r.read(&mut buf[..size])).await {
                Ok(read) => read.expect("read"),
                Err(_elapsed) => continue,
            }
        } else {
            r.read(&mut buf[..size]).await.expect("read")
        };
        got.extend_from_slice(&buf[..n]);
        if n == 0 {
            break;
        }
    }
    assert_eq!(r.read(&mut buf).await.expect("read after the end"), 0);
    got
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_delivers_the_bytes_in_order(
        (wakeup, data, writes, reads) in stream_case(),
    ) {
        let _serial = common::serial();
        let got = runtime().block_on(async {
            let (mut client, mut server) = pair(wakeup).await;
            let sent = data.clone();
            let writer = tokio::spawn(async move {
                write_in_pieces(&mut client, &sent, &writes).await;
                client
            });
            let got = tokio::time::timeout(HANG_GUARD, read_in_pieces(&mut server, &reads))
                .await
                .expect("read within the hang guard");
            drop(writer.await.expect("writer"));
            got
        });
        prop_assert_eq!(got, data);
    }
}

/// Messages sent through a `Sink` arrive whole, in order, through a
/// `Stream`, which ends after the sender closes.
fn sink_to_stream(wakeup: Option<WakeupKind>) {
    let _serial = common::serial();
    runtime().block_on(async {
        let (mut client, mut server) = pair(wakeup).await;
        let messages: Vec<bytes::Bytes> = (0..2000u32)
            .map(|i| bytes::Bytes::from(vec![i as u8; (i as usize * 7) % 1000 + 1]))
            .collect();
        let sent = messages.clone();
        let writer = tokio::spawn(async move {
            for msg in sent {
                client.feed(msg).await.expect("feed");
            }
            SinkExt::<bytes::Bytes>::close(&mut client)
                .await
                .expect("close");
            client
        });
        let got: Vec<_> = tokio::time::timeout(HANG_GUARD, (&mut server).collect::<Vec<_>>())
            .await
            .expect("the stream ends within the hang guard");
        let got: Vec<bytes::Bytes> = got.into_iter().map(|m| m.expect("message")).collect();
        assert_eq!(got, messages);
        drop(writer.await.expect("writer"));
    });
}

#[test]
fn sink_to_stream_every_transport() {
    for wakeup in TRANSPORTS {
        sink_to_stream(wakeup);
    }
}

/// Clients in other processes arrive through `incoming()`; each reads as a
/// byte stream what the client wrote with the blocking `Write`.
fn incoming_from_processes(wakeup: Option<WakeupKind>) {
    let _serial = common::serial();
    runtime().block_on(async {
        let (listener, address) = listener("incoming", wakeup);
        let mut children: Vec<_> = (0..3)
            .map(|_| spawn_child("child_entry", "writer", None, &address))
            .collect();
        let mut incoming = listener.incoming();
        for _ in 0..3 {
            let next = tokio::time::timeout(HANG_GUARD, incoming.next()).await;
            let mut conn = next
                .expect("a client within the hang guard")
                .expect("the stream never ends")
                .expect("accept");
            let got = read_in_pieces(&mut conn, &[1, 700, 4096, 13]).await;
            assert_eq!(got, seeded_stream());
        }
        for child in &mut children {
            child.assert_success(HANG_GUARD);
        }
    });
}

#[test]
fn incoming_from_processes_shared_memory() {
    incoming_from_processes(Some(WakeupKind::Hybrid));
}

#[test]
fn incoming_from_processes_tcp() {
    incoming_from_processes(None);
}

fn seeded_stream() -> Vec<u8> {
    (0..100_000u32).map(|i| (i * 13 + i / 97) as u8).collect()
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let mut conn = connect(ctx.arg.as_str(), &config()).expect("child connect");
    match ctx.role.as_str() {
        "writer" => {
            let data = seeded_stream();
            for chunk in data.chunks(2500) {
                conn.write_all(chunk).expect("write");
            }
        }
        other => panic!("unknown role {other}"),
    }
}
