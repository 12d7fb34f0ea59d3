//! What the flow counters cost: 64 B messages streamed one way over a
//! shared-memory connection between two threads, in messages per second.
//! Run it with and without counters (`MEMPIPE_FLOW_STATS=0` turns them off
//! for the process) to compare; docs/measurements.md has the protocol.
//!
//! ```text
//! cargo run --release --example flow_stats_cost -- --count 20000000
//! MEMPIPE_FLOW_STATS=0 cargo run --release --example flow_stats_cost -- --count 20000000
//! ```

use clap::Parser;
use mempipe::{connect, ConnConfig, Listener, WakeupKind};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Messages in the measured window.
    #[arg(long, default_value_t = 10_000_000)]
    count: u64,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// The rings' wakeup.
    #[arg(long, default_value_t = WakeupKind::Hybrid)]
    wakeup: WakeupKind,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let name = format!("flow-stats-cost-{}", std::process::id());
    let config = ConnConfig::default()
        .wakeup(args.wakeup)
        .connect_timeout(Duration::from_secs(10));
    let listener = Listener::bind(&name, &config)?;
    let count = args.count;
    let size = args.size;
    let receiver = std::thread::spawn(move || -> Result<(u64, Duration), mempipe::RecvError> {
        let mut conn = listener.accept().expect("accept");
        let mut buf = vec![0u8; size];
        conn.recv_into(&mut buf)?; // message 0 starts the window
        let start = Instant::now();
        let mut got = 0;
        while got < count {
            conn.recv_into(&mut buf)?;
            got += 1;
        }
        Ok((got, start.elapsed()))
    });
    let mut conn = connect(name.as_str(), &config)?;
    let msg = vec![7u8; size];
    for _ in 0..=count {
        conn.send(&msg)?;
    }
    let (got, took) = receiver.join().expect("receiver")?;
    let counters = std::env::var("MEMPIPE_FLOW_STATS")
        .map_or("on".to_owned(), |v| format!("MEMPIPE_FLOW_STATS={v}"));
    println!(
        "{:.2} M msg/s ({got} x {size} B in {:.3} s, counters {counters})",
        got as f64 / took.as_secs_f64() / 1e6,
        took.as_secs_f64()
    );
    Ok(())
}
