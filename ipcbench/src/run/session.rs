//! One repeat of one cell: create the transport, start the pinned child,
//! run the parent's loop under a watchdog, collect the child, clean up.

use super::child::{ChildMsg, ChildSpec};
use crate::measure::latency::PingRun;
use crate::measure::throughput::StreamRun;
use crate::measure::Ended;
use crate::plan::Timing;
use crate::results::CorePair;
use crate::transport::{CellParams, Kind, Transport};
use crate::{affinity, stop};
use anyhow::{bail, Context};
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Extra time past warm-up + duration before a session counts as stuck.
pub(crate) const GRACE: Duration = Duration::from_millis(1000);
/// How long a child may take to start and attach.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The parent's measurement of one repeat.
pub(crate) enum Measured {
    Latency(PingRun),
    Throughput(StreamRun),
}

pub(crate) struct Session {
    pub(crate) measured: Measured,
    /// The watchdog fired: a hand-off did not complete in time.
    pub(crate) expired: bool,
    /// What the child reported at the end, if it did.
    pub(crate) child_end: Option<String>,
    /// Pages of the parent's rings per NUMA node, where the transport can say.
    pub(crate) ring_pages: Option<Vec<(u32, usize)>>,
}

/// Run one repeat. An `Err` means the session could not even start.
pub(crate) fn run(
    t: &dyn Transport,
    params: &CellParams,
    pair: CorePair,
    timing: Timing,
    verify: bool,
) -> anyhow::Result<Session> {
    affinity::pin_to(pair.a).with_context(|| format!("parent: pin to cpu {}", pair.a))?;
    let (mut ep, handoff) = t
        .create(params)
        .with_context(|| format!("{}: create", t.name()))?;
    let (ctl, ctl_child) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let window = t.flow_window(params);
    let budget = timing.warmup + timing.duration + GRACE;
    let spec = ChildSpec {
        transport: t.name().to_string(),
        params: params.clone(),
        cpu: pair.b,
        ctl_fd: ctl_child.as_raw_fd(),
        fds: handoff.fds.iter().map(|f| f.as_raw_fd()).collect(),
        args: handoff.args.clone(),
        verify,
        window,
        budget_ms: (START_TIMEOUT + budget).as_millis() as u64,
    };
    let mut inherit: Vec<RawFd> = spec.fds.clone();
    inherit.push(spec.ctl_fd);
    let mut cmd = Command::new(std::env::current_exe().context("locate own executable")?);
    cmd.arg("__child")
        .arg(serde_json::to_string(&spec)?)
        .stdin(Stdio::null());
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe syscalls (fcntl, prctl, getppid) on fds that are open
    // in the parent (owned by `handoff`/`ctl_child`, alive until after spawn).
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    };
    let child = cmd.spawn().context("spawn child process")?;
    let mut child = Reaper(Some(child));
    drop(handoff); // close our copies of the child's ends: EOF works both ways
    drop(ctl_child);

    let mut ctl = BufReader::new(UnixStream::from(ctl));
    ctl.get_ref().set_read_timeout(Some(START_TIMEOUT))?;
    match read_msg(&mut ctl) {
        Some(ChildMsg::Ready { cpu, .. }) if cpu == pair.b => {}
        Some(ChildMsg::Ready { cpu, .. }) => bail!("child runs on cpu {cpu}, not {}", pair.b),
        Some(ChildMsg::Failed { error }) => bail!("child: {error}"),
        Some(other) => bail!("child: unexpected message {other:?}"),
        None => bail!("child did not report ready ({})", child.exit_note()),
    }

    let watchdog = stop::Watchdog::arm(Instant::now() + budget);
    let size = params.size;
    let measured = match params.kind {
        Kind::Latency => Measured::Latency(ep.ping(size, timing.warmup, timing.duration, verify)),
        Kind::Throughput => {
            Measured::Throughput(ep.stream(size, timing.warmup, timing.duration, verify, window))
        }
    };
    let expired = watchdog.disarm();
    let parent_ok = match &measured {
        Measured::Latency(r) => r.ended == Ended::Done,
        Measured::Throughput(r) => r.ended == Ended::Done,
    };
    // A child that finished says so at once; one that is stuck gets a moment.
    let wait = if parent_ok {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(200)
    };
    ctl.get_ref().set_read_timeout(Some(wait))?;
    let child_end = match read_msg(&mut ctl) {
        Some(ChildMsg::Done { ended, .. }) => Some(ended),
        _ => None,
    };
    let ring_pages = ep.ring_pages();
    drop(ep);
    child.finish(Duration::from_millis(300));
    Ok(Session {
        measured,
        expired,
        child_end,
        ring_pages,
    })
}

fn read_msg(ctl: &mut BufReader<UnixStream>) -> Option<ChildMsg> {
    let mut line = String::new();
    loop {
        match ctl.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => return serde_json::from_str(line.trim()).ok(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && !stop::interrupted() => {
                continue
            }
            Err(_) => return None,
        }
    }
}

/// Owns the child: waits for it, kills it if it overruns, and always reaps
/// it (also on early returns and panics).
struct Reaper(Option<Child>);

impl Reaper {
    fn exit_note(&mut self) -> String {
        match self.0.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => format!("it exited with {status}"),
            _ => "it is still running".to_string(),
        }
    }

    /// Give the child `grace` to exit, then SIGKILL it; reap either way.
    fn finish(&mut self, grace: Duration) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
