//! What the byte-stream and message-stream tests share: small rings and
//! messages, and every transport a connection runs on.

use mempipe::{ConnConfig, WakeupKind};
use proptest::prelude::*;

/// Small rings and messages, so streams wrap, fill and split messages often.
pub fn config() -> ConnConfig {
    ConnConfig::new()
        .connect_timeout(super::HANG_GUARD)
        .max_message(1024)
        .ring_capacity(8192)
}

/// Every transport: shared memory with each wakeup, and TCP (`None`).
pub const TRANSPORTS: [Option<WakeupKind>; 5] = [
    Some(WakeupKind::Spin),
    Some(WakeupKind::Futex),
    Some(WakeupKind::EventFd),
    Some(WakeupKind::Hybrid),
    None,
];

/// A property-test case: a transport, the bytes to send, and the sizes of
/// the writes and of the reads (each cycled until the bytes run out).
pub fn stream_case() -> impl Strategy<Value = (Option<WakeupKind>, Vec<u8>, Vec<usize>, Vec<usize>)>
{
    (
        proptest::sample::select(TRANSPORTS.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40_000),
        proptest::collection::vec(1usize..3000, 1..8),
        proptest::collection::vec(1usize..3000, 1..8),
    )
}

/// The listener configuration for `wakeup` (loopback TCP for `None`).
pub fn listen_config(wakeup: Option<WakeupKind>) -> ConnConfig {
    match wakeup {
        Some(kind) => config().wakeup(kind),
        None => config().plaintext_tcp("127.0.0.1:0"),
    }
}

/// The address clients of a listener bound as `name` with
/// [`listen_config`]`(wakeup)` connect to.
pub fn address(
    name: String,
    tcp_addr: Option<std::net::SocketAddr>,
    wakeup: Option<WakeupKind>,
) -> String {
    match tcp_addr {
        Some(addr) if wakeup.is_none() => format!("tcp://{addr}"),
        _ => name,
    }
}
