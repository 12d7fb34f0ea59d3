//! What several examples share: the `--wakeup`, `--intent`, `--count` and
//! `--cores` values, the echo examples' command lines, pinning to a CPU,
//! starting this program again as its peer process with regions handed over,
//! running on tokio, and the exit status.

#![allow(dead_code)] // each example uses a different part

use clap::builder::{PossibleValuesParser, TypedValueParser};
use mempipe::conn::Intent;
use mempipe::{ConnConfig, Region, WakeupKind};
use std::fmt::Display;
use std::future::Future;
use std::process::{Child, Command, ExitCode, Stdio};

/// Parses `--wakeup`: a strategy's name (help and errors list them).
pub fn wakeup() -> impl TypedValueParser<Value = WakeupKind> {
    PossibleValuesParser::new(WakeupKind::ALL.map(WakeupKind::name))
        .map(|name| name.parse::<WakeupKind>().expect("one of the listed names"))
}

/// Parses a message size in bytes from `min` to `max` (`--size`, `--max-size`).
pub fn size(
    min: usize,
    max: usize,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |value| match value.parse::<usize>() {
        Ok(n) if n < min => Err(format!("{n} is too small: at least {min} bytes")),
        Ok(n) if n > max => Err(format!("{n} is too large: at most {max} bytes")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{value:?} is not a size in bytes")),
    }
}

/// Parses a count of at least 1 (`--iters`, `--count`).
pub fn count(value: &str) -> Result<u64, String> {
    match value.parse() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "{value:?} is not a count (a whole number, at least 1)"
        )),
    }
}

/// The echo servers' command line: the name to listen as, and a TCP address.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The name clients connect to (for example `echo`).
    pub name: String,
    /// Also accept plaintext TCP connections on this address (port 0: any
    /// free port); a loopback address unless `--tcp-off-host` is given.
    #[arg(long, value_name = "HOST:PORT")]
    pub tcp: Option<String>,
    /// Allow `--tcp` on an address other hosts can reach (plaintext: anyone
    /// who reaches it may connect).
    #[arg(long, requires = "tcp")]
    pub tcp_off_host: bool,
}

impl ServerArgs {
    /// The listener's configuration: the defaults, plus plaintext TCP if
    /// asked for.
    pub fn config(&self) -> ConnConfig {
        let config = match &self.tcp {
            Some(addr) => ConnConfig::default().plaintext_tcp(addr),
            None => ConnConfig::default(),
        };
        if self.tcp_off_host {
            config.allow_plaintext_off_host()
        } else {
            config
        }
    }
}

/// The echo clients' command line: where to connect and how many echoes.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// A connection name (`echo`) or address (`tcp://127.0.0.1:7000`, `127.0.0.1:7000`).
    pub address: String,
    /// How many messages to send and check.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = count)]
    pub count: u64,
}

/// Parses `--intent`: an intent's name (help and errors list them).
pub fn intent() -> impl TypedValueParser<Value = Intent> {
    PossibleValuesParser::new(Intent::ALL.map(Intent::name))
        .map(|name| name.parse::<Intent>().expect("one of the listed names"))
}

/// Parses `--cores A,B`: this process's CPU and its peer's.
pub fn cores(value: &str) -> Result<(usize, usize), String> {
    let bad = || format!("{value:?} is not two CPU numbers A,B (for example 0,1 or 0,0)");
    let (a, b) = value.split_once(',').ok_or_else(bad)?;
    let a: usize = a.trim().parse().map_err(|_| bad())?;
    let b: usize = b.trim().parse().map_err(|_| bad())?;
    let max = rustix::thread::CpuSet::MAX_CPU;
    if a >= max || b >= max {
        return Err(format!("CPU numbers must be below {max}"));
    }
    Ok((a, b))
}

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: usize) -> Result<(), String> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        format!("cannot pin to CPU {cpu}: {e} (this process may use {cpus} CPUs)")
    })
}

/// Starts this program again as its peer, with `--child` and the `--flag
/// value` pairs in `flags`, and each region handed over in the environment
/// variable paired with it (see [`handed_region`]). The peer's stdout goes to
/// `stdout`.
pub fn spawn_peer(
    flags: &[(&str, String)],
    regions: &[(&str, &Region)],
    stdout: Stdio,
) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = Command::new(exe);
    command.arg("--child").stdout(stdout);
    for (flag, value) in flags {
        command.args([flag, value.as_str()]);
    }
    let mut handoffs = Vec::with_capacity(regions.len());
    for &(var, region) in regions {
        let handoff = region.handoff().map_err(|e| format!("handoff: {e}"))?;
        command.env(var, handoff.token());
        handoffs.push(handoff);
    }
    let child = command.spawn().map_err(|e| format!("spawn the peer: {e}"));
    // The peer has its copies now (or failed to start): close this process's.
    drop(handoffs);
    child
}

/// In the peer started by [`spawn_peer`]: the region handed over in `var`.
/// Takes the variable out of the environment, so its descriptors are claimed
/// once.
pub fn handed_region(var: &str) -> Result<Region, String> {
    let token = std::env::var(var)
        .map_err(|_| format!("{var} is not set: --child is for this program's own use"))?;
    std::env::remove_var(var);
    // SAFETY: the token names descriptors the parent duplicated with
    // Region::handoff for this process and passed across exec; nothing else
    // here owns them, and the token was just taken out of the environment, so
    // it is used once.
    unsafe { Region::from_handoff(&token) }.map_err(|e| format!("{var}: {e}"))
}

/// Runs `run` on a current-thread tokio runtime; its exit status as
/// [`exit_code`] gives it.
pub fn run_on_tokio(
    who: &str,
    run: impl Future<Output = Result<(), Box<dyn std::error::Error>>>,
) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run),
        Err(e) => Err(e.into()),
    };
    exit_code(who, result)
}

/// The exit status of a run: failure, with `who: error` on stderr, if it failed.
pub fn exit_code(who: &str, result: Result<(), impl Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{who}: {e}");
            ExitCode::FAILURE
        }
    }
}
