//! What a connection layer knows about the peer before the ring does: the
//! process at the other end of the socket the ring's descriptors went over.

use super::{Consumer, Link, Producer};
use crate::platform::Ordering;
use crate::ring::control::FREE;
use std::os::fd::OwnedFd;
use std::sync::Arc;

impl Link {
    fn watch_peer(&mut self, pid: u32, pidfd: Arc<OwnedFd>) {
        self.liveness.watch(pid, pidfd);
    }

    fn peer_claimed(&self) -> Option<u32> {
        let meta = self.meta(self.peer());
        let pid = meta.pid.load(Ordering::Acquire);
        (meta.state.load(Ordering::Acquire) != FREE && pid != 0).then_some(pid)
    }
}

macro_rules! peer_watch {
    ($endpoint:ty) => {
        impl $endpoint {
            /// Watches process `pid` (its `pidfd`) as the peer from now on, so
            /// its death is noticed even if it never claims its end.
            pub(crate) fn watch_peer(&mut self, pid: u32, pidfd: Arc<OwnedFd>) {
                self.link.watch_peer(pid, pidfd);
            }

            /// The pid word of the peer's end once it has been claimed.
            pub(crate) fn peer_claimed(&self) -> Option<u32> {
                self.link.peer_claimed()
            }
        }
    };
}

peer_watch!(Producer);
peer_watch!(Consumer);

impl Producer {
    /// Lives as long as this endpoint (its view of the ring).
    pub(crate) fn lifetime(&self) -> std::sync::Weak<crate::ring::Shared> {
        Arc::downgrade(self.link.shared())
    }
}
