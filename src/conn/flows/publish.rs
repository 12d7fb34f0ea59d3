//! Describing listeners and connections in this process's stats file.

use super::registry::{Describe, FlowSlot, PeerInfo};
use crate::config::WakeupKind;
use crate::conn::transport::{Transport, TransportKind};
use crate::counters::{
    KIND_CONNECTION, KIND_LISTENER, ROLE_CLIENT, ROLE_SERVER, TRANSPORT_SHM, TRANSPORT_TCP,
    TRANSPORT_TLS,
};

/// Which end of a connection this process is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
    Client,
    Server,
    /// Made from an established stream (TLS): neither is known.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Unknown,
}

/// A slot for a bound listener: its name, and its TCP address if any.
pub(crate) fn listener(name: &str, tcp: Option<std::net::SocketAddr>) -> Option<FlowSlot> {
    FlowSlot::claim(&Describe {
        kind: KIND_LISTENER,
        role: 0,
        name,
        transport: 0,
        wakeup: 0,
        ring_capacity: 0,
        max_message: 0,
        peer: PeerInfo {
            pid: 0,
            uid: None,
            text: tcp.map(|a| format!("tcp {a}")).unwrap_or_default(),
        },
    })
}

fn wakeup_code(w: Option<WakeupKind>) -> u32 {
    match w {
        None => 0,
        Some(WakeupKind::Spin) => 1,
        Some(WakeupKind::Futex) => 2,
        Some(WakeupKind::EventFd) => 3,
        Some(WakeupKind::Hybrid) => 4,
    }
}

/// Says in `slot` that its flow now runs on `transport` (after a move).
pub(crate) fn moved(slot: &FlowSlot, transport: &Transport) {
    let d = describe("", End::Unknown, transport, PeerInfo::default());
    slot.retransport(d.transport, d.wakeup, d.ring_capacity);
}

/// How a connection on `transport` is described.
pub(crate) fn describe<'a>(
    name: &'a str,
    end: End,
    transport: &Transport,
    peer: PeerInfo,
) -> Describe<'a> {
    let tls = transport.is_tls();
    Describe {
        kind: KIND_CONNECTION,
        role: match end {
            End::Client => ROLE_CLIENT,
            End::Server => ROLE_SERVER,
            End::Unknown => 0,
        },
        name,
        transport: match transport.kind {
            TransportKind::SharedMemory => TRANSPORT_SHM,
            TransportKind::Tcp if tls => TRANSPORT_TLS,
            TransportKind::Tcp => TRANSPORT_TCP,
        },
        wakeup: wakeup_code(transport.wakeup),
        ring_capacity: transport.ring_capacity.unwrap_or(0) as u64,
        max_message: transport.max_message as u64,
        peer,
    }
}

/// A slot for a connection named `name` (the listener's name, or the
/// address a client connected to). `peer_uid`: when the kernel said it.
pub(crate) fn connection(
    name: &str,
    end: End,
    transport: &Transport,
    peer_uid: Option<u32>,
) -> Option<FlowSlot> {
    let pid = transport
        .peer
        .strip_prefix("pid ")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let peer = PeerInfo {
        pid,
        uid: peer_uid,
        text: transport.peer.clone(),
    };
    FlowSlot::claim(&describe(name, end, transport, peer))
}
