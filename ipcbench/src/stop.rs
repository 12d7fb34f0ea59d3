//! Cooperative stopping: Ctrl-C and per-cell deadlines.
//!
//! Two flags decide whether a measurement loop must stop: `INTERRUPTED`
//! (SIGINT/SIGTERM, sticky) and `EXPIRED` (the current cell's deadline passed,
//! reset per cell). Spinning waits poll [`should_stop`]; blocking syscalls are
//! kicked out with EINTR: the handlers are installed without `SA_RESTART`, and
//! once a flag is set the [`Watchdog`] thread sends SIGUSR1 to the measuring
//! thread every few milliseconds until the cell is over (repeating closes the
//! race where the flag is set just before the thread enters a syscall).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static EXPIRED: AtomicBool = AtomicBool::new(false);

/// True once the user pressed Ctrl-C (or we got SIGTERM).
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// True if the current loop must stop (interrupt or cell deadline).
#[inline]
pub(crate) fn should_stop() -> bool {
    EXPIRED.load(Ordering::Relaxed) || INTERRUPTED.load(Ordering::Relaxed)
}

extern "C" fn on_interrupt(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::Relaxed);
}

extern "C" fn on_kick(_sig: libc::c_int) {}

fn install(sig: libc::c_int, handler: extern "C" fn(libc::c_int), flags: libc::c_int) {
    // SAFETY: `sigaction` is plain old data, all-zero is a valid initial value;
    // the handlers only touch atomics, which is async-signal-safe; the pointers
    // passed to sigaction/sigemptyset point to this live local.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as libc::sighandler_t;
        sa.sa_flags = flags; // no SA_RESTART: blocking calls must see EINTR
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Install SIGINT/SIGTERM (set the flag; a second Ctrl-C kills outright via
/// SA_RESETHAND) and the no-op SIGUSR1 used to interrupt blocking calls.
pub(crate) fn install_handlers() {
    install(libc::SIGINT, on_interrupt, libc::SA_RESETHAND);
    install(libc::SIGTERM, on_interrupt, libc::SA_RESETHAND);
    install(libc::SIGUSR1, on_kick, 0);
}

/// Arms a deadline for the calling thread; disarmed on drop.
pub(crate) struct Watchdog {
    tx: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// From now until disarmed: when `deadline` passes set `EXPIRED`; while
    /// any stop flag is set, keep sending SIGUSR1 to the calling thread.
    pub(crate) fn arm(deadline: Instant) -> Watchdog {
        EXPIRED.store(false, Ordering::Relaxed);
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() };
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            block_signals_here();
            loop {
                let now = Instant::now();
                let wait = if should_stop() {
                    Duration::from_millis(3)
                } else {
                    // Sleep right through to the deadline: waking up now and
                    // then would put context switches on the measured CPU.
                    // Ctrl-C reaches the measuring thread directly (this
                    // thread blocks SIGINT); a signal that lands just before
                    // it enters a syscall is caught here at the deadline.
                    deadline.saturating_duration_since(now)
                };
                match rx.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return, // disarmed
                }
                if Instant::now() >= deadline {
                    EXPIRED.store(true, Ordering::Relaxed);
                }
                if should_stop() {
                    // SAFETY: `target` is the arming thread, which outlives this
                    // thread: `disarm` (also run on drop) joins us before the
                    // arming thread can leave the scope holding the Watchdog.
                    unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
                }
            }
        });
        Watchdog {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Stop watching; returns whether the deadline had passed.
    pub(crate) fn disarm(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        EXPIRED.swap(false, Ordering::Relaxed)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keep process-directed SIGINT/SIGTERM off the watchdog thread so that they
/// land on (and interrupt) the measuring thread.
fn block_signals_here() {
    // SAFETY: sigset_t is plain data initialised by sigemptyset before use;
    // pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Serialises tests that depend on the process-wide stop flags.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{fdio, XferError};

    #[test]
    fn watchdog_interrupts_a_blocked_read_and_resets() {
        let _guard = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        install_handlers();
        let (reader, _writer) = std::io::pipe().unwrap();
        let dog = Watchdog::arm(Instant::now() + Duration::from_millis(20));
        let mut buf = [0u8; 8];
        // Nobody writes: only the watchdog can end this read.
        let r = fdio::read_exact(&reader, &mut buf);
        assert!(matches!(r, Err(XferError::Stopped)), "{r:?}");
        assert!(dog.disarm(), "disarm reports the expiry");
        assert!(!should_stop(), "flag reset for the next cell");
    }
}
