//! Callers and their clock: each caller calls back to back from the start of
//! the warm-up to the end of the window; calls started inside the window are
//! recorded, at least one per caller. A repeat's figures come from all its callers together.

use crate::results::rpc::RpcRepeat;
use std::time::{Duration, Instant};

/// The warm-up's end and the window's end, shared by every caller of a repeat.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) from: Instant,
    pub(crate) until: Instant,
}

impl Window {
    /// A window that opens after `warmup` from now and lasts `duration`.
    pub(crate) fn after(warmup: Duration, duration: Duration) -> Window {
        let from = Instant::now() + warmup;
        Window {
            from,
            until: from + duration,
        }
    }
}

/// One caller's recorded calls.
#[derive(Debug)]
pub(crate) struct Recorder {
    window: Window,
    times_ns: Vec<u64>,
    last_end: Instant,
}

impl Recorder {
    pub(crate) fn new(window: Window) -> Recorder {
        Recorder {
            window,
            times_ns: Vec::new(),
            last_end: window.from,
        }
    }

    /// Whether to make another call: the window is still open, or this
    /// caller has no measured call yet (a stall across the whole window,
    /// e.g. on a loaded machine, still yields a figure).
    pub(crate) fn going(&self) -> bool {
        Instant::now() < self.window.until || self.times_ns.is_empty()
    }

    /// Records a call that started at `started` and has just ended, if it
    /// started inside the window.
    pub(crate) fn record(&mut self, started: Instant) {
        if started >= self.window.from {
            let now = Instant::now();
            self.times_ns
                .push(now.duration_since(started).as_nanos() as u64);
            self.last_end = now;
        }
    }
}

/// All callers' calls as one repeat; `None` if no call was recorded.
pub(crate) fn combine(callers: Vec<Recorder>) -> Option<RpcRepeat> {
    // The round is the caller's to set.
    let from = callers.first()?.window.from;
    let last_end = callers.iter().map(|r| r.last_end).max()?;
    let mut times: Vec<u64> = callers.into_iter().flat_map(|r| r.times_ns).collect();
    if times.is_empty() {
        return None;
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let seconds = last_end.duration_since(from).as_secs_f64();
    Some(RpcRepeat {
        round: 0,
        p50_ns: at(0.5),
        p99_ns: at(0.99),
        requests_per_sec: times.len() as f64 / seconds.max(1e-9),
        requests: times.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_before_the_window_are_not_recorded() {
        let w = Window::after(Duration::from_secs(3600), Duration::from_secs(1));
        let mut r = Recorder::new(w);
        r.record(Instant::now());
        assert!(
            r.going(),
            "a caller keeps going until it has a measured call"
        );
        assert!(combine(vec![r]).is_none());
    }

    #[test]
    fn percentiles_come_from_all_callers() {
        let w = Window::after(Duration::ZERO, Duration::from_secs(1));
        let mut a = Recorder::new(w);
        let mut b = Recorder::new(w);
        a.times_ns = vec![1, 2, 3];
        b.times_ns = vec![4, 5];
        a.last_end = w.from + Duration::from_millis(500);
        let r = combine(vec![a, b]).unwrap();
        assert_eq!((r.p50_ns, r.p99_ns, r.requests), (3, 5, 5));
        assert!((r.requests_per_sec - 10.0).abs() < 1e-6);
    }
}
