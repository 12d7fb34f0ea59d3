//! `ipcbench names`: how long a name takes to resolve and a connection by
//! name takes to open, through the local name service (the rendezvous
//! directory) and, when an endpoint is given, an etcd cluster.
//!
//! Each service gets a listener bound by name with that service (the
//! listener accepts on a thread and drops what it accepts). Then, in rounds
//! that alternate between the services, `resolve` of that name and a whole
//! `connect` by name are timed one call at a time. The figures are p50 and
//! p99 over all samples, with the spread of the per-round p50s. etcd is
//! measured only when an endpoint is given (`--etcd`, else `MEMPIPE_ETCD`)
//! and the build has ipcbench's `etcd` feature; otherwise it is skipped with
//! the reason, in the output and the JSON.

use anyhow::Context;
use mempipe::conn::names::{self, NameHold, NameService, Names, Registration, ETCD_ENV};
use mempipe::{ConnConfig, Listener};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The options of `ipcbench names`.
pub(crate) struct NamesArgs {
    pub(crate) etcd: Option<String>,
    pub(crate) samples: u32,
    pub(crate) rounds: u32,
    pub(crate) out: PathBuf,
}

/// Percentiles of one measured call, nanoseconds.
#[derive(Debug, Serialize)]
struct Figures {
    samples: usize,
    p50_ns: u64,
    p99_ns: u64,
    min_ns: u64,
    max_ns: u64,
    /// The p50 of each round, in order.
    rounds_p50_ns: Vec<u64>,
}

/// One service's results, or why it was skipped.
#[derive(Debug, Serialize)]
struct ServiceResult {
    service: &'static str,
    described: Option<String>,
    resolve: Option<Figures>,
    connect: Option<Figures>,
    skipped: Option<String>,
}

/// The result file.
#[derive(Debug, Serialize)]
struct NamesFile {
    tool: &'static str,
    version: &'static str,
    created_unix_s: u64,
    samples_per_round: u32,
    rounds: u32,
    services: Vec<ServiceResult>,
}

/// A bound listener serving connects until dropped.
struct Served {
    name: String,
    config: ConnConfig,
    service: Box<dyn NameService>,
    _hold: Option<NameHold>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: PathBuf,
    resolve: Vec<Vec<u64>>,
    connect: Vec<Vec<u64>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn serve(label: &str, names: Names) -> anyhow::Result<Served> {
    let tag = format!("ipcbench-names-{}-{label}", std::process::id());
    let dir = std::env::temp_dir().join(&tag);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let config = ConnConfig::new()
        .names(names)
        .rendezvous_dir(&dir)
        .without_machine_profile()
        .connect_timeout(Duration::from_secs(10));
    let service = names::open(&config)?;
    let listener = Listener::bind(&tag, &config)?;
    // A listener registers itself with a cluster service only; in the local
    // one the name is registered here, pointing at its rendezvous socket.
    let hold = match label {
        "local" => {
            let mut me = Registration::this_process();
            me.rendezvous = Some(listener.path().to_owned());
            Some(service.register(&tag, &me)?)
        }
        _ => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stopped.load(Ordering::Acquire) && !crate::stop::should_stop() {
            let _ = listener.accept_timeout(Duration::from_millis(20));
        }
    });
    Ok(Served {
        name: tag,
        config,
        service,
        _hold: hold,
        stop,
        thread: Some(thread),
        dir,
        resolve: Vec::new(),
        connect: Vec::new(),
    })
}

/// Times `samples` calls of `f`, nanoseconds each.
fn time(samples: u32, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(samples as usize);
    for _ in 0..samples {
        let t = Instant::now();
        f()?;
        out.push(t.elapsed().as_nanos() as u64);
    }
    Ok(out)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p / 100.0).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn figures(rounds: &[Vec<u64>]) -> Figures {
    let mut all: Vec<u64> = rounds.iter().flatten().copied().collect();
    all.sort_unstable();
    let rounds_p50_ns = rounds
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.sort_unstable();
            percentile(&r, 50.0)
        })
        .collect();
    Figures {
        samples: all.len(),
        p50_ns: percentile(&all, 50.0),
        p99_ns: percentile(&all, 99.0),
        min_ns: all.first().copied().unwrap_or(0),
        max_ns: all.last().copied().unwrap_or(0),
        rounds_p50_ns,
    }
}

/// The etcd endpoints to use: `--etcd`, else `MEMPIPE_ETCD`.
fn etcd_endpoints(arg: Option<&str>) -> Option<Vec<String>> {
    let text = match arg {
        Some(a) => a.to_owned(),
        None => std::env::var(ETCD_ENV).ok()?,
    };
    let endpoints: Vec<String> = text
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    (!endpoints.is_empty()).then_some(endpoints)
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

/// The spread of the round p50s: (max - min) / median, percent.
fn spread(f: &Figures) -> String {
    let mut r = f.rounds_p50_ns.clone();
    r.sort_unstable();
    let (Some(lo), Some(hi)) = (r.first(), r.last()) else {
        return "-".into();
    };
    let median = percentile(&r, 50.0).max(1);
    format!("{:.0}%", (hi - lo) as f64 * 100.0 / median as f64)
}

/// The report section, as text.
fn render(file: &NamesFile) -> String {
    let mut s = format!(
        "Name resolution and connect by name ({} rounds of {} calls, alternating services)\n",
        file.rounds, file.samples_per_round
    );
    s += &format!(
        "{:<7} {:<9} {:>11} {:>11} {:>11} {:>14}\n",
        "service", "call", "p50", "p99", "max", "round spread"
    );
    for svc in &file.services {
        if let Some(why) = &svc.skipped {
            s += &format!("{:<7} skipped: {why}\n", svc.service);
            continue;
        }
        for (call, f) in [("resolve", &svc.resolve), ("connect", &svc.connect)] {
            if let Some(f) = f {
                s += &format!(
                    "{:<7} {:<9} {:>11} {:>11} {:>11} {:>14}\n",
                    svc.service,
                    call,
                    us(f.p50_ns),
                    us(f.p99_ns),
                    us(f.max_ns),
                    spread(f)
                );
            }
        }
    }
    s
}

/// Runs `ipcbench names`.
pub(crate) fn run(args: &NamesArgs) -> anyhow::Result<()> {
    let mut services: Vec<(&'static str, Result<Served, String>)> = vec![(
        "local",
        serve("local", Names::Local).map_err(|e| e.to_string()),
    )];
    match etcd_endpoints(args.etcd.as_deref()) {
        Some(endpoints) => services.push((
            "etcd",
            serve("etcd", Names::Etcd(endpoints)).map_err(|e| e.to_string()),
        )),
        None => services.push((
            "etcd",
            Err(format!(
                "no etcd endpoint: give --etcd URL or set {ETCD_ENV} (ipcbench starts no etcd)"
            )),
        )),
    }
    for round in 0..=args.rounds {
        for (_, served) in services.iter_mut() {
            let Ok(s) = served else { continue };
            let resolve = time(args.samples, || {
                s.service.resolve(&s.name, Duration::from_secs(5))?;
                Ok(())
            })?;
            let connect = time(args.samples, || {
                drop(mempipe::connect(s.name.as_str(), &s.config)?);
                Ok(())
            })?;
            // Round 0 warms up (connections to etcd, caches) and is not kept.
            if round > 0 {
                s.resolve.push(resolve);
                s.connect.push(connect);
            }
        }
    }
    let created_unix_s = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let file = NamesFile {
        tool: "ipcbench",
        version: env!("CARGO_PKG_VERSION"),
        created_unix_s,
        samples_per_round: args.samples,
        rounds: args.rounds,
        services: services
            .into_iter()
            .map(|(service, served)| match served {
                Ok(s) => ServiceResult {
                    service,
                    described: Some(s.service.describe()),
                    resolve: Some(figures(&s.resolve)),
                    connect: Some(figures(&s.connect)),
                    skipped: None,
                },
                Err(why) => ServiceResult {
                    service,
                    described: None,
                    resolve: None,
                    connect: None,
                    skipped: Some(why),
                },
            })
            .collect(),
    };
    print!("{}", render(&file));
    write(&args.out, created_unix_s, &file)
}

fn write(dir: &Path, stamp: u64, file: &NamesFile) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let path = dir.join(format!("names-{stamp}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(file)?)
        .with_context(|| format!("write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_rounds() {
        let f = figures(&[vec![5, 1, 3], vec![2, 4, 100]]);
        assert_eq!((f.samples, f.min_ns, f.max_ns), (6, 1, 100));
        assert_eq!(f.p50_ns, 4);
        assert_eq!(f.p99_ns, 100);
        assert_eq!(f.rounds_p50_ns, [3, 4]);
    }

    /// The local service is timed for real; etcd without an endpoint is
    /// skipped with the reason, in the file.
    #[test]
    fn local_timed_and_etcd_skipped_without_an_endpoint() {
        let out = tempfile::tempdir().unwrap();
        let args = NamesArgs {
            etcd: None,
            samples: 3,
            rounds: 2,
            out: out.path().to_owned(),
        };
        run(&args).unwrap();
        let file = std::fs::read_dir(out.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let local = &v["services"][0];
        assert_eq!(local["service"], "local");
        assert_eq!(local["resolve"]["samples"], 6);
        assert_eq!(local["connect"]["samples"], 6);
        if std::env::var(ETCD_ENV).is_err() {
            let etcd = &v["services"][1];
            assert!(etcd["skipped"].as_str().unwrap().contains("--etcd"));
        }
    }
}
