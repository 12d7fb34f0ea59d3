//! The blocking byte-stream view (`Read`, `BufRead`, `Write`) of connections,
//! on every wakeup and on TCP: random interleavings of write and read sizes
//! (plain and vectored writes, plain and buffered reads) deliver the same
//! bytes in order, and the peer's shutdown reads as the end, every time
//! after. Also across processes, and the error kinds a dead peer maps to.
//! Every bound is a hang guard, never a performance figure.

mod common;

use common::streams::{config, stream_case};
use common::{spawn_child, unique_listener_name, HANG_GUARD, READY};
use mempipe::{connect, Connection, Listener, RecvError, WakeupKind};
use proptest::prelude::*;
use std::io::{BufRead, ErrorKind, IoSlice, Read, Write};

/// A listener on a fresh name over shared memory with `wakeup`, or over
/// loopback TCP for `None`, and the address its clients connect to.
fn bind(tag: &str, wakeup: Option<WakeupKind>) -> (Listener, String) {
    let name = unique_listener_name(tag);
    let listener = Listener::bind(&name, &common::streams::listen_config(wakeup)).expect("bind");
    let address = common::streams::address(name, listener.tcp_addr(), wakeup);
    (listener, address)
}

/// A connected pair in this process: (client, server).
fn pair(wakeup: Option<WakeupKind>) -> (Connection, Connection) {
    let (listener, address) = bind("bytes", wakeup);
    let client = std::thread::spawn(move || connect(address.as_str(), &config()).expect("connect"));
    let server = listener.accept().expect("accept");
    (client.join().expect("connect thread"), server)
}

/// Writes `data` in pieces of the given sizes (cycled), every third piece as
/// two vectored slices, following partial writes.
pub fn write_in_pieces(w: &mut impl Write, data: &[u8], sizes: &[usize]) {
    let mut pos = 0;
    for (i, size) in sizes.iter().cycle().enumerate() {
        if pos == data.len() {
            break;
        }
        let piece = &data[pos..(pos + size).min(data.len())];
        pos += if i % 3 == 2 {
            let (a, b) = piece.split_at(piece.len() / 2);
            w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
        } else {
            w.write(piece)
        }
        .expect("write");
    }
    w.flush().expect("flush");
}

/// Reads to the end with buffers of the given sizes (cycled), every other
/// read through `fill_buf`/`consume`; then checks the end stays the end.
pub fn read_in_pieces(r: &mut impl BufRead, sizes: &[usize]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; sizes.iter().copied().max().unwrap_or(1)];
    for (i, &size) in sizes.iter().cycle().enumerate() {
        let n = if i % 2 == 1 {
            let lent = r.fill_buf().expect("fill_buf");
            let n = lent.len().min(size);
            got.extend_from_slice(&lent[..n]);
            r.consume(n);
            n
        } else {
            let n = r.read(&mut buf[..size]).expect("read");
            got.extend_from_slice(&buf[..n]);
            n
        };
        if n == 0 {
            break;
        }
    }
    assert_eq!(r.read(&mut buf).expect("read after the end"), 0);
    assert!(r.fill_buf().expect("fill_buf after the end").is_empty());
    got
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_delivers_the_bytes_in_order(
        (wakeup, data, writes, reads) in stream_case(),
    ) {
        let _serial = common::serial();
        let (client, mut server) = pair(wakeup);
        let (tx, _rx) = client.split();
        let sent = data.clone();
        let writer = std::thread::spawn(move || {
            let mut tx = tx;
            write_in_pieces(&mut tx, &sent, &writes);
            // Dropping the sending half is the shutdown the reader sees as the end.
        });
        let got = read_in_pieces(&mut server, &reads);
        writer.join().expect("writer");
        prop_assert_eq!(got, data);
    }
}

/// A message longer than the reader's buffer is read on, not lost; a read
/// in the middle of one then a whole-message receive takes the rest whole.
#[test]
fn a_long_message_is_read_in_parts() {
    let (mut client, mut server) = pair(Some(WakeupKind::Hybrid));
    client.send(&[7u8; 1000]).expect("send");
    client.send(b"next").expect("send");
    let mut buf = [0u8; 300];
    let mut total = 0;
    while total < 1000 {
        let n = server.read(&mut buf).expect("read");
        assert!(n > 0 && buf[..n].iter().all(|&b| b == 7));
        total += n;
    }
    assert_eq!(total, 1000, "a read never crosses into the next message");
    assert_eq!(server.read(&mut buf).expect("read"), 4);
    assert_eq!(&buf[..4], b"next");
}

/// The error kinds a peer that died without closing maps to, with the typed
/// error inside.
fn dead_peer_error_kinds(wakeup: Option<WakeupKind>) {
    let _serial = common::serial();
    let (listener, address) = bind("bytes-dead", wakeup);
    let mut child = spawn_child("child_entry", "die", None, &address);
    let mut conn = listener.accept().expect("accept");
    child.wait_for_line(READY, HANG_GUARD);
    child.kill();
    let mut buf = [0u8; 64];
    let err = conn.read(&mut buf).expect_err("read from a dead peer");
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    let typed = err.get_ref().and_then(|e| e.downcast_ref::<RecvError>());
    assert!(matches!(typed, Some(RecvError::PeerDied { .. })), "{err:?}");
    let err = loop {
        // A write may land in buffers before the death is noticed.
        match conn.write_all(&[1u8; 512]) {
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
}

#[test]
fn dead_peer_error_kinds_shared_memory() {
    dead_peer_error_kinds(Some(WakeupKind::Hybrid));
}

#[test]
fn dead_peer_error_kinds_tcp() {
    dead_peer_error_kinds(None);
}

/// Writes a seeded stream in random pieces from another process; this one
/// reads it in random pieces.
fn across_processes(tcp: bool) {
    let _serial = common::serial();
    let wakeup = (!tcp).then_some(WakeupKind::Hybrid);
    let (listener, address) = bind("bytes-xp", wakeup);
    let mut child = spawn_child("child_entry", "writer", None, &address);
    let mut conn = listener.accept().expect("accept");
    let got = read_in_pieces(&mut conn, &[1, 4096, 17, 1000, 3]);
    assert_eq!(got, seeded_stream());
    child.assert_success(HANG_GUARD);
}

#[test]
fn across_processes_shared_memory() {
    across_processes(false);
}

#[test]
fn across_processes_tcp() {
    across_processes(true);
}

fn seeded_stream() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let address = ctx.arg.clone();
    let mut conn = connect(address.as_str(), &config()).expect("child connect");
    match ctx.role.as_str() {
        "writer" => write_in_pieces(&mut conn, &seeded_stream(), &[5000, 1, 333, 64, 2048]),
        "die" => {
            common::signal_ready();
            common::park_forever();
        }
        other => panic!("unknown role {other}"),
    }
}
