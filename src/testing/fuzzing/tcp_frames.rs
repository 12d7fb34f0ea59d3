//! Fuzz target `tcp_frames`: [`tcp_frames`] says what it feeds the library and checks.

use super::*;

/// Fuzz target `tcp_frames`: the first two bytes set the connection's maximum
/// message (1..=65536), the third whether the peer closes after sending; the
/// rest is what the peer writes on a real loopback TCP connection. The
/// receiving half must deliver messages within the maximum, in order, each
/// exactly the bytes its frame held, and end with a typed error.
pub fn tcp_frames(data: &[u8]) {
    use std::io::Write;
    let Some((max, close, stream)) = frames_input(data) else {
        return;
    };
    let (ours, mut peer) = loopback_pair();
    peer.write_all(stream).expect("write the input");
    if close {
        peer.shutdown(std::net::Shutdown::Write).expect("shutdown");
    }
    check_delivery(ours, stream, max, close);
}

/// A connected loopback pair (ours, the peer's). One listener for the
/// process, and connections closed with a reset (no TIME_WAIT): a campaign
/// opens millions, more than there are ports.
pub(super) fn loopback_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    use std::net::{TcpListener, TcpStream};
    static LISTENER: std::sync::OnceLock<TcpListener> = std::sync::OnceLock::new();
    let listener =
        LISTENER.get_or_init(|| TcpListener::bind("127.0.0.1:0").expect("loopback listener"));
    let peer = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let (ours, _) = listener.accept().expect("accept");
    rustix::net::sockopt::set_socket_linger(&ours, Some(Duration::ZERO)).expect("SO_LINGER");
    rustix::net::sockopt::set_socket_linger(&peer, Some(Duration::ZERO)).expect("SO_LINGER");
    (ours, peer)
}

/// The maximum message, whether the peer closes, and the bytes it writes,
/// from a `tcp_frames` / `tls_frames` input.
pub(super) fn frames_input(data: &[u8]) -> Option<(usize, bool, &[u8])> {
    if data.len() < 3 {
        return None;
    }
    let max = usize::from(u16::from_le_bytes([data[0], data[1]])) + 1;
    Some((
        max,
        data[2] & 1 == 1,
        &data[3..data.len().min(3 + (64 << 10))],
    ))
}

/// Receives what the peer wrote (`stream`, closed after it when `close`) on
/// `ours` and checks the receiving half delivered exactly its whole frames up
/// to the first bad one, then a typed error or nothing more.
pub(super) fn check_delivery(
    ours: impl Into<crate::conn::stream::ByteStream>,
    stream: &[u8],
    max: usize,
    close: bool,
) {
    use crate::conn::tcp::{TcpReceiver, TcpShared};
    use crate::conn::wire::{decode_frame, Frame, FRAME_HEADER};
    use crate::deadline::Deadline;
    // What a correct receiver must deliver: the frames up to the first bad one.
    let mut expected = Vec::new();
    let mut at = 0;
    while let Some(header) = stream.get(at..at + FRAME_HEADER) {
        let header: [u8; FRAME_HEADER] = header.try_into().expect("8 bytes");
        match decode_frame(&header, max) {
            Ok(Frame::Data(len)) if at + FRAME_HEADER + len <= stream.len() => {
                expected.push(&stream[at + FRAME_HEADER..at + FRAME_HEADER + len]);
                at += FRAME_HEADER + len;
            }
            _ => break,
        }
    }
    let shared = TcpShared::open(ours, 0, max);
    let mut rx = TcpReceiver::new(shared);
    let mut buf = Vec::new();
    let mut got = 0;
    loop {
        // Wait while something is owed (whole frames, or the end of a closed
        // stream); then a non-blocking look must find nothing more.
        let wait = if close || got < expected.len() {
            Deadline::Within(Duration::from_secs(5))
        } else {
            Deadline::NonBlocking
        };
        match rx.recv(&mut buf, wait) {
            Ok(len) => {
                assert!(len <= max && len == buf.len());
                assert_eq!(Some(&buf.as_slice()), expected.get(got), "message {got}");
                got += 1;
            }
            Err(RecvError::Empty) => break,
            Err(RecvError::Timeout) => panic!("a whole frame or the end was never delivered"),
            Err(RecvError::Disconnected | RecvError::PeerDied { .. } | RecvError::Corrupted(_)) => {
                break
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(
        got,
        expected.len(),
        "every whole frame before the end is delivered"
    );
}
