//! The public endpoints: blocking, wakeups, liveness and lifecycle on top of the
//! ring protocol.

mod consumer;
mod grant;
mod polled;
mod producer;
#[cfg(feature = "bytemuck")]
mod value;
mod watch;

pub use consumer::Consumer;
pub use grant::{ReadGrant, WriteGrant};
pub use producer::Producer;

use crate::config::WakeupKind;
use crate::error::Side;
use crate::platform::{self, Doorbell, Liveness, Ordering};
use crate::ring::control::{SideMeta, CLOSED};
use crate::ring::Shared;
use crate::wakeup::{Channel, Strategy, WaitEnd, WaitRequest, Wakeup};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use crate::deadline::Deadline;

/// What a connection's receive found: a message of this length, or a
/// control record's payload (the connection's own, never a user message).
#[derive(Debug)]
pub(crate) enum Got {
    Data(usize),
    Control(Vec<u8>),
}

/// What both endpoints need besides the ring: the strategy, the peer's liveness,
/// and what else must outlive the endpoint.
pub(crate) struct Link {
    shared: Arc<Shared>,
    /// The region the ring lives in (its descriptors and name), if any.
    _keep_alive: Option<Arc<dyn Send + Sync>>,
    wakeup: Wakeup,
    side: Side,
    liveness: Liveness,
    /// Publications since this side last recorded its CPU.
    since_cpu_record: u32,
    /// This direction's published counters (waits, wakes), when the ring
    /// carries a connection whose process publishes them.
    pub(crate) counters: Option<&'static crate::counters::SideCounters>,
}

/// A side that never waits (a streaming producer) still refreshes its recorded
/// CPU every this many publications, so the blocking peer's same-CPU check is not
/// fooled by where the endpoint was created. (Reading the CPU is a vDSO/rseq load,
/// a few nanoseconds, so the refresh costs little even every 64 messages.)
const CPU_RECORD_EVERY: u32 = 64;

/// Everything needed to build a link.
pub(crate) struct LinkParts {
    pub shared: Arc<Shared>,
    /// What else the endpoint keeps alive (the region).
    pub keep_alive: Option<Arc<dyn Send + Sync>>,
    pub wakeup: WakeupKind,
    pub spin_budget: Duration,
    pub liveness_interval: Duration,
}

impl Link {
    pub(crate) fn new(parts: LinkParts, side: Side) -> Self {
        let link = Link {
            shared: parts.shared,
            _keep_alive: parts.keep_alive,
            wakeup: Wakeup::new(parts.wakeup, parts.spin_budget),
            side,
            liveness: Liveness::new(parts.liveness_interval),
            since_cpu_record: 0,
            counters: None,
        };
        link.record_cpu();
        link
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn wakeup_kind(&self) -> WakeupKind {
        match self.wakeup {
            Wakeup::Spin(_) => WakeupKind::Spin,
            Wakeup::Futex(_) => WakeupKind::Futex,
            Wakeup::EventFd(_) => WakeupKind::EventFd,
            Wakeup::Hybrid(_) => WakeupKind::Hybrid,
        }
    }

    fn meta(&self, side: Side) -> &SideMeta {
        let control = self.shared.control();
        match side {
            Side::Producer => &control.producer,
            Side::Consumer => &control.consumer,
        }
    }

    fn peer(&self) -> Side {
        match self.side {
            Side::Producer => Side::Consumer,
            Side::Consumer => Side::Producer,
        }
    }

    fn channel(&self, side: Side) -> Channel<'_> {
        channel_of(&self.shared, side)
    }

    /// Whether a wait starts by spinning: `spin`, or `hybrid` while the peer did
    /// not last run on this CPU (from the CPUs both sides last recorded).
    #[inline(always)]
    pub(crate) fn spins_first(&self) -> bool {
        match self.wakeup {
            Wakeup::Spin(_) => true,
            Wakeup::Hybrid(_) => {
                let peer = self.meta(self.peer()).cpu.load(Ordering::Relaxed);
                peer == 0 || peer != self.meta(self.side).cpu.load(Ordering::Relaxed)
            }
            _ => false,
        }
    }

    /// Whether the peer has armed its signal (it may be asleep, or about to
    /// sleep). A cache-hit load while it is not waiting.
    #[inline(always)]
    pub(crate) fn peer_may_sleep(&self) -> bool {
        match self.wakeup {
            Wakeup::Spin(_) => false,
            _ => self.channel(self.peer()).signal.is_armed(),
        }
    }

    /// Whether the peer has closed its end.
    #[inline(always)]
    pub(crate) fn peer_closed(&self) -> bool {
        self.meta(self.peer()).state.load(Ordering::Acquire) == CLOSED
    }

    /// Wakes the peer if it may sleep. A failed wake system call is not reported:
    /// the sleeper re-checks at least every liveness interval, so it costs latency
    /// once, never a hang, and the publication itself has succeeded.
    #[inline(always)]
    pub(crate) fn notify_peer(&mut self) {
        if let Wakeup::Spin(_) = self.wakeup {
            return;
        }
        self.since_cpu_record += 1;
        if self.since_cpu_record >= CPU_RECORD_EVERY {
            self.since_cpu_record = 0;
            self.record_cpu();
        }
        if let Some(c) = self.counters {
            if self.peer_may_sleep() {
                crate::counters::bump(&c.wakes, 1);
            }
        }
        let _ = self.wakeup.notify(&self.channel(self.peer()));
    }

    /// Blocks until `ready()` or the deadline.
    pub(crate) fn wait(&mut self, ready: &mut dyn FnMut() -> bool, deadline: Deadline) -> WaitEnd {
        let deadline = match deadline {
            Deadline::NonBlocking => return WaitEnd::TimedOut,
            other => other.instant(),
        };
        self.record_cpu();
        let started = self.counters.map(|c| (c, std::time::Instant::now()));
        let end = self.wait_inner(ready, deadline);
        if let Some((c, t)) = started {
            c.waited(t.elapsed().as_nanos() as u64);
        }
        end
    }

    fn wait_inner(
        &mut self,
        ready: &mut dyn FnMut() -> bool,
        deadline: Option<std::time::Instant>,
    ) -> WaitEnd {
        let peer = self.peer();
        // Split the borrows: the liveness state is mutable, the rest is shared.
        let Link {
            shared,
            wakeup,
            side,
            liveness,
            ..
        } = self;
        let control = shared.control();
        let meta = |s: Side| match s {
            Side::Producer => &control.producer,
            Side::Consumer => &control.consumer,
        };
        let (peer_meta, own_meta) = (meta(peer), meta(*side));
        // A closed peer ends every wait: there is nothing more to wait for.
        let mut ready = || peer_meta.state.load(Ordering::Acquire) == CLOSED || ready();
        let mut liveness = || liveness.check(peer_meta);
        let mut same_cpu = || {
            let peer_cpu = peer_meta.cpu.load(Ordering::Relaxed);
            peer_cpu != 0 && peer_cpu == own_meta.cpu.load(Ordering::Relaxed)
        };
        let channel = channel_of(shared, *side);
        wakeup.wait(
            &channel,
            &mut WaitRequest {
                ready: &mut ready,
                deadline,
                liveness: &mut liveness,
                same_cpu: &mut same_cpu,
            },
        )
    }

    /// For a non-blocking call that found the ring empty (full): `Some(pid)`
    /// once the peer process is known dead. No system call unless a liveness
    /// check is due (at most once per interval).
    #[inline]
    pub(crate) fn peer_died_while_idle(&mut self) -> Option<u32> {
        let control = self.shared.control();
        let peer = match self.side {
            Side::Producer => &control.consumer,
            Side::Consumer => &control.producer,
        };
        self.liveness.check_idle(peer)
    }

    /// Records the CPU this side runs on (plus one), for the blocking
    /// strategies' same-CPU check (whether to spin or poll before sleeping).
    /// Written only when it changes.
    fn record_cpu(&self) {
        if matches!(self.wakeup, Wakeup::Spin(_)) {
            return;
        }
        // Unknown under Miri and loom: the same-CPU check then never fires.
        if let Some(cpu) = platform::current_cpu() {
            let cpu = cpu + 1;
            let meta = self.meta(self.side);
            if meta.cpu.load(Ordering::Relaxed) != cpu {
                meta.cpu.store(cpu, Ordering::Relaxed);
            }
        }
    }

    /// Marks this end closed and wakes the peer so it notices.
    pub(crate) fn close(&self) {
        self.meta(self.side).state.store(CLOSED, Ordering::Release);
        if let Some(c) = self.counters {
            if self.peer_may_sleep() {
                crate::counters::bump(&c.wakes, 1);
            }
        }
        let _ = self.wakeup.notify(&self.channel(self.peer()));
    }

    /// The doorbell this side sleeps on, if the strategy is eventfd.
    pub(crate) fn own_doorbell(&self) -> Option<Doorbell<'_>> {
        self.channel(self.side).doorbell
    }

    /// Arms this side's signal for an external wait (epoll on its descriptor).
    pub(crate) fn arm_external(&self) -> u32 {
        self.arm_polled()
    }

    pub(crate) fn disarm_external(&self, seq: u32) {
        self.channel(self.side).signal.disarm(seq)
    }

    pub(crate) fn liveness_interval(&self) -> Duration {
        self.liveness.interval()
    }
}

/// Builds both endpoints of a ring in this process over `shared` (heap memory for
/// tests and Miri, model memory under loom), claiming both ends.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn in_process_pair(
    shared: Arc<Shared>,
    wakeup: WakeupKind,
    spin_budget: Duration,
) -> (Producer, Consumer) {
    let control = shared.control();
    for meta in [&control.producer, &control.consumer] {
        meta.pid.store(std::process::id(), Ordering::Relaxed);
        meta.state
            .store(crate::ring::control::ATTACHED, Ordering::Relaxed);
    }
    let parts = || LinkParts {
        shared: shared.clone(),
        keep_alive: None,
        wakeup,
        spin_budget,
        liveness_interval: Duration::from_millis(50),
    };
    let producer = Producer::new(Link::new(parts(), Side::Producer)).expect("fresh ring");
    let consumer = Consumer::new(Link::new(parts(), Side::Consumer)).expect("fresh ring");
    (producer, consumer)
}

/// The channel that `side` sleeps on: the consumer on data, the producer on space.
fn channel_of(shared: &Shared, side: Side) -> Channel<'_> {
    let control = shared.control();
    // The doorbells' ends are [consumer's, producer's]: each side sleeps on
    // its own and is rung from the other.
    let (signal, own) = match side {
        Side::Consumer => (&control.data, 0),
        Side::Producer => (&control.space, 1),
    };
    Channel {
        signal,
        doorbell: shared.doorbells.as_ref().map(|bells| bells.doorbell(own)),
    }
}
