//! Connects to `examples/echo_server.rs` by name or address, says which
//! transport was chosen and why, then sends numbered messages and checks each
//! echo, printing the average round trip.
//!
//! ```text
//! cargo run --release --example echo_client -- echo [--count 100000] [--intent lowest-latency|balanced|idle-friendly|pollable]
//! ```
//!
//! The client may start first: it waits up to 10 s for the server to appear.

mod common;

use clap::Parser;
use mempipe::conn::Intent;
use mempipe::{connect, ConnConfig};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Sends numbered messages to an echo server and checks each echo.
#[derive(Debug, Parser)]
struct Options {
    #[command(flatten)]
    client: common::ClientArgs,
    /// What the connection optimises for (it picks the wakeup and ring size).
    #[arg(long, default_value_t = Intent::Balanced, value_parser = common::intent())]
    intent: Intent,
}

fn main() -> ExitCode {
    common::exit_code("echo_client", run(Options::parse()))
}

fn run(Options { client, intent }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let common::ClientArgs { address, count } = client;
    let config = ConnConfig::default()
        .intent(intent)
        .connect_timeout(Duration::from_secs(10));
    let mut conn = connect(&address, &config)?;
    println!("transport: {}", conn.transport());
    let mut reply = Vec::new();
    let start = Instant::now();
    for seq in 0..count {
        conn.send(&seq.to_le_bytes())?;
        conn.recv(&mut reply)?;
        if reply != seq.to_le_bytes() {
            return Err(format!("echo {seq} came back as {reply:02x?}").into());
        }
    }
    let each = start.elapsed() / count as u32;
    println!("{count} round trips, {each:?} each on average");
    Ok(())
}
