//! The public endpoints: blocking, wakeups, liveness and lifecycle on top of the
//! ring protocol.

mod consumer;
mod grant;
#[cfg(not(loom))]
pub(crate) mod liveness;
mod polled;
mod producer;
#[cfg(feature = "bytemuck")]
mod value;

pub use consumer::Consumer;
pub use grant::{ReadGrant, WriteGrant};
pub use producer::Producer;

use crate::config::WakeupKind;
use crate::error::Side;
use crate::ring::control::{SideMeta, CLOSED};
use crate::ring::Shared;
use crate::sync::Ordering;
use crate::wakeup::{Channel, Strategy, WaitEnd, WaitRequest, Wakeup};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a call may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    NonBlocking,
    Forever,
    /// `timeout` from when the call first has to wait: the clock is read only
    /// then, so a call answered at once costs no clock read.
    Within(Duration),
    At(Instant),
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Self {
        Deadline::Within(timeout)
    }

    /// Fixes a relative deadline to an instant, at the first real wait.
    pub(crate) fn resolve(self) -> Self {
        match self {
            Deadline::Within(timeout) => Instant::now()
                .checked_add(timeout)
                .map_or(Deadline::Forever, Deadline::At),
            other => other,
        }
    }
}

/// What both endpoints need besides the ring: the strategy, the peer's liveness,
/// and what keeps the mapping and descriptors alive.
pub(crate) struct Link {
    shared: Arc<Shared>,
    #[cfg(not(loom))]
    region: Option<Arc<crate::region::RegionInner>>,
    wakeup: Wakeup,
    side: Side,
    liveness_interval: Duration,
    liveness: Liveness,
    /// Publications since this side last recorded its CPU.
    since_cpu_record: u32,
}

/// A side that never waits (a streaming producer) still refreshes its recorded
/// CPU every this many publications, so the hybrid peer's same-CPU check is not
/// fooled by where the endpoint was created. (Reading the CPU is a vDSO/rseq load,
/// a few nanoseconds, so the refresh costs little even every 64 messages.)
const CPU_RECORD_EVERY: u32 = 64;

#[cfg(not(loom))]
use liveness::Liveness;

/// Under loom no process dies: liveness never reports anything.
#[cfg(loom)]
struct Liveness;

#[cfg(loom)]
impl Liveness {
    fn new(_: Duration) -> Self {
        Liveness
    }

    fn check(&mut self, _: &SideMeta) -> Result<Duration, u32> {
        Ok(Duration::MAX)
    }

    fn check_idle(&mut self, _: &SideMeta) -> Option<u32> {
        None
    }
}

/// Everything needed to build a link.
pub(crate) struct LinkParts {
    pub shared: Arc<Shared>,
    #[cfg(not(loom))]
    pub region: Option<Arc<crate::region::RegionInner>>,
    pub wakeup: WakeupKind,
    pub spin_budget: Duration,
    pub liveness_interval: Duration,
}

impl Link {
    pub(crate) fn new(parts: LinkParts, side: Side) -> Self {
        let link = Link {
            shared: parts.shared,
            #[cfg(not(loom))]
            region: parts.region,
            wakeup: Wakeup::new(parts.wakeup, parts.spin_budget),
            side,
            liveness_interval: parts.liveness_interval,
            liveness: Liveness::new(parts.liveness_interval),
            since_cpu_record: 0,
        };
        link.record_cpu();
        link
    }

    #[cfg(not(loom))]
    pub(crate) fn from_region(region: Arc<crate::region::RegionInner>, side: Side) -> Self {
        Self::new(
            LinkParts {
                shared: region.shared.clone(),
                wakeup: region.wakeup,
                spin_budget: region.spin_budget,
                liveness_interval: region.liveness_interval,
                region: Some(region),
            },
            side,
        )
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
        #[cfg(not(loom))]
        return channel_of(&self.shared, self.region.as_deref(), side);
        #[cfg(loom)]
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
        match self.wakeup {
            Wakeup::Spin(_) => return,
            Wakeup::Hybrid(_) => {
                self.since_cpu_record += 1;
                if self.since_cpu_record >= CPU_RECORD_EVERY {
                    self.since_cpu_record = 0;
                    self.record_cpu();
                }
            }
            _ => {}
        }
        let _ = self.wakeup.notify(&self.channel(self.peer()));
    }

    /// Blocks until `ready()` or the deadline.
    pub(crate) fn wait(&mut self, ready: &mut dyn FnMut() -> bool, deadline: Deadline) -> WaitEnd {
        let deadline = match deadline {
            Deadline::NonBlocking => return WaitEnd::TimedOut,
            Deadline::Forever => None,
            Deadline::Within(timeout) => Instant::now().checked_add(timeout),
            Deadline::At(at) => Some(at),
        };
        self.record_cpu();
        let peer = self.peer();
        // Split the borrows: the liveness state is mutable, the rest is shared.
        let Link {
            shared,
            #[cfg(not(loom))]
            region,
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
        #[cfg(not(loom))]
        let channel = channel_of(shared, region.as_deref(), *side);
        #[cfg(loom)]
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

    /// Records the CPU this side runs on (plus one), for the hybrid strategy's
    /// same-CPU check. Written only when it changes.
    fn record_cpu(&self) {
        // Miri cannot emulate getcpu; heap rings under Miri never spin-wait by CPU.
        #[cfg(not(any(loom, miri)))]
        if matches!(self.wakeup, Wakeup::Hybrid(_)) {
            let cpu = current_cpu() + 1;
            let meta = self.meta(self.side);
            if meta.cpu.load(Ordering::Relaxed) != cpu {
                meta.cpu.store(cpu, Ordering::Relaxed);
            }
        }
    }

    /// Marks this end closed and wakes the peer so it notices.
    pub(crate) fn close(&self) {
        self.meta(self.side).state.store(CLOSED, Ordering::Release);
        let _ = self.wakeup.notify(&self.channel(self.peer()));
    }

    /// The descriptor this side sleeps on, if the strategy is eventfd.
    #[cfg(not(loom))]
    pub(crate) fn own_doorbell(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.channel(self.side).doorbell.map(|bell| bell.sleeper)
    }

    /// Arms this side's signal for an external wait (epoll on its descriptor).
    #[cfg(not(loom))]
    pub(crate) fn arm_external(&self) -> u32 {
        self.arm_polled()
    }

    #[cfg(not(loom))]
    pub(crate) fn disarm_external(&self, seq: u32) {
        self.channel(self.side).signal.disarm(seq)
    }

    pub(crate) fn liveness_interval(&self) -> Duration {
        self.liveness_interval
    }
}

/// Builds both endpoints of a ring in this process over `shared` (heap memory for
/// tests and Miri, model memory under loom), claiming both ends.
#[cfg(any(test, loom, feature = "fuzzing"))]
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
        #[cfg(not(loom))]
        region: None,
        wakeup,
        spin_budget,
        liveness_interval: Duration::from_millis(50),
    };
    let producer = Producer::new(Link::new(parts(), Side::Producer)).expect("fresh ring");
    let consumer = Consumer::new(Link::new(parts(), Side::Consumer)).expect("fresh ring");
    (producer, consumer)
}

/// The channel that `side` sleeps on: the consumer on data, the producer on space.
fn channel_of<'a>(
    shared: &'a Shared,
    #[cfg(not(loom))] region: Option<&'a crate::region::RegionInner>,
    side: Side,
) -> Channel<'a> {
    let control = shared.control();
    // The socket pair's ends are [consumer's, producer's]: each side sleeps on
    // its own and is rung from the other.
    let (signal, _own) = match side {
        Side::Consumer => (&control.data, 0),
        Side::Producer => (&control.space, 1),
    };
    Channel {
        signal,
        #[cfg(not(loom))]
        doorbell: region.and_then(|r| r.doorbell.as_ref()).map(|ends| {
            use std::os::fd::AsFd;
            crate::wakeup::Doorbell {
                sleeper: ends[_own].as_fd(),
                ringer: ends[1 - _own].as_fd(),
            }
        }),
    }
}

/// The CPU this thread runs on. glibc's `sched_getcpu` reads it from rseq or the
/// vDSO (a few ns); rustix's makes the getcpu system call (a kernel entry), too
/// slow for a path entered on every wait.
#[cfg(not(any(loom, miri)))]
fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu takes no arguments and has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).unwrap_or(0)
}
