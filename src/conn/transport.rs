//! What a connection runs on, and why, in one line.

use crate::config::WakeupKind;
use std::fmt;
use std::time::Duration;

/// Which transport a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Two rings in memory shared with the peer process.
    SharedMemory,
    /// Length-prefixed frames over a TCP socket.
    Tcp,
}

/// What a connection runs on and why: [`Display`](fmt::Display) says it in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub(crate) kind: TransportKind,
    pub(crate) wakeup: Option<WakeupKind>,
    pub(crate) spin_budget: Duration,
    pub(crate) ring_capacity: Option<usize>,
    pub(crate) max_message: usize,
    pub(crate) peer: String,
    pub(crate) why: String,
    /// The peer's verified certificate identity (TLS only).
    #[cfg(feature = "tls")]
    pub(crate) identity: Option<super::tls::PeerIdentity>,
}

impl Transport {
    /// A shared-memory connection to the process `peer_pid`.
    pub(crate) fn shared_memory(
        wakeup: WakeupKind,
        spin_budget: Duration,
        ring_capacity: usize,
        max_message: usize,
        peer_pid: u32,
        why: String,
    ) -> Self {
        Transport {
            kind: TransportKind::SharedMemory,
            wakeup: Some(wakeup),
            spin_budget,
            ring_capacity: Some(ring_capacity),
            max_message,
            peer: format!("pid {peer_pid}"),
            why,
            #[cfg(feature = "tls")]
            identity: None,
        }
    }

    /// A TCP connection to `peer` (its address).
    pub(crate) fn tcp(max_message: usize, peer: String, why: String) -> Self {
        Transport {
            kind: TransportKind::Tcp,
            wakeup: None,
            spin_budget: Duration::ZERO,
            ring_capacity: None,
            max_message,
            peer,
            why,
            #[cfg(feature = "tls")]
            identity: None,
        }
    }

    /// A TCP connection under TLS to `peer`, whose certificate says `identity`.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(
        max_message: usize,
        peer: String,
        why: String,
        identity: super::tls::PeerIdentity,
    ) -> Self {
        Transport {
            identity: Some(identity),
            ..Transport::tcp(max_message, peer, why)
        }
    }

    /// The peer's verified identity on a TLS connection (its certificate's
    /// subject and names), as the kernel's credentials name a local peer;
    /// `None` on other transports (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn peer_identity(&self) -> Option<&super::tls::PeerIdentity> {
        self.identity.as_ref()
    }

    /// Whether this is TCP under TLS (its peer's identity verified).
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.identity.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Shared memory or TCP.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The rings' wakeup strategy (shared memory only).
    pub fn wakeup(&self) -> Option<WakeupKind> {
        self.wakeup
    }

    /// Each ring's capacity in bytes (shared memory only).
    pub fn ring_capacity(&self) -> Option<usize> {
        self.ring_capacity
    }

    /// Largest message either side may send.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Why this transport and these parameters were chosen.
    pub fn why(&self) -> &str {
        &self.why
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TransportKind::SharedMemory => {
                f.write_str("shared memory, ")?;
                match self.wakeup {
                    Some(WakeupKind::Hybrid) => {
                        write!(f, "hybrid (spin {} µs)", self.spin_budget.as_micros())?
                    }
                    Some(w) => write!(f, "{w}")?,
                    None => f.write_str("unknown wakeup")?,
                }
                if let Some(cap) = self.ring_capacity {
                    write!(f, ", ring {} each way", size(cap))?;
                }
            }
            TransportKind::Tcp => write!(f, "TCP to {} (nodelay)", self.peer)?,
        }
        write!(
            f,
            ", messages up to {}: {}",
            size(self.max_message),
            self.why
        )
    }
}
