//! The control block: the few atomics the two sides share, one 128-byte line per
//! owner so that no line is written by both sides on the fast path.

use crate::platform::{fence, AtomicU32, AtomicU64, FutexWord, Ordering, PeerEntry};

/// `SideMeta::state` values.
pub(crate) const FREE: u32 = 0;
pub(crate) const ATTACHED: u32 = 1;
pub(crate) const CLOSED: u32 = 2;

/// Who holds one end, and whether it has closed. Written at attach and close only,
/// so the peer's reads of it hit its own cache.
#[repr(C, align(128))]
#[derive(Default)]
pub(crate) struct SideMeta {
    /// Pid of the attached process, 0 while free.
    pub pid: AtomicU32,
    /// FREE, ATTACHED or CLOSED.
    pub state: AtomicU32,
    /// Last CPU this side was seen on, plus one (0: unknown). Lets the hybrid
    /// strategy avoid spinning against a peer on its own CPU.
    pub cpu: AtomicU32,
}

impl PeerEntry for SideMeta {
    #[inline]
    fn closed(&self) -> bool {
        self.state.load(Ordering::Acquire) == CLOSED
    }

    #[inline]
    fn pid(&self) -> u32 {
        self.pid.load(Ordering::Acquire)
    }
}

/// The consumer's released position: the only word the consumer writes per message.
#[repr(C, align(128))]
#[derive(Default)]
pub(crate) struct HeadLine {
    pub head: AtomicU64,
}

/// Set in `Signal::armed` while a waiter may be asleep; the low 32 bits hold the
/// `seq` value it sleeps on.
const ARMED: u64 = 1 << 32;

/// Set with `ARMED` by a waiter that waits for its wake descriptor to turn
/// readable (an event loop: tokio, epoll) instead of sleeping on the futex word,
/// so that a futex or hybrid notifier rings the descriptor instead.
const POLLED: u64 = 1 << 33;

/// Whom a notifier must wake (see [`Signal::wake_via`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeVia {
    /// Nobody may be asleep: no system call.
    Nobody,
    /// A thread asleep on the futex word.
    Futex,
    /// An event loop waiting for the wake descriptor.
    Descriptor,
}

/// One direction's sleep/wake handshake (data available, or space available).
///
/// The waiter arms (`armed = ARMED | seq`), fences, re-checks its condition and only
/// then sleeps on `seq`; the notifier publishes, fences, and wakes only if it sees
/// an armed waiter whose `seq` it is first to bump. So a notifier makes no system
/// call unless a waiter may really be asleep, and one wakeup serves every commit
/// made until the waiter runs again.
#[repr(C, align(128))]
#[derive(Default)]
pub(crate) struct Signal {
    pub armed: AtomicU64,
    /// Futex word: bumped once per wakeup.
    pub seq: FutexWord,
}

impl Signal {
    /// Arms before a re-check of the wait condition. Returns the `seq` to sleep on.
    pub(crate) fn arm(&self) -> u32 {
        let seq = self.seq.load(Ordering::Acquire);
        self.armed.store(ARMED | u64::from(seq), Ordering::Relaxed);
        // Pairs with the fence in `should_wake`: either the waiter's re-check sees
        // the notifier's publication, or the notifier sees this arming.
        fence(Ordering::SeqCst);
        seq
    }

    /// Arms for a wait on the wake descriptor (an event loop) rather than the
    /// futex word; otherwise as [`arm`](Self::arm).
    pub(crate) fn arm_polled(&self) -> u32 {
        let seq = self.seq.load(Ordering::Acquire);
        self.armed
            .store(ARMED | POLLED | u64::from(seq), Ordering::Relaxed);
        // As in `arm`: pairs with the fence in `wake_via`.
        fence(Ordering::SeqCst);
        seq
    }

    /// Disarms after a wait that was not ended by a wakeup, so that later
    /// notifications make no system call.
    pub(crate) fn disarm(&self, seq: u32) {
        if self.seq.load(Ordering::Relaxed) == seq {
            self.armed.store(0, Ordering::Relaxed);
        }
    }

    /// Whether a waiter has armed this signal (it may be asleep).
    #[inline(always)]
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed) & ARMED != 0
    }

    /// Notifier side, after publishing: whether a waiter may be asleep and this call
    /// is the one that must wake it (it has bumped `seq`).
    #[inline]
    pub(crate) fn should_wake(&self) -> bool {
        self.wake_via() != WakeVia::Nobody
    }

    /// As [`should_wake`](Self::should_wake), and whether the waiter sleeps on
    /// the futex word or waits for the wake descriptor. The same fence and
    /// loads: still no system call while nobody is armed.
    #[inline]
    pub(crate) fn wake_via(&self) -> WakeVia {
        fence(Ordering::SeqCst);
        let armed = self.armed.load(Ordering::Relaxed);
        if armed & ARMED == 0 {
            return WakeVia::Nobody;
        }
        let seq = armed as u32;
        let won = self.seq.load(Ordering::Relaxed) == seq
            && self
                .seq
                .compare_exchange(
                    seq,
                    seq.wrapping_add(1),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
        match (won, armed & POLLED != 0) {
            (false, _) => WakeVia::Nobody,
            (true, false) => WakeVia::Futex,
            (true, true) => WakeVia::Descriptor,
        }
    }
}

/// Everything shared but the static header and the data. A mapping's zeroed
/// bytes are a valid fresh one; `Default` builds one elsewhere.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Control {
    pub producer: SideMeta,
    pub consumer: SideMeta,
    pub head: HeadLine,
    /// The consumer sleeps here waiting for data.
    pub data: Signal,
    /// The producer sleeps here waiting for space.
    pub space: Signal,
}

// Five 128-byte lines: the layout the mapping's header and data leave room for.
const _: () = assert!(std::mem::size_of::<Control>() == 5 * 128);
