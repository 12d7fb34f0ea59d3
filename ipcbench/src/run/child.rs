//! The child process: `ipcbench __child <json>`, re-executed from the
//! parent's own binary. It pins itself first, attaches to the transport the
//! parent created, reports on the control socket, runs the responder side
//! (echo or sink), reports again and exits.
//!
//! Control protocol on the inherited control socket: one JSON line
//! [`ChildMsg::Ready`] (or [`ChildMsg::Failed`]) after attaching, one
//! [`ChildMsg::Done`] at the end. Measured data never goes through it.

use crate::measure::Ended;
use crate::transport::{self, CellParams, Handoff, Kind};
use crate::{affinity, stop};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Everything the child needs, passed as one JSON argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChildSpec {
    pub(crate) transport: String,
    pub(crate) params: CellParams,
    /// CPU to pin to.
    pub(crate) cpu: usize,
    /// Inherited control socket.
    pub(crate) ctl_fd: RawFd,
    /// Inherited transport fds, in handoff order.
    pub(crate) fds: Vec<RawFd>,
    pub(crate) args: Vec<String>,
    pub(crate) verify: bool,
    pub(crate) window: Option<u64>,
    /// The child gives up (and exits) this long after it starts.
    pub(crate) budget_ms: u64,
}

/// Messages on the control socket, one JSON object per line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub(crate) enum ChildMsg {
    Ready {
        cpu: usize,
        pid: u32,
    },
    Failed {
        error: String,
    },
    Done {
        received: u64,
        counted: u64,
        ended: String,
    },
}

fn send(ctl: &mut UnixStream, msg: &ChildMsg) {
    // If the parent is gone there is nobody to tell; PDEATHSIG ends us.
    if let Ok(mut line) = serde_json::to_vec(msg) {
        line.push(b'\n');
        let _ = ctl.write_all(&line);
    }
}

/// Whether `fd` is an open descriptor above stdio.
fn inherited(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags; any integer is a
    // valid argument (an unopened one yields EBADF).
    fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// Entry point of `ipcbench __child`. Returns the process exit code.
pub(crate) fn main(spec_json: &str) -> i32 {
    let started = Instant::now();
    let spec: ChildSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ipcbench __child: bad spec: {e} (this subcommand is internal)");
            return 2;
        }
    };
    // First thing: pin, so that nothing below runs on the wrong CPU.
    let pinned = affinity::pin_to(spec.cpu);
    // Die with the parent (also set in pre_exec; repeated for direct runs).
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    stop::install_handlers();
    // Refuse fds that are not open (a hand-typed `__child`), rather than
    // taking ownership of nothing. fds 0-2 are never ours to take.
    if let Some(bad) = std::iter::once(spec.ctl_fd)
        .chain(spec.fds.iter().copied())
        .find(|&fd| !inherited(fd))
    {
        eprintln!("ipcbench __child: fd {bad} was not inherited (this subcommand is internal)");
        return 2;
    }
    // SAFETY: the parent cleared CLOEXEC on exactly this fd and listed it in
    // our argv; nothing else in this fresh process owns it.
    let mut ctl = UnixStream::from(unsafe { OwnedFd::from_raw_fd(spec.ctl_fd) });
    let fds: Vec<OwnedFd> = spec
        .fds
        .iter()
        // SAFETY: as above, each listed fd was inherited for us alone.
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    let attached = (|| -> anyhow::Result<_> {
        pinned.with_context(|| format!("child: pin to cpu {}", spec.cpu))?;
        let t = transport::find(&spec.transport)
            .with_context(|| format!("unknown transport {}", spec.transport))?;
        let ep = t.attach(
            &spec.params,
            Handoff {
                fds,
                args: spec.args.clone(),
            },
        )?;
        Ok(ep)
    })();
    let mut ep = match attached {
        Ok(ep) => ep,
        Err(e) => {
            send(
                &mut ctl,
                &ChildMsg::Failed {
                    error: format!("{e:#}"),
                },
            );
            return 1;
        }
    };
    send(
        &mut ctl,
        &ChildMsg::Ready {
            cpu: rustix::thread::sched_getcpu(),
            pid: std::process::id(),
        },
    );

    let watchdog = stop::Watchdog::arm(started + Duration::from_millis(spec.budget_ms));
    let size = spec.params.size;
    let (received, counted, ended) = match spec.params.kind {
        Kind::Latency => {
            let r = ep.echo(size, spec.verify);
            (r.messages, r.messages, r.ended)
        }
        Kind::Throughput => {
            let r = ep.sink(size, spec.verify, spec.window);
            (r.received, r.counted, r.ended)
        }
    };
    watchdog.disarm();
    let ended = match ended {
        Ended::Done => "done".to_string(),
        Ended::Stopped => "stopped".to_string(),
        Ended::Failed(e) => format!("failed: {e}"),
    };
    send(
        &mut ctl,
        &ChildMsg::Done {
            received,
            counted,
            ended,
        },
    );
    0
}
