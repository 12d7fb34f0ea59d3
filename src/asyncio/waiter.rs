//! How an async endpoint waits: spin for the hybrid budget, then arm the
//! signal as polled and return to the runtime until the wake descriptor or the
//! peer's process descriptor turns readable.
//!
//! The spin never holds the runtime's thread for the whole budget: one poll
//! checks the ring a bounded number of times ([`SPIN_CHECKS_PER_POLL`]), then
//! asks to be polled again and returns to the runtime, which runs every other
//! ready task before it comes back. A server awaiting many connections on a
//! few threads thus spins on all of them in turn, round robin, instead of
//! serving one while the others queue behind its budget (which made the tail
//! latency the number of waiting connections times the budget, and favoured
//! whichever client answered within it).
//!
//! The descriptors are registered with tokio as owned values: the wake
//! descriptor through the region that owns it (kept alive by the
//! registration), the pidfd as a duplicate. Nothing borrowed outlives its owner.

use crate::endpoint::Link;
use crate::ring::Shared;
use rustix::io::Errno;
use rustix::net::RecvFlags;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// At most this many datagrams are read per wakeup (as in the blocking drain).
const DRAIN_MAX: usize = 64;

/// Checks of the condition in one poll of a spinning wait before it yields to
/// the runtime (about a microsecond): short enough that other tasks on the
/// same thread wait for a few checks, not for a whole spin budget.
pub(crate) const SPIN_CHECKS_PER_POLL: u32 = 64;

/// A wake descriptor, kept open by the shared ring it belongs to.
struct Bell {
    shared: Arc<Shared>,
    index: usize,
}

impl Bell {
    /// `Waiter::new` checked that the region has its descriptors; they are
    /// never taken out of it, so this is always `Some`.
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.shared.doorbells.as_ref()?.doorbell(self.index).fd()
    }
}

impl AsRawFd for Bell {
    fn as_raw_fd(&self) -> RawFd {
        self.fd().map_or(-1, |fd| fd.as_raw_fd())
    }
}

/// A value that owns its descriptor for as long as it lives, and always
/// names the same one: what tokio needs of a registration.
pub(crate) trait OwnsFd: AsRawFd {}

impl OwnsFd for OwnedFd {}

/// A ring's wake descriptors are created with it and never replaced or
/// closed while it lives, and the `Arc` keeps it alive.
impl OwnsFd for Bell {}

/// Registers `inner` with the current tokio runtime for `interest`.
///
/// Only values that own their descriptor get here (`OwnsFd`): the descriptor
/// stays open and the same for as long as the registration lives, which is
/// the whole of what the registration needs. (Recent tokio releases mark this
/// constructor deprecated in favour of an `unsafe` one with exactly that
/// contract; it is used here to keep the oldest supported tokio, and with it
/// the crate's minimum Rust version.)
#[allow(deprecated)]
pub(crate) fn register<T: OwnsFd>(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
    AsyncFd::with_interest(inner, interest)
}

/// What the endpoint waits with.
enum Mode {
    /// A spin ring: there is nothing to arm; yield to the runtime and poll again.
    Spin,
    /// A ring with wake descriptors.
    Descriptor {
        bell: Option<Bell>,
        registered: Option<AsyncFd<Bell>>,
    },
}

/// One endpoint's event-loop wait state. It outlives single futures: a future
/// dropped while armed leaves the arming in place, and the next one picks it up.
pub(crate) struct Waiter {
    mode: Mode,
    /// The `seq` armed on, while armed.
    armed: Option<u32>,
    /// How far this wait's spin is.
    spin: SpinState,
    peer: Option<AsyncFd<OwnedFd>>,
    /// Used only where the peer's process cannot be watched by descriptor.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Where a wait is in its spin budget. The budget is spent over several
/// polls, each checking the ring [`SPIN_CHECKS_PER_POLL`] times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpinState {
    /// Not spun yet.
    Fresh,
    /// Spinning since then (the clock is first read after one poll's checks).
    Since(Instant),
    /// Spent (or no budget): arm.
    Over,
}

/// Why a ring cannot be awaited.
#[derive(Debug, thiserror::Error)]
pub enum NotPollable {
    /// A futex or hybrid ring in a named region: such a region has no wake
    /// descriptors to wait on.
    #[error(
        "a {wakeup} ring in a named region has no wake descriptors to await: create it \
         with Region::create_anonymous (passed with send_over or handoff), or use a connection"
    )]
    NoWakeDescriptors {
        /// The ring's wakeup.
        wakeup: crate::WakeupKind,
    },
}

impl Waiter {
    pub(crate) fn new(link: &Link) -> Result<Self, NotPollable> {
        let mode = match link.own_bell() {
            Some((shared, index)) => Mode::Descriptor {
                bell: Some(Bell { shared, index }),
                registered: None,
            },
            None if link.wakeup_kind() == crate::WakeupKind::Spin => Mode::Spin,
            None => {
                return Err(NotPollable::NoWakeDescriptors {
                    wakeup: link.wakeup_kind(),
                })
            }
        };
        Ok(Waiter {
            mode,
            armed: None,
            spin: SpinState::Fresh,
            peer: None,
            timer: None,
        })
    }

    /// Waits until `over` may hold. `Ready(Ok(()))` means "try the operation
    /// again" (it may still find nothing: a spurious wakeup). Never blocks the
    /// thread longer than the spin budget. `over(ep, full)` checks the
    /// condition, and the peer's liveness too when `full` (cheap, but not free
    /// enough for every spin).
    pub(crate) fn poll_wait<E>(
        &mut self,
        cx: &mut Context<'_>,
        ep: &mut E,
        link: fn(&mut E) -> &mut Link,
        mut over: impl FnMut(&mut E, bool) -> bool,
    ) -> Poll<io::Result<()>> {
        if self.armed.is_none() {
            if self.spin != SpinState::Over {
                if let Some(budget) = link(ep).polled_spin_budget() {
                    if matches!(self.mode, Mode::Spin) {
                        // Spin rings never sleep: poll again on the next turn.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    if spin_slice(|full| over(ep, full)) {
                        self.spin = SpinState::Fresh;
                        return Poll::Ready(Ok(()));
                    }
                    let now = Instant::now();
                    let since = match self.spin {
                        SpinState::Since(since) => since,
                        _ => now,
                    };
                    if now.saturating_duration_since(since) < budget {
                        // Budget left: let every other ready task run, then
                        // spin on (the runtime polls this task again).
                        self.spin = SpinState::Since(since);
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                self.spin = SpinState::Over;
            }
            let seq = link(ep).arm_polled();
            if over(ep, true) {
                link(ep).disarm_polled(seq);
                self.spin = SpinState::Fresh;
                return Poll::Ready(Ok(()));
            }
            self.armed = Some(seq);
        }
        match self.poll_bell(cx) {
            Poll::Ready(result) => {
                self.finish(link(ep));
                return Poll::Ready(result);
            }
            Poll::Pending => {}
        }
        if self.poll_peer(cx, link(ep)).is_ready() {
            self.finish(link(ep));
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    /// Ends a wait: disarms if still armed, so that sends make no system call.
    pub(crate) fn finish(&mut self, link: &Link) {
        if let Some(seq) = self.armed.take() {
            link.disarm_polled(seq);
        }
        self.spin = SpinState::Fresh;
    }

    /// Ready once the wake descriptor was rung (and drained).
    fn poll_bell(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Mode::Descriptor { bell, registered } = &mut self.mode else {
            return Poll::Pending;
        };
        if registered.is_none() {
            let Some(bell) = bell.take() else {
                return Poll::Pending;
            };
            *registered = Some(register(bell, Interest::READABLE)?);
        }
        let Some(fd) = registered.as_ref() else {
            return Poll::Pending;
        };
        let mut guard = ready!(fd.poll_read_ready(cx))?;
        let mut byte = [0u8; 1];
        for _ in 0..DRAIN_MAX {
            let Some(own) = guard.get_ref().get_ref().fd() else {
                break;
            };
            match rustix::net::recv(own, &mut byte, RecvFlags::DONTWAIT) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => {
                    // Observed empty: only now may tokio forget the readiness.
                    guard.clear_ready();
                    break;
                }
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Ready once the peer's process has exited (its death is then recorded
    /// on the endpoint's liveness state), or, where its process cannot be
    /// watched by descriptor, once per liveness interval.
    fn poll_peer(&mut self, cx: &mut Context<'_>, link: &mut Link) -> Poll<()> {
        if self.peer.is_none() {
            if let Some(fd) = link.peer_pidfd() {
                self.peer = register(fd, Interest::READABLE).ok();
            }
        }
        if let Some(pidfd) = &self.peer {
            return match pidfd.poll_read_ready(cx) {
                Poll::Ready(_) => {
                    link.check_peer_now();
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            };
        }
        let interval = link.liveness_interval();
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                timer.as_mut().reset(tokio::time::Instant::now() + interval);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Polls `over` [`SPIN_CHECKS_PER_POLL`] times; whether it held. The last
/// check includes the liveness check (cheap, but not free enough for every
/// check).
fn spin_slice(mut over: impl FnMut(bool) -> bool) -> bool {
    for i in 0..SPIN_CHECKS_PER_POLL {
        if over(i + 1 == SPIN_CHECKS_PER_POLL) {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}
