//! Two processes find each other by name (the name service `MEMPIPE_ETCD`
//! selects, else this host's) and talk over mutual TLS.
//!
//! ```sh
//! cargo run --example make_certs -- certs node-a node-b
//! MEMPIPE_ETCD=http://127.0.0.1:2379 cargo run --example tls_echo -- server app/echo --certs certs --node node-a
//! MEMPIPE_ETCD=http://127.0.0.1:2379 cargo run --example tls_echo -- client app/echo --certs certs --node node-b
//! ```
//!
//! The client prints whom it found (host, address, verified identity) and
//! the round-trip percentiles. `--baseline` (both sides) also measures plain
//! TCP_NODELAY round trips of the same size, interleaved with the TLS ones;
//! `--resolves N` times N name look-ups.

use clap::{Parser, Subcommand};
use mempipe::conn::names::{self, HostId, Registration};
use mempipe::conn::tls::{self, TlsConfig};
use mempipe::ConnConfig;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Register NAME and echo TLS clients.
    Server {
        /// The name to register (`app/echo`).
        name: String,
        #[command(flatten)]
        node: Node,
        /// Where to accept TCP.
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: String,
        /// Also echo plain TCP on a second port (for the client's --baseline).
        #[arg(long)]
        baseline: bool,
    },
    /// Find NAME, connect over TLS, time round trips.
    Client {
        /// The name to look up.
        name: String,
        #[command(flatten)]
        node: Node,
        /// The listener's certificate name (default: NAME's last segment).
        #[arg(long)]
        expect: Option<String>,
        /// Round trips.
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        /// Message size in bytes (at least 1).
        #[arg(long, default_value_t = 8)]
        size: usize,
        /// Interleave plain TCP round trips (the server needs --baseline).
        #[arg(long)]
        baseline: bool,
        /// Time this many name look-ups.
        #[arg(long, default_value_t = 0)]
        resolves: usize,
    },
}

#[derive(clap::Args)]
struct Node {
    /// Directory with ca.pem, NODE.pem, NODE.key (examples/make_certs.rs).
    #[arg(long)]
    certs: PathBuf,
    /// This node's certificate name.
    #[arg(long)]
    node: String,
}

impl Node {
    fn config(&self) -> Result<TlsConfig, String> {
        let file = |f: String| self.certs.join(f);
        TlsConfig::from_files(
            file("ca.pem".into()),
            file(format!("{}.pem", self.node)),
            file(format!("{}.key", self.node)),
        )
        .map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    let result = match Args::parse().role {
        Role::Server {
            name,
            node,
            bind,
            baseline,
        } => serve(&name, &node, &bind, baseline),
        Role::Client {
            name,
            node,
            expect,
            count,
            size,
            baseline,
            resolves,
        } => {
            let expect = expect.unwrap_or_else(|| name.rsplit('/').next().unwrap_or(&name).into());
            client(
                &name,
                &node,
                &expect,
                count,
                size.max(1),
                baseline,
                resolves,
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(name: &str, node: &Node, bind: &str, baseline: bool) -> Result<(), String> {
    let config = node.config()?;
    let listener = TcpListener::bind(bind).map_err(|e| format!("--bind {bind}: {e}"))?;
    let mut me = Registration::this_process();
    me.tcp
        .push(listener.local_addr().map_err(|e| e.to_string())?);
    if baseline {
        let plain = TcpListener::bind((me.tcp[0].ip(), 0)).map_err(|e| e.to_string())?;
        me.tcp.push(plain.local_addr().map_err(|e| e.to_string())?);
        std::thread::spawn(move || {
            for tcp in plain.incoming().flatten() {
                std::thread::spawn(move || plain_echo(tcp));
            }
        });
    }
    let service = names::open(&ConnConfig::default()).map_err(|e| e.to_string())?;
    let _hold = service.register(name, &me).map_err(|e| e.to_string())?;
    println!(
        "{name} registered in {} at {:?}",
        service.describe(),
        me.tcp
    );
    for tcp in listener.incoming().flatten() {
        let config = config.clone();
        // Each handshake on its own thread: a silent client delays no one.
        std::thread::spawn(
            move || match tls::accept(tcp, &config, Duration::from_secs(5)) {
                Ok(stream) => {
                    println!("client {}", stream.peer());
                    let mut conn = mempipe::Connection::over_tls(stream, 64 << 10);
                    let mut buf = Vec::new();
                    while conn.recv(&mut buf).is_ok() && conn.send(&buf).is_ok() {}
                }
                Err(e) => println!("refused a client: {e}"),
            },
        );
    }
    Ok(())
}

fn plain_echo(mut tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tcp.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Median and 99th percentile.
fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn client(
    name: &str,
    node: &Node,
    expect: &str,
    count: usize,
    size: usize,
    baseline: bool,
    resolves: usize,
) -> Result<(), String> {
    let config = node.config()?;
    let service = names::open(&ConnConfig::default()).map_err(|e| e.to_string())?;
    let found = service
        .resolve(name, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let here = if found.host == HostId::current() {
        "this host"
    } else {
        "another host"
    };
    println!(
        "{name}: pid {} on {here} ({}), at {:?}",
        found.pid, found.host, found.tcp
    );
    if resolves > 0 {
        let times = (0..resolves)
            .map(|_| {
                let t = Instant::now();
                service
                    .resolve(name, Duration::from_secs(10))
                    .map(|_| t.elapsed())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let (p50, p99) = percentiles(times);
        println!(
            "resolve through {}: p50 {p50:?} p99 {p99:?}",
            service.describe()
        );
    }
    let addr = found
        .tcp
        .first()
        .ok_or("the registration has no TCP address")?;
    let tcp = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    let stream =
        tls::connect(tcp, expect, &config, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    println!("connected to {}", stream.peer());
    let mut conn = mempipe::Connection::over_tls(stream, 64 << 10);
    let mut plain = match (baseline, found.tcp.get(1)) {
        (true, Some(a)) => {
            let s = TcpStream::connect(a).map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            Some(s)
        }
        (true, None) => return Err("--baseline: the server was not started with --baseline".into()),
        _ => None,
    };
    let msg = vec![0x5a; size];
    let (mut back, mut raw) = (Vec::new(), vec![0u8; size]);
    let (mut tls_times, mut plain_times) = (Vec::new(), Vec::new());
    // Rounds alternate, so both see the same machine load.
    for _ in 0..10 {
        for _ in 0..count / 10 {
            let t = Instant::now();
            conn.send(&msg).map_err(|e| e.to_string())?;
            conn.recv(&mut back).map_err(|e| e.to_string())?;
            tls_times.push(t.elapsed());
        }
        if let Some(s) = plain.as_mut() {
            for _ in 0..count / 10 {
                let t = Instant::now();
                s.write_all(&msg).map_err(|e| e.to_string())?;
                s.read_exact(&mut raw).map_err(|e| e.to_string())?;
                plain_times.push(t.elapsed());
            }
        }
    }
    let (p50, p99) = percentiles(tls_times);
    println!("TLS {size} B round trip: p50 {p50:?} p99 {p99:?}");
    if !plain_times.is_empty() {
        let (b50, b99) = percentiles(plain_times);
        println!(
            "plain TCP {size} B round trip: p50 {b50:?} p99 {b99:?}; TLS/plain p50 {:.2}",
            p50.as_secs_f64() / b50.as_secs_f64()
        );
    }
    Ok(())
}
