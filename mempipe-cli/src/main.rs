//! `mempipe`: the flows (listeners and connections) on this host, their
//! counters, leftovers of killed processes, and moving a flow to another
//! transport. Reads the per-user stats files every mempipe process
//! publishes (see `mempipe::conn::flows`); `--json` on every command.

mod view;

use clap::{Parser, Subcommand, ValueEnum};
use mempipe::conn::flows::{self, Flow, FlowKind, MoveOutcome, MoveTarget, ProcessFlows};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "mempipe",
    version,
    about = "See and manage mempipe flows on this host"
)]
struct Cli {
    /// Print JSON (stable field names, see docs/flows.md) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The rendezvous directory holding the stats files (default: the per-user one).
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Names on this host (and in the cluster when MEMPIPE_ETCD is set), their listeners and live connections.
    Ls {
        /// Only names under this prefix (`app` matches `app` and `app/...`).
        prefix: Option<String>,
    },
    /// One flow's counters: every live connection and listener with this name.
    Stat {
        /// The name (a listener's, or the address a client connected to).
        name: String,
    },
    /// A live view of the flows, refreshed every second, sorted by throughput.
    Top {
        /// Print one view (after one interval) and exit.
        #[arg(long)]
        once: bool,
        /// Print this many views and exit.
        #[arg(long, value_name = "N")]
        iterations: Option<u64>,
        /// Milliseconds between views.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
    },
    /// Remove leftovers of killed processes: stale rendezvous sockets and locks, dead stats files.
    Clean {
        /// Show what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Ask a connection to switch transport.
    Move {
        /// The connection's name.
        name: String,
        /// The transport to move to.
        to: Target,
        /// The owning process, when several connections have this name.
        #[arg(long)]
        pid: Option<u32>,
        /// The connection's slot (see `stat`), when its process has several.
        #[arg(long)]
        slot: Option<u32>,
        /// Seconds to wait for the flow's answer.
        #[arg(long, default_value_t = 5.0, value_name = "SECS")]
        timeout: f64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// TCP.
    Tcp,
    /// Shared memory.
    Shm,
}

/// A failure: its message, and an exit code (1 not found / failed, 2 usage).
struct Failure(String, u8);

fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into(), 1))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.dir.clone().unwrap_or_else(flows::default_dir);
    let result = match &cli.command {
        Command::Ls { prefix } => ls(&dir, prefix.as_deref().unwrap_or(""), cli.json),
        Command::Stat { name } => stat(&dir, name, cli.json),
        Command::Top {
            once,
            iterations,
            interval_ms,
        } => top(
            &dir,
            if *once { Some(1) } else { *iterations },
            Duration::from_millis(*interval_ms),
            cli.json,
        ),
        Command::Clean { dry_run } => clean(&dir, *dry_run, cli.json),
        Command::Move {
            name,
            to,
            pid,
            slot,
            timeout,
        } => move_flow(&dir, name, *to, *pid, *slot, *timeout, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg, code)) => {
            if cli.json {
                println!("{}", json!({ "error": msg }));
            } else {
                eprintln!("mempipe: {msg}");
            }
            ExitCode::from(code)
        }
    }
}

fn live(dir: &std::path::Path) -> Result<Vec<ProcessFlows>, Failure> {
    flows::read_dir(dir)
        .map(|all| all.into_iter().filter(|p| p.alive).collect())
        .map_err(|e| Failure(e.to_string(), 1))
}

fn under(name: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || name == prefix
        || name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'/')
}

fn ls(dir: &std::path::Path, prefix: &str, as_json: bool) -> Result<(), Failure> {
    let procs = live(dir)?;
    // Names the configured name service knows (local: registered names; etcd: the cluster's).
    let (service, registered) = match flows_names(prefix) {
        Ok(v) => v,
        Err(e) => (format!("unavailable: {e}"), Vec::new()),
    };
    let mut names: Vec<String> = procs
        .iter()
        .flat_map(|p| p.flows.iter().map(|f| f.name.clone()))
        .chain(registered.iter().map(|(n, _)| n.clone()))
        .filter(|n| under(n, prefix))
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    let mut text = String::new();
    for name in &names {
        let mut listeners = Vec::new();
        let mut connections = Vec::new();
        for p in &procs {
            for f in p.flows.iter().filter(|f| &f.name == name) {
                match f.kind {
                    FlowKind::Listener => listeners.push((p, f)),
                    FlowKind::Connection => connections.push((p, f)),
                }
            }
        }
        let reg = registered.iter().find(|(n, _)| n == name).map(|(_, r)| r);
        text += &format!("{name}\n");
        for (p, f) in &listeners {
            text += &format!(
                "  listener  pid {} ({}){}\n",
                p.pid,
                p.program,
                if f.peer.is_empty() {
                    String::new()
                } else {
                    format!(", {}", f.peer)
                }
            );
        }
        if let Some(r) = reg {
            text += &format!(
                "  registered pid {} on {}\n",
                r["pid"],
                r["host"].as_str().unwrap_or("?")
            );
        }
        for (p, f) in &connections {
            text += &format!(
                "  {:<9} pid {} <-> {} via {}, {} msgs out, {} msgs in, up {}\n",
                view::kind(f),
                p.pid,
                if f.peer.is_empty() { "-" } else { &f.peer },
                view::transport(f),
                f.tx.messages,
                f.rx.messages,
                view::age(f.started_unix_ns),
            );
        }
        out.push(json!({
            "name": name,
            "listeners": listeners.iter().map(|(p, f)| view::flow_json(p, f)).collect::<Vec<_>>(),
            "registered": reg,
            "connections": connections.iter().map(|(p, f)| view::flow_json(p, f)).collect::<Vec<_>>(),
        }));
    }
    if as_json {
        println!(
            "{}",
            json!({ "dir": dir, "name_service": service, "names": out })
        );
    } else if names.is_empty() {
        println!(
            "no names{} (stats in {})",
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" under {prefix}")
            },
            dir.display()
        );
    } else {
        print!("{text}");
    }
    Ok(())
}

/// The configured name service's names under `prefix`, as JSON records.
fn flows_names(prefix: &str) -> Result<(String, Vec<(String, Value)>), String> {
    let config = mempipe::ConnConfig::default();
    let service = mempipe::conn::names::open(&config).map_err(|e| e.to_string())?;
    let list = service.list(prefix).map_err(|e| e.to_string())?;
    Ok((
        service.describe(),
        list.into_iter()
            .map(|(name, r)| {
                let v = json!({
                    "pid": r.pid,
                    "host": r.host.to_string(),
                    "tcp": r.tcp.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "max_message": r.max_message,
                });
                (name, v)
            })
            .collect(),
    ))
}

fn stat(dir: &std::path::Path, name: &str, as_json: bool) -> Result<(), Failure> {
    let procs = live(dir)?;
    let found: Vec<(&ProcessFlows, &Flow)> = procs
        .iter()
        .flat_map(|p| p.flows.iter().map(move |f| (p, f)))
        .filter(|(_, f)| f.name == name)
        .collect();
    if found.is_empty() {
        return fail(format!(
            "no flow named {name:?} on this host (stats in {}); `mempipe ls` lists the names",
            dir.display()
        ));
    }
    if as_json {
        let flows: Vec<Value> = found.iter().map(|(p, f)| view::flow_json(p, f)).collect();
        println!("{}", json!({ "name": name, "flows": flows }));
    } else {
        for (p, f) in found {
            print!("{}", view::flow_text(p, f));
        }
    }
    Ok(())
}

type Key = (u32, u32, u64);

fn snapshot(dir: &std::path::Path) -> Result<Vec<(ProcessFlows, Flow)>, Failure> {
    Ok(live(dir)?
        .into_iter()
        .flat_map(|p| {
            let flows = p.flows.clone();
            flows.into_iter().map(move |f| (p.clone(), f))
        })
        .filter(|(_, f)| f.kind == FlowKind::Connection)
        .collect())
}

fn top(
    dir: &std::path::Path,
    iterations: Option<u64>,
    interval: Duration,
    as_json: bool,
) -> Result<(), Failure> {
    let key = |p: &ProcessFlows, f: &Flow| -> Key { (p.pid, f.slot, f.started_unix_ns) };
    let mut before: HashMap<Key, (u64, u64, u64, u64)> = HashMap::new();
    let mut at = Instant::now();
    for (p, f) in snapshot(dir)? {
        before.insert(
            key(&p, &f),
            (f.tx.bytes, f.rx.bytes, f.tx.messages, f.rx.messages),
        );
    }
    let mut shown = 0;
    loop {
        std::thread::sleep(interval);
        let now = snapshot(dir)?;
        let secs = at.elapsed().as_secs_f64().max(1e-9);
        at = Instant::now();
        let mut rows: Vec<(f64, f64, f64, f64, &ProcessFlows, &Flow)> = now
            .iter()
            .map(|(p, f)| {
                let (tb, rb, tm, rm) = before.get(&key(p, f)).copied().unwrap_or_default();
                (
                    f.tx.bytes.saturating_sub(tb) as f64 / secs,
                    f.rx.bytes.saturating_sub(rb) as f64 / secs,
                    f.tx.messages.saturating_sub(tm) as f64 / secs,
                    f.rx.messages.saturating_sub(rm) as f64 / secs,
                    p,
                    f,
                )
            })
            .collect();
        rows.sort_by(|a, b| (b.0 + b.1).total_cmp(&(a.0 + a.1)));
        if as_json {
            let flows: Vec<Value> = rows
                .iter()
                .map(|(tb, rb, tm, rm, p, f)| {
                    let mut v = view::flow_json(p, f);
                    v["rate"] = json!({
                        "tx_bytes_per_s": tb, "rx_bytes_per_s": rb,
                        "tx_messages_per_s": tm, "rx_messages_per_s": rm,
                    });
                    v
                })
                .collect();
            println!("{}", json!({ "interval_s": secs, "flows": flows }));
        } else {
            if iterations.is_none() {
                print!("\x1b[H\x1b[2J");
            }
            println!(
                "{:<24} {:>7} {:<7} {:<14} {:>9} {:>9} {:>9} {:>9} {:>8}",
                "NAME", "PID", "END", "TRANSPORT", "OUT B/s", "IN B/s", "OUT m/s", "IN m/s", "AGE"
            );
            for (tb, rb, tm, rm, p, f) in &rows {
                println!(
                    "{:<24} {:>7} {:<7} {:<14} {:>9} {:>9} {:>9} {:>9} {:>8}",
                    f.name,
                    p.pid,
                    view::kind(f),
                    view::transport(f),
                    view::bytes(*tb),
                    view::bytes(*rb),
                    view::bytes(*tm),
                    view::bytes(*rm),
                    view::age(f.started_unix_ns),
                );
            }
            if rows.is_empty() {
                println!("(no connections)");
            }
        }
        before = now
            .iter()
            .map(|(p, f)| {
                (
                    key(p, f),
                    (f.tx.bytes, f.rx.bytes, f.tx.messages, f.rx.messages),
                )
            })
            .collect();
        shown += 1;
        if iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
    }
}

fn clean(dir: &std::path::Path, dry_run: bool, as_json: bool) -> Result<(), Failure> {
    let found = flows::clean(dir, dry_run).map_err(|e| Failure(e.to_string(), 1))?;
    if as_json {
        let items: Vec<Value> = found
            .iter()
            .map(|l| {
                json!({
                    "path": l.path, "kind": l.kind.as_str(), "pid": l.pid, "removed": l.removed,
                })
            })
            .collect();
        println!("{}", json!({ "dry_run": dry_run, "leftovers": items }));
        return Ok(());
    }
    if found.is_empty() {
        println!("nothing to clean in {}", dir.display());
    }
    for l in &found {
        println!(
            "{} {} {}{}",
            if dry_run {
                "would remove"
            } else if l.removed {
                "removed"
            } else {
                "could not remove"
            },
            l.kind.as_str(),
            l.path.display(),
            l.pid
                .map(|p| format!(" (pid {p}, gone)"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn move_flow(
    dir: &std::path::Path,
    name: &str,
    to: Target,
    pid: Option<u32>,
    slot: Option<u32>,
    timeout: f64,
    as_json: bool,
) -> Result<(), Failure> {
    let target = match to {
        Target::Tcp => MoveTarget::Tcp,
        Target::Shm => MoveTarget::SharedMemory,
    };
    let procs = live(dir)?;
    let candidates: Vec<(&ProcessFlows, &Flow)> = procs
        .iter()
        .flat_map(|p| p.flows.iter().map(move |f| (p, f)))
        .filter(|(p, f)| {
            f.name == name
                && f.kind == FlowKind::Connection
                && pid.is_none_or(|x| x == p.pid)
                && slot.is_none_or(|x| x == f.slot)
        })
        .collect();
    let (p, f) = match candidates.as_slice() {
        [] => {
            return fail(format!(
                "no live connection named {name:?}{} on this host; `mempipe ls` lists them",
                pid.map(|p| format!(" in pid {p}")).unwrap_or_default()
            ))
        }
        [one] => *one,
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(p, f)| format!("--pid {} --slot {} ({})", p.pid, f.slot, view::kind(f)))
                .collect();
            return Err(Failure(
                format!(
                    "{} connections are named {name:?}; pick one with {}",
                    many.len(),
                    list.join(" or ")
                ),
                2,
            ));
        }
    };
    let request =
        flows::request_move(dir, p.pid, f.slot, target).map_err(|e| Failure(e.to_string(), 1))?;
    let until = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
    let outcome = loop {
        match flows::move_answer(dir, &request) {
            Ok(Some(o)) => break Some(o),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => break None,
            Err(e) => return fail(e.to_string()),
        }
    };
    let (word, ok) = match outcome {
        Some(MoveOutcome::Done) => ("done", true),
        Some(MoveOutcome::Failed) => ("failed", false),
        Some(MoveOutcome::Unsupported) => ("unsupported", false),
        Some(MoveOutcome::Invalid) => ("invalid", false),
        None => ("no answer", false),
    };
    if as_json {
        println!(
            "{}",
            json!({ "pid": p.pid, "slot": f.slot, "name": name, "to": to_str(to), "outcome": word })
        );
    } else if ok {
        println!(
            "{name} (pid {}, slot {}) now runs on {}",
            p.pid,
            f.slot,
            to_str(to)
        );
    }
    if ok {
        return Ok(());
    }
    fail(match outcome {
        None => format!("{name} (pid {}) did not answer within {timeout} s", p.pid),
        Some(MoveOutcome::Unsupported) => format!(
            "{name} (pid {}) cannot move to {}: its build does not support it",
            p.pid,
            to_str(to)
        ),
        _ => format!("moving {name} (pid {}) to {} {word}", p.pid, to_str(to)),
    })
}

fn to_str(t: Target) -> &'static str {
    match t {
        Target::Tcp => "tcp",
        Target::Shm => "shm",
    }
}
