//! `ipcbench fanin`: many client processes into one server. Each client
//! makes a fixed number of request/response round trips; the server is one
//! thread. Measured per server variant and client count: total requests per
//! second, round-trip p50/p99 over every client, per-client completion
//! (fairness: the slowest client's completion time over the median's), and
//! the server thread's CPU use while every client is connected and idle.
//!
//! `client` is the re-executed client process, `server` the servers,
//! `output` the table, JSON and HTML.

pub(crate) mod client;
mod output;
mod server;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// A server (and the matching client transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Variant {
    /// mempipe async connections with the default configuration (hybrid).
    MempipeAsync,
    /// mempipe async connections with `Intent::Pollable` (eventfd).
    MempipePollable,
    /// mempipe async connections, hybrid with no spin budget (no side spins).
    MempipeNospin,
    /// tokio `UnixStream`, one task per connection.
    TokioUnix,
    /// A plain epoll loop over UNIX stream sockets.
    EpollUnix,
}

impl Variant {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::MempipeAsync => "mempipe-async",
            Variant::MempipePollable => "mempipe-pollable",
            Variant::MempipeNospin => "mempipe-nospin",
            Variant::TokioUnix => "tokio-unix",
            Variant::EpollUnix => "epoll-unix",
        }
    }

    /// The connection configuration (both sides), for mempipe variants.
    fn mempipe_config(self, rendezvous: &Path) -> Option<mempipe::ConnConfig> {
        let base = mempipe::ConnConfig::new()
            .rendezvous_dir(rendezvous)
            .ring_capacity(16 << 10)
            .max_message(4096)
            .max_handshakes(1024)
            .connect_timeout(Duration::from_secs(60))
            .raise_fd_limit(true);
        match self {
            Variant::MempipeAsync => Some(base),
            Variant::MempipePollable => Some(base.intent(mempipe::conn::Intent::Pollable)),
            Variant::MempipeNospin => Some(base.spin_budget(Duration::ZERO)),
            Variant::TokioUnix | Variant::EpollUnix => None,
        }
    }
}

/// `ipcbench fanin` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct FaninArgs {
    /// Client process counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) clients: Vec<u32>,
    /// Servers to compare, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mempipe-async,mempipe-pollable,mempipe-nospin,tokio-unix,epoll-unix"
    )]
    pub(crate) servers: Vec<Variant>,
    /// Round trips per client.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(crate) requests: u64,
    /// Message size in bytes (request and response).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub(crate) size: u64,
    /// Repeats of every (server, clients) cell, each with fresh processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) repeats: u32,
    /// How long the server's CPU use is sampled with every client idle, ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub(crate) idle_ms: u64,
    /// Directory for the result files.
    #[arg(long, default_value = "ipcbench-results")]
    pub(crate) out: PathBuf,
}

/// One measured (server, clients, repeat) cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FaninRow {
    pub(crate) server: String,
    pub(crate) clients: u32,
    pub(crate) repeat: u32,
    pub(crate) requests_per_client: u64,
    pub(crate) size: u64,
    pub(crate) requests_per_s: f64,
    pub(crate) p50_ns: u64,
    pub(crate) p99_ns: u64,
    /// Completion times from the common start, ms: first, median, last.
    pub(crate) first_done_ms: f64,
    pub(crate) median_done_ms: f64,
    pub(crate) last_done_ms: f64,
    /// Server thread CPU over the idle window, percent of one core.
    pub(crate) idle_server_cpu_pct: f64,
}

/// `CLOCK_MONOTONIC` in ns, comparable between processes.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time (user + system) of thread `tid` of this process, in clock ticks.
fn thread_cpu_ticks(tid: i32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))?;
    // Fields after the command name, which ends with the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    Ok(num(11) + num(12))
}

/// Entry of `ipcbench fanin`.
pub(crate) fn run(args: &FaninArgs) -> anyhow::Result<()> {
    crate::stop::install_handlers();
    raise_fd_limit();
    let dir = tempfile_dir()?;
    let mut rows = Vec::new();
    let started = std::time::Instant::now();
    for &clients in &args.clients {
        for repeat in 0..args.repeats {
            for &variant in &args.servers {
                if crate::stop::interrupted() {
                    break;
                }
                let row = cell(args, variant, clients, repeat, &dir)
                    .with_context(|| format!("{} with {clients} clients", variant.name()))?;
                eprintln!("{}", output::row_line(&row));
                rows.push(row);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    print!("{}", output::table(&rows));
    let paths = output::write(&rows, args, &args.out)?;
    println!("took {:.1} s; wrote:", started.elapsed().as_secs_f64());
    for p in paths {
        println!("  {}", p.display());
    }
    Ok(())
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit the calls read and write.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A private directory for this run's sockets and names.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ipcbench-fanin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

struct ClientProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for ClientProc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_client(spec: &client::ClientSpec) -> anyhow::Result<ClientProc> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("__fanin-client")
        .arg(serde_json::to_string(spec)?)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn a client process")?;
    let stdin = child.stdin.take().context("client stdin")?;
    let stdout = BufReader::new(child.stdout.take().context("client stdout")?);
    Ok(ClientProc {
        child,
        stdin,
        stdout,
    })
}

fn read_line(p: &mut ClientProc) -> anyhow::Result<String> {
    let mut line = String::new();
    p.stdout.read_line(&mut line)?;
    if line.is_empty() {
        let status = p.child.wait()?;
        anyhow::bail!("a client exited early ({status}); its stderr says why");
    }
    Ok(line)
}

fn cell(
    args: &FaninArgs,
    variant: Variant,
    clients: u32,
    repeat: u32,
    dir: &Path,
) -> anyhow::Result<FaninRow> {
    let address = match variant {
        Variant::MempipeAsync | Variant::MempipePollable | Variant::MempipeNospin => {
            format!("fanin-{}-{clients}-{repeat}", variant.name())
        }
        _ => dir
            .join(format!("{}-{clients}-{repeat}.sock", variant.name()))
            .display()
            .to_string(),
    };
    let size = args.size as usize;
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let server = {
        let (address, dir) = (address.clone(), dir.to_path_buf());
        std::thread::spawn(move || {
            server::serve(variant, &address, &dir, clients as usize, size, || {
                let _ = tid_tx.send(rustix::thread::gettid().as_raw_nonzero().get());
            })
        })
    };
    let tid = match tid_rx.recv() {
        Ok(tid) => tid,
        Err(_) => {
            return Err(server
                .join()
                .map_err(|_| anyhow::anyhow!("the server panicked"))?
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the server ended before binding")));
        }
    };
    let spec = client::ClientSpec {
        variant,
        address,
        rendezvous: dir.to_path_buf(),
        requests: args.requests,
        size,
    };
    let mut procs = Vec::with_capacity(clients as usize);
    for _ in 0..clients {
        procs.push(spawn_client(&spec)?);
    }
    for p in &mut procs {
        let line = read_line(p)?;
        anyhow::ensure!(line.trim() == "ready", "a client said {line:?}, not ready");
    }
    // Every client connected, answered once and now waits: the server idles.
    let ticks0 = thread_cpu_ticks(tid)?;
    std::thread::sleep(Duration::from_millis(args.idle_ms));
    let ticks = thread_cpu_ticks(tid)?.saturating_sub(ticks0);
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let idle_server_cpu_pct = ticks as f64 / hz / (args.idle_ms as f64 / 1000.0) * 100.0;

    let start = monotonic_ns() + 50_000_000 + clients as u64 * 50_000;
    for p in &mut procs {
        writeln!(p.stdin, "go {start}")?;
        p.stdin.flush()?;
    }
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 2)?;
    let mut done = Vec::with_capacity(procs.len());
    for p in &mut procs {
        let line = read_line(p)?;
        let report: client::ClientReport =
            serde_json::from_str(line.trim()).context("a client's report")?;
        for (v, n) in report.latency {
            hist.saturating_record_n(v, n);
        }
        done.push(report.done_ns.saturating_sub(start) as f64 / 1e6);
    }
    for p in &mut procs {
        let status = p.child.wait()?;
        anyhow::ensure!(status.success(), "a client failed ({status})");
    }
    drop(procs);
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the server panicked"))??;
    done.sort_by(f64::total_cmp);
    let last = done.last().copied().unwrap_or(0.0);
    Ok(FaninRow {
        server: variant.name().to_owned(),
        clients,
        repeat,
        requests_per_client: args.requests,
        size: args.size,
        requests_per_s: (clients as u64 * args.requests) as f64 / (last / 1e3).max(1e-9),
        p50_ns: hist.value_at_quantile(0.5),
        p99_ns: hist.value_at_quantile(0.99),
        first_done_ms: done.first().copied().unwrap_or(0.0),
        median_done_ms: done.get(done.len() / 2).copied().unwrap_or(0.0),
        last_done_ms: last,
        idle_server_cpu_pct,
    })
}
