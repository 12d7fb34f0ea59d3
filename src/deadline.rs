//! How long a call may wait: one type for ring endpoints, TCP connections and
//! handshakes, so a timeout given once is the same deadline on every path.

use crate::platform;
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
            Deadline::Within(timeout) => platform::now()
                .checked_add(timeout)
                .map_or(Deadline::Forever, Deadline::At),
            other => other,
        }
    }

    /// The instant the wait ends, `None` for never (a relative deadline is
    /// fixed now; not waiting ends now).
    pub(crate) fn instant(self) -> Option<Instant> {
        match self {
            Deadline::NonBlocking => Some(platform::now()),
            Deadline::Forever => None,
            Deadline::Within(timeout) => platform::now().checked_add(timeout),
            Deadline::At(at) => Some(at),
        }
    }

    /// The time left, `None` for no limit; zero once the deadline has passed.
    pub(crate) fn left(self) -> Option<Duration> {
        self.instant()
            .map(|at| at.saturating_duration_since(platform::now()))
    }

    /// The earlier of two deadlines, fixed to an instant.
    pub(crate) fn min(self, other: Deadline) -> Deadline {
        match (self.instant(), other.instant()) {
            (Some(a), Some(b)) => Deadline::At(a.min(b)),
            (Some(a), None) | (None, Some(a)) => Deadline::At(a),
            (None, None) => Deadline::Forever,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn min_takes_the_earlier_and_left_stops_at_zero() {
        let soon = Deadline::after(Duration::from_millis(1)).resolve();
        let later = Deadline::after(Duration::from_secs(3600));
        let Deadline::At(at) = soon.min(later) else {
            panic!("min of two limits is an instant")
        };
        assert_eq!(Some(at), soon.instant());
        assert!(matches!(
            Deadline::Forever.min(Deadline::Forever),
            Deadline::Forever
        ));
        assert_eq!(Deadline::Forever.left(), None);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(soon.left(), Some(Duration::ZERO));
        assert_eq!(Deadline::NonBlocking.left(), Some(Duration::ZERO));
    }
}
