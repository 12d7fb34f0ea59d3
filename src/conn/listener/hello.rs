//! What every TCP client's hello gets checked against and answered with,
//! plaintext or TLS.

use crate::conn::config::ConnConfig;
use crate::conn::error::HandshakeError;
use crate::conn::wire::{ClientHello, ServerHello, Status, CLIENT_HELLO_LEN};

/// Decodes a client's hello and checks it came the way it says (`via`).
pub(super) fn check_hello(
    bytes: &[u8; CLIENT_HELLO_LEN],
    via: u8,
) -> Result<ClientHello, HandshakeError> {
    ClientHello::decode(bytes).and_then(|hello| {
        if hello.via == via {
            Ok(hello)
        } else {
            Err(HandshakeError::BadField {
                field: "via",
                value: u64::from(hello.via),
                why: "does not match the socket it arrived on",
            })
        }
    })
}

/// The listener's answer to a TCP client's hello (plaintext or TLS): the
/// largest message both allow; nothing about this host.
pub(super) fn tcp_reply(hello: &ClientHello, config: &ConnConfig) -> ServerHello {
    let max = (hello.max_message as usize).min(config.max_message);
    ServerHello {
        status: Status::Accepted,
        wakeup: None,
        pid: std::process::id(),
        max_message: max as u64,
        capacity: 0,
        spin_budget_ns: 0,
        liveness_ns: config.liveness_interval.as_nanos() as u64,
        boot_id: [0; 16],
        detail: 0,
        path: Vec::new(),
    }
}
