//! Hooks for waits that happen outside this crate's blocking calls: an event
//! loop (tokio, epoll, mio) waiting for a wake descriptor to turn readable,
//! and for the peer's process to exit.
//!
//! The protocol is the blocking one with the sleep replaced by "return to the
//! event loop": arm the signal as *polled* (so a futex or hybrid notifier
//! rings the descriptor instead of the futex word), re-check the condition,
//! and only then wait for readability. Loom checks it (`testing::loom_models`).

use super::{Consumer, Link, Producer};
#[cfg(feature = "tokio")]
use crate::error::Side;
#[cfg(feature = "tokio")]
use std::time::Duration;

impl Link {
    /// Arms this side's signal for a wait on its wake descriptor.
    pub(crate) fn arm_polled(&self) -> u32 {
        self.channel(self.side).signal.arm_polled()
    }

    /// Disarms after a polled wait that did not end by a wakeup.
    pub(crate) fn disarm_polled(&self, seq: u32) {
        self.channel(self.side).signal.disarm(seq)
    }

    /// How long a wait spins before it arms: `None` for no spinning (futex,
    /// eventfd, or a hybrid peer on this CPU), `Some(Duration::MAX)` for spin
    /// rings, which never arm.
    #[cfg(feature = "tokio")]
    pub(crate) fn polled_spin_budget(&self) -> Option<Duration> {
        use crate::wakeup::Wakeup;
        match &self.wakeup {
            Wakeup::Spin(_) => Some(Duration::MAX),
            Wakeup::Hybrid(h) if self.spins_first() && !h.budget().is_zero() => Some(h.budget()),
            _ => None,
        }
    }

    /// The shared ring holding this side's wake descriptor and its index
    /// there, for a registration that keeps the descriptor open as long as it
    /// lives.
    #[cfg(feature = "tokio")]
    pub(crate) fn own_bell(&self) -> Option<(std::sync::Arc<crate::ring::Shared>, usize)> {
        self.shared.doorbells.as_ref()?;
        let index = match self.side {
            Side::Consumer => 0,
            Side::Producer => 1,
        };
        Some((self.shared.clone(), index))
    }

    /// A duplicate of the descriptor of the peer's process (it turns readable
    /// when that process exits), once the peer is known; `None` before it has
    /// attached, or where pidfds are not available.
    #[cfg(feature = "tokio")]
    pub(crate) fn peer_pidfd(&mut self) -> Option<std::os::fd::OwnedFd> {
        let control = self.shared.control();
        let peer = match self.peer() {
            Side::Producer => &control.producer,
            Side::Consumer => &control.consumer,
        };
        self.liveness.watch_fd(peer)
    }

    /// Checks the peer's process now, whatever the liveness clock says (its
    /// process descriptor turned readable). The result is remembered for the
    /// next call.
    #[cfg(feature = "tokio")]
    pub(crate) fn check_peer_now(&mut self) {
        let control = self.shared.control();
        let peer = match self.peer() {
            Side::Producer => &control.producer,
            Side::Consumer => &control.consumer,
        };
        self.liveness.check_now(peer);
    }

    /// Whether a polled wait should end now: the caller's condition holds, the
    /// peer closed, or (with `liveness`) a due liveness check found it dead.
    fn polled_wait_over(&mut self, condition: bool, liveness: bool) -> bool {
        condition || self.peer_closed() || (liveness && self.peer_died_while_idle().is_some())
    }
}

impl Consumer {
    /// The link, for an event-loop wait.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }

    /// Whether a non-blocking receive would not report `Empty`: a message, a
    /// close, a corrupt ring, or (with `liveness`: reads the coarse clock) a
    /// dead peer.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn recv_would_finish(&mut self, liveness: bool) -> bool {
        let data = !matches!(self.ring.peek(), Ok(None));
        self.link.polled_wait_over(data, liveness)
    }
}

impl Producer {
    /// The descriptor that becomes readable when room is released while this
    /// producer is armed ([`arm_notify`](Self::arm_notify)); `None` for spin
    /// rings and named regions (which have no wake descriptors). Put it in
    /// epoll or mio for readability; leave reading it to `arm_notify`.
    pub fn notify_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.link.own_doorbell().and_then(|bell| bell.fd())
    }

    /// Prepares to wait on [`notify_fd`](Self::notify_fd) until a message of
    /// `len` bytes fits: drains the descriptor and asks the consumer to ring
    /// it when it releases room. Returns `true` if there is room (or the
    /// consumer closed, or died) already: send instead of waiting. Never
    /// blocks.
    ///
    /// # Errors
    /// [`SendError::Io`](crate::SendError::Io) if draining the descriptor fails.
    pub fn arm_notify(&mut self, len: usize) -> Result<bool, crate::SendError> {
        if let Some(bell) = self.link.own_doorbell() {
            bell.drain().map_err(crate::SendError::Io)?;
        }
        let seq = self.link.arm_polled();
        let ready = self.reserve_would_finish(len, true);
        if ready {
            self.link.disarm_polled(seq);
        }
        Ok(ready)
    }

    /// The link, for an event-loop wait.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }

    /// Whether a non-blocking reserve of `len` bytes would not report `Full`:
    /// room, a message that can never fit, a close, a corrupt ring, or a dead
    /// peer (with `liveness`).
    pub(crate) fn reserve_would_finish(&mut self, len: usize, liveness: bool) -> bool {
        let room = len > self.max_message() || !matches!(self.ring.has_room(len as u64), Ok(false));
        self.link.polled_wait_over(room, liveness)
    }
}
