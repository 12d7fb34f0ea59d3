//! Calls the unary echo of `examples/grpc_server.rs` with tonic through a
//! channel whose connector connects by name (or to `tcp://host:port`), checks
//! every echo, and prints the median and 99th-percentile call time.
//!
//! ```text
//! cargo run --release --features tokio --example grpc_client -- echo [--count N] [--size BYTES]
//! ```

mod common;
mod net;

use clap::Parser;
use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Calls the echo gRPC service COUNT times with SIZE-byte payloads and prints
/// the latency percentiles.
#[derive(Debug, Parser)]
struct Options {
    /// A connection name (`echo`) or address (`tcp://127.0.0.1:7000`).
    address: String,
    /// How many calls to make.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = common::count)]
    count: u64,
    /// The payload of each call, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64,
          value_parser = common::size(0, net::grpc::MAX_PAYLOAD))]
    size: usize,
}

fn main() -> ExitCode {
    common::run_on_tokio("grpc_client", run(Options::parse()))
}

async fn run(
    Options {
        address,
        count,
        size,
    }: Options,
) -> Result<(), Box<dyn std::error::Error>> {
    let config = ConnConfig::default().connect_timeout(Duration::from_secs(10));
    let mut client = net::grpc::client(net::grpc::channel(&address, &config).await?);
    let mut times = Vec::with_capacity(count as usize);
    for i in 0..count {
        let start = Instant::now();
        net::grpc::call(&mut client, vec![i as u8; size]).await?;
        times.push(start.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "{count} unary calls of {size} B echoed: p50 {:?}, p99 {:?}",
        at(0.5),
        at(0.99)
    );
    Ok(())
}
