//! How a side waits for its peer: one [`Strategy`] trait, one file per strategy.
//!
//! A strategy has two halves. `notify` runs after every publication (a commit, or
//! a release of space) and must be free when nobody sleeps: the blocking
//! strategies make a system call only when the peer has armed the [`Signal`].
//! `wait` blocks until the caller's condition holds, the deadline passes, or the
//! peer process is found dead (checked every liveness interval).

mod eventfd;
mod futex;
mod hybrid;
mod spin;

pub(crate) use eventfd::EventFd;
pub(crate) use futex::Futex;
pub(crate) use hybrid::Hybrid;
pub(crate) use spin::Spin;

use crate::config::WakeupKind;
use crate::platform::{self, Doorbell};
use crate::ring::control::Signal;
use std::io;
use std::time::{Duration, Instant};

/// One direction's shared handshake and, for eventfd wakeups, its doorbell.
pub(crate) struct Channel<'a> {
    pub signal: &'a Signal,
    pub doorbell: Option<Doorbell<'a>>,
}

/// Rings the wake descriptor of `ch`'s sleeper: an event loop waits for it.
#[inline]
pub(crate) fn ring_descriptor(ch: &Channel<'_>) -> io::Result<()> {
    match ch.doorbell {
        Some(bell) => bell.ring(),
        // Only a side holding the descriptors can arm for them.
        None => Ok(()),
    }
}

/// What the caller waits for and how long.
pub(crate) struct WaitRequest<'a> {
    /// The condition: true once there is something to do (data, space, a closed
    /// or corrupt peer). Cheap and side-effect free.
    pub ready: &'a mut dyn FnMut() -> bool,
    /// Give up at this instant.
    pub deadline: Option<Instant>,
    /// Checks the peer process if a check is due on the endpoint's liveness
    /// clock (which outlives this wait): `Err(pid)` once it is known dead, else
    /// how long until the next check is due. Cheap when none is due.
    pub liveness: &'a mut dyn FnMut() -> Result<Duration, u32>,
    /// Whether the peer last ran on this CPU (spinning would then only delay it).
    pub same_cpu: &'a mut dyn FnMut() -> bool,
}

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum WaitEnd {
    Ready,
    TimedOut,
    PeerDied(u32),
    Failed(io::Error),
}

/// A way of waiting and waking.
pub(crate) trait Strategy {
    /// Wakes the peer if it may be asleep on `ch`. Called after each publication.
    fn notify(&self, ch: &Channel<'_>) -> io::Result<()>;
    /// Blocks until `req.ready` holds, the deadline passes or the peer dies.
    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd;
}

/// The strategy a ring was created with (enum dispatch keeps the fast path free
/// of virtual calls).
pub(crate) enum Wakeup {
    Spin(Spin),
    Futex(Futex),
    EventFd(EventFd),
    Hybrid(Hybrid),
}

impl Wakeup {
    pub(crate) fn new(kind: WakeupKind, spin_budget: Duration) -> Self {
        match kind {
            WakeupKind::Spin => Wakeup::Spin(Spin),
            WakeupKind::Futex => Wakeup::Futex(Futex),
            WakeupKind::EventFd => Wakeup::EventFd(EventFd),
            WakeupKind::Hybrid => Wakeup::Hybrid(Hybrid::new(spin_budget)),
        }
    }
}

impl Strategy for Wakeup {
    #[inline(always)]
    fn notify(&self, ch: &Channel<'_>) -> io::Result<()> {
        match self {
            Wakeup::Spin(s) => s.notify(ch),
            Wakeup::Futex(s) => s.notify(ch),
            Wakeup::EventFd(s) => s.notify(ch),
            Wakeup::Hybrid(s) => s.notify(ch),
        }
    }

    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        match self {
            Wakeup::Spin(s) => s.wait(ch, req),
            Wakeup::Futex(s) => s.wait(ch, req),
            Wakeup::EventFd(s) => s.wait(ch, req),
            Wakeup::Hybrid(s) => s.wait(ch, req),
        }
    }
}

/// Busy-polls `req.ready` for at most `budget` (forever if `None`). `None` means
/// the budget ran out with nothing to report.
pub(crate) fn spin_until(req: &mut WaitRequest<'_>, budget: Option<Duration>) -> Option<WaitEnd> {
    // The clock is read only once the peer has not answered within the first
    // few polls: a quick answer costs no clock read at all.
    let mut start: Option<Instant> = None;
    let mut spins = 0u32;
    loop {
        if (req.ready)() {
            return Some(WaitEnd::Ready);
        }
        platform::spin_hint();
        spins = spins.wrapping_add(1);
        if spins % platform::SPINS_PER_CLOCK_READ == 0 {
            if let Err(pid) = (req.liveness)() {
                return Some(WaitEnd::PeerDied(pid));
            }
            let now = platform::now();
            let started = *start.get_or_insert(now);
            if req.deadline.is_some_and(|d| now >= d) {
                return Some(WaitEnd::TimedOut);
            }
            if budget.is_some_and(|b| now - started >= b) {
                return None;
            }
        }
    }
}

/// The blocking protocol shared by futex and eventfd: arm, re-check, sleep in
/// slices that end when the next liveness check is due.
pub(crate) fn sleep_until(
    ch: &Channel<'_>,
    req: &mut WaitRequest<'_>,
    mut sleep: impl FnMut(u32, Duration) -> io::Result<()>,
) -> WaitEnd {
    // A few polls before arming, while the peer runs on another CPU: work
    // that arrives within them costs the peer no wake call, where after
    // arming it would wake a side that is already awake. On the peer's own
    // CPU they would only delay it.
    let polls = if (req.same_cpu)() {
        0
    } else {
        platform::POLLS_BEFORE_ARM
    };
    loop {
        for _ in 0..polls {
            if (req.ready)() {
                return WaitEnd::Ready;
            }
            platform::spin_hint();
        }
        if (req.ready)() {
            return WaitEnd::Ready;
        }
        let seq = ch.signal.arm();
        if (req.ready)() {
            ch.signal.disarm(seq);
            return WaitEnd::Ready;
        }
        // A dead peer is reported even when the deadline has passed too.
        let until_check = match (req.liveness)() {
            Ok(left) => left,
            Err(pid) => {
                ch.signal.disarm(seq);
                return WaitEnd::PeerDied(pid);
            }
        };
        let now = platform::now();
        if req.deadline.is_some_and(|d| now >= d) {
            ch.signal.disarm(seq);
            return WaitEnd::TimedOut;
        }
        let slice = match req.deadline {
            Some(d) => until_check.min(d - now),
            None => until_check,
        };
        if let Err(e) = sleep(seq, slice) {
            ch.signal.disarm(seq);
            return WaitEnd::Failed(e);
        }
        ch.signal.disarm(seq);
    }
}
