//! ipcbench: per-core-pair IPC latency and throughput between two real
//! processes pinned to cores.
//!
//! Data flows one way, and the modules are layered in that order (no module
//! uses one above it; `scripts/import_cycles.py` checks):
//!
//! * bottom: `units` (how numbers are written), `capacity` (ring sizes), `stop`, `affinity`,
//!   `topology`, `machine`;
//! * `measure` (the loops and the `Endpoint` interface they drive) and
//!   `transport` (one module per mechanism, implementing it);
//! * `plan` (what to run, from `cli`) -> `run` (the rounds; `run::session`
//!   one pinned repeat, `run::child` the re-executed responder, `run::cells`
//!   a cell's result) -> `results` (schema, JSON/CSV, `results::query` the
//!   cell queries every reader shares);
//! * `analysis` (paired ratios, statistics, the machine profile, the advice)
//!   -> `check` (performance targets), `report` (HTML), `summary` (the
//!   terminal table), `profile` (the command);
//! * `rpc` (request/response through tonic and hyper, its own server
//!   processes and rounds) beside `run`, writing `results::rpc`, which
//!   `report` renders.

mod affinity;
mod analysis;
mod capacity;
mod check;
mod clean;
mod cli;
mod fanin;
mod machine;
mod measure;
mod naming;
mod plan;
mod profile;
mod report;
mod results;
mod rpc;
mod run;
mod stop;
mod summary;
mod topology;
mod transport;
mod units;

use anyhow::Context;
use clap::Parser;
use cli::{Cli, Command, RunArgs};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::List) => {
            list();
            Ok(())
        }
        Some(Command::Topology) => topology_cmd(),
        Some(Command::Report { files, out }) => report::write_report(&files, &out)
            .map(|()| println!("wrote {}", out.display()))
            .map_err(Into::into),
        Some(Command::Check { files, json }) => check::run(&files, json),
        Some(Command::Profile { file, install }) => profile::run(&file, install),
        Some(Command::Names {
            etcd,
            samples,
            rounds,
            out,
        }) => naming::run(&naming::NamesArgs {
            etcd,
            samples,
            rounds,
            out,
        }),
        Some(Command::Rpc(args)) => rpc_cmd(&args),
        Some(Command::Clean) => clean::run(),
        Some(Command::Fanin(args)) => fanin::run(&args),
        Some(Command::FaninClient { spec }) => {
            return ExitCode::from(fanin::client::main(&spec) as u8)
        }
        Some(Command::Child { spec }) => return ExitCode::from(run::child::main(&spec) as u8),
        Some(Command::RpcServer { spec }) => return ExitCode::from(rpc::server::main(&spec) as u8),
    };
    match result {
        Ok(()) if stop::interrupted() => ExitCode::from(130),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn list() {
    let all = transport::registry();
    let w = all.iter().map(|t| t.name().len()).max().unwrap_or(0);
    let mut text = String::new();
    for t in all {
        text += &format!("{:<w$}  {}\n", t.name(), t.description());
    }
    print_quietly(&text);
}

/// Print without panicking when stdout is a closed pipe (`| head`). SIGPIPE
/// stays ignored (Rust's default) because the transports need EPIPE.
fn print_quietly(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn topology_cmd() -> anyhow::Result<()> {
    machine::print_topology()?;
    let m = machine::Machine::detect()?;
    println!("representative pairs:");
    for (a, b, rel) in topology::representative_pairs(&m.topology) {
        println!("  {a}:{b}  {rel}");
    }
    Ok(())
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    stop::install_handlers();
    let machine = machine::Machine::detect().context("detect machine")?;
    let plan = plan::Plan::resolve(&args, &machine)?;
    let cells = plan.cells();
    let skipped = cells.iter().filter(|c| c.skip.is_some()).count();
    let est = plan.estimate();
    println!(
        "ipcbench: {} transports x {} pairs ({}) -> {} cells ({} skipped), {} repeat(s) of {} ms + {} ms warm-up",
        plan.transports.len(),
        plan.pairs.len(),
        plan.pairs_note,
        cells.len(),
        skipped,
        plan.repeats,
        plan.timing.duration.as_millis(),
        plan.timing.warmup.as_millis()
    );
    println!("estimated duration: {:.0} s", est.as_secs_f64().ceil());
    if args.dry_run {
        let mut text = String::new();
        for c in &cells {
            let note = c
                .skip
                .as_deref()
                .map(|r| format!("  (skipped: {r})"))
                .unwrap_or_default();
            text += &format!(
                "  {} {} {} B {}{note}\n",
                c.transport.name(),
                c.kind,
                c.size,
                c.pair
            );
        }
        print_quietly(&text);
        return Ok(());
    }
    let started = std::time::Instant::now();
    let run_id = format!(
        "ipcbench-{}-{:x}",
        std::process::id(),
        started.elapsed().as_nanos() ^ unix_now_ns()
    );
    let mut file = results::ResultFile::new(machine, plan.params());
    run::run(&plan, &mut file, &run_id)?;
    file.machine.load_avg = machine::Machine::load_now();
    if stop::interrupted() {
        eprintln!("interrupted: writing the cells measured so far");
    }
    print!("{}", summary::render(&file));
    println!();
    print!("{}", analysis::advice::advise(&file).text());
    let paths = write_outputs(&file, &args.out)?;
    println!("took {:.1} s; wrote:", started.elapsed().as_secs_f64());
    for p in &paths {
        println!("  {}", p.display());
    }
    if let Some(json) = paths
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
    {
        println!(
            "machine profile for mempipe connections: ipcbench profile {} [--install]",
            json.display()
        );
    }
    Ok(())
}

/// `ipcbench rpc`: measure, print the table and the targets, write the files.
fn rpc_cmd(args: &rpc::RpcArgs) -> anyhow::Result<()> {
    stop::install_handlers();
    let machine = machine::Machine::detect().context("detect machine")?;
    let started = std::time::Instant::now();
    let mut file = rpc::run(args, machine)?;
    file.machine.load_avg = machine::Machine::load_now();
    if let Some(run) = &file.rpc {
        print!("{}", rpc::table::render(run));
    }
    let paths = write_outputs(&file, &args.out)?;
    println!("took {:.1} s; wrote:", started.elapsed().as_secs_f64());
    for p in &paths {
        println!("  {}", p.display());
    }
    Ok(())
}

fn unix_now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Write `<host>-<UTC timestamp>.{json,csv,html}` into `dir`; when a file of
/// that stem exists (another run in the same second), `<stem>-2`, `-3`, ...:
/// never over an existing file.
fn write_outputs(
    file: &results::ResultFile,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--out {}: cannot create directory", dir.display()))?;
    let host: String = file
        .machine
        .hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let [json, csv, html] =
        reserve_paths(dir, &format!("{host}-{}", timestamp(file.created_unix_s)))?;
    results::write_json(file, &json)?;
    results::write_csv(file, &csv)?;
    report::write_report(std::slice::from_ref(&json), &html)?;
    Ok(vec![json, html, csv])
}

/// The first `<stem>[-N].{json,csv,html}` in `dir` of which none exists, with
/// the JSON file created (exclusively) to claim the name against a concurrent
/// run.
fn reserve_paths(dir: &std::path::Path, stem: &str) -> anyhow::Result<[PathBuf; 3]> {
    for n in 1..=1000 {
        let stem = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let [json, csv, html] =
            ["json", "csv", "html"].map(|ext| dir.join(format!("{stem}.{ext}")));
        if csv.exists() || html.exists() {
            continue;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&json)
        {
            Ok(_) => return Ok([json, csv, html]),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create {}", json.display()));
            }
        }
    }
    anyhow::bail!(
        "--out {}: 1000 result files named {stem}-*: choose another directory",
        dir.display()
    )
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn timestamp(unix_s: u64) -> String {
    let (y, m, d, secs) = units::civil_utc(unix_s);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_is_utc_civil_time() {
        assert_eq!(super::timestamp(0), "19700101-000000");
        assert_eq!(super::timestamp(1_709_210_096), "20240229-123456");
    }

    #[test]
    fn runs_in_the_same_second_get_their_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::reserve_paths(dir.path(), "host-20240229-123456").unwrap();
        let second = super::reserve_paths(dir.path(), "host-20240229-123456").unwrap();
        assert!(first[0].ends_with("host-20240229-123456.json"));
        assert!(second[0].ends_with("host-20240229-123456-2.json"));
        // A leftover CSV or HTML of a stem also moves the next run on.
        std::fs::write(dir.path().join("host-20240229-123456-3.html"), "").unwrap();
        let third = super::reserve_paths(dir.path(), "host-20240229-123456").unwrap();
        assert!(third[2].ends_with("host-20240229-123456-4.html"));
    }
}
