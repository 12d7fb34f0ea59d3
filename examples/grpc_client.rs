//! Calls the unary echo of `examples/grpc_server.rs` with tonic through a
//! channel whose connector connects by name (or to `tcp://host:port`), checks
//! every echo, and prints the median and 99th-percentile call time.
//!
//! ```text
//! cargo run --release --features tokio --example grpc_client -- echo [--count N] [--size BYTES]
//! ```

mod common;
mod net;

use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: grpc_client ADDRESS [--count N] [--size BYTES]";

fn main() -> ExitCode {
    common::run_on_tokio("grpc_client", run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().ok_or(USAGE)?;
    let (mut count, mut size) = (1000u64, 64usize);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = common::count_value(&mut args)?,
            "--size" => {
                let value = args.next().ok_or("--size needs a number of bytes")?;
                size = common::size(0, net::grpc::MAX_PAYLOAD)(&value)?;
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
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
