//! How long a live move between shared memory and TCP stalls the flow: the
//! longest gap between two consecutive messages at the receiver around each
//! move, and the throughput on each transport.
//!
//! ```text
//! cargo run --release --example migrate_gap -- --moves 200 --size 64
//! ```
//!
//! A listener and a client in one process, each on its own threads: the
//! client's sending half sends `--size`-byte messages as fast as it can and
//! moves the connection (shared memory ⇄ TCP, alternating) every
//! `--every` messages; the server's receiving half stamps every arrival. For
//! each move the gap is the longest interval between consecutive arrivals
//! from 50 messages before the move to 50 after it. Throughput is measured
//! over the messages between moves, per transport.

use clap::Parser;
use mempipe::conn::TransportKind;
use mempipe::{connect, ConnConfig, Listener};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Gap at the receiver during live moves, and throughput per transport.
#[derive(Debug, Clone, Parser)]
struct Args {
    /// Moves to make (alternating shared memory and TCP).
    #[arg(long, default_value_t = 200)]
    moves: u64,
    /// Messages between moves.
    #[arg(long, default_value_t = 20_000)]
    every: u64,
    /// Message size in bytes (16 or more: sequence number and move count).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(16..=65536))]
    size: u64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> ExitCode {
    let args = Args::parse();
    let size = args.size as usize;
    let name = format!("migrate-gap-{}", std::process::id());
    let config = ConnConfig::new().max_message(size.max(1024));
    let listener = match Listener::bind(&name, &config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bind {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let total = args.moves * args.every + args.every;
    let client_config = config.clone();
    let every = args.every;
    let sender = std::thread::spawn(move || {
        let conn = connect(name.as_str(), &client_config).expect("connect");
        let (mut tx, _rx) = conn.split();
        let mut buf = vec![0u8; size];
        let mut moves = 0u64;
        for seq in 0..total {
            if seq > 0 && seq % every == 0 {
                let to = match tx.transport().kind() {
                    TransportKind::SharedMemory => TransportKind::Tcp,
                    TransportKind::Tcp => TransportKind::SharedMemory,
                };
                tx.migrate(to, Duration::from_secs(5)).expect("move");
                moves += 1;
            }
            buf[..8].copy_from_slice(&seq.to_le_bytes());
            buf[8..16].copy_from_slice(&moves.to_le_bytes());
            tx.send(&buf).expect("send");
        }
    });
    let mut server = listener.accept().expect("accept");
    drop(listener);
    let mut arrivals = Vec::with_capacity(total as usize);
    let mut buf = Vec::new();
    for seq in 0..total {
        let n = server.recv(&mut buf).expect("recv");
        let got = u64::from_le_bytes(buf[..8].try_into().unwrap());
        assert!(
            n == size && got == seq,
            "message {seq}: got {got}, {n} bytes"
        );
        arrivals.push(Instant::now());
    }
    sender.join().expect("sender");
    // Gaps around each move, and throughput between moves by transport.
    let mut gaps = Vec::new();
    let (mut shm, mut tcp) = (Vec::new(), Vec::new());
    for m in 0..=args.moves {
        let start = (m * args.every) as usize;
        if m > 0 {
            let window = &arrivals[start - 50..start + 50];
            let gap = window
                .windows(2)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or_default();
            gaps.push(gap.as_secs_f64() * 1e6);
        }
        // Skip 100 messages each side of a move.
        let span = &arrivals[start + 100..start + args.every as usize - 100];
        let rate = (span.len() - 1) as f64 / (span[span.len() - 1] - span[0]).as_secs_f64();
        match m % 2 {
            0 => shm.push(rate / 1e6),
            _ => tcp.push(rate / 1e6),
        }
    }
    for v in [&mut gaps, &mut shm, &mut tcp] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "moves {}  size {size} B  gap at the receiver per move (us): p50 {:.0}  p99 {:.0}  max {:.0}  min {:.0}",
        args.moves,
        pct(&gaps, 0.5),
        pct(&gaps, 0.99),
        gaps[gaps.len() - 1],
        gaps[0]
    );
    for (what, v) in [("shared memory", &shm), ("TCP", &tcp)] {
        println!(
            "throughput on {what} (M msg/s over {} spans): median {:.2}  p10 {:.2}  p90 {:.2}",
            v.len(),
            pct(v, 0.5),
            pct(v, 0.1),
            pct(v, 0.9)
        );
    }
    ExitCode::SUCCESS
}
