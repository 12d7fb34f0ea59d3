//! The hand-over of a connection's new legs between its two halves during a
//! move (see `Connection::migrate`): the half that learns of a leg queues
//! it, the other half takes it at its next call. Legs queue in the order
//! they were made, because moves can follow each other faster than the other
//! half calls; a flag lets a call check for a leg with one relaxed load.
//! Built on the platform facade, so the loom models check it.

use crate::platform::{AtomicU32, Mutex, Ordering};
use std::collections::VecDeque;

/// Legs one half hands the other, oldest first.
pub(crate) struct LegQueue<T> {
    /// Nonzero while `legs` holds a leg.
    ready: AtomicU32,
    legs: Mutex<VecDeque<T>>,
}

impl<T> Default for LegQueue<T> {
    fn default() -> Self {
        LegQueue {
            ready: AtomicU32::new(0),
            legs: Mutex::new(VecDeque::new()),
        }
    }
}

impl<T> LegQueue<T> {
    fn lock(&self) -> impl std::ops::DerefMut<Target = VecDeque<T>> + '_ {
        self.legs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a leg may be queued (one relaxed load: the lock that takes it
    /// orders everything else).
    #[inline(always)]
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) != 0
    }

    /// Queues a leg behind those already queued.
    pub(crate) fn put(&self, leg: T) {
        let mut legs = self.lock();
        legs.push_back(leg);
        self.ready.store(1, Ordering::Relaxed);
    }

    /// Takes every queued leg, oldest first.
    pub(crate) fn take_all(&self) -> VecDeque<T> {
        let mut legs = self.lock();
        self.ready.store(0, Ordering::Relaxed);
        std::mem::take(&mut *legs)
    }

    /// Takes the oldest queued leg.
    pub(crate) fn take_one(&self) -> Option<T> {
        let mut legs = self.lock();
        let leg = legs.pop_front();
        self.ready
            .store(u32::from(!legs.is_empty()), Ordering::Relaxed);
        leg
    }
}
