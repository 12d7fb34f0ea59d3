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

use mempipe::conn::Intent;
use mempipe::{connect, ConnConfig};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: echo_client ADDRESS [--count N] [--intent lowest-latency|balanced|idle-friendly|pollable]";

fn main() -> ExitCode {
    common::exit_code("echo_client", run())
}

fn parse_intent(s: &str) -> Result<Intent, String> {
    [
        Intent::LowestLatency,
        Intent::Balanced,
        Intent::IdleFriendly,
        Intent::Pollable,
    ]
    .into_iter()
    .find(|i| i.name() == s)
    .ok_or_else(|| {
        format!("--intent {s:?}: expected lowest-latency, balanced, idle-friendly or pollable")
    })
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().ok_or(USAGE)?;
    let mut count: u64 = 10_000;
    let mut config = ConnConfig::default().connect_timeout(Duration::from_secs(10));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = common::count_value(&mut args)?,
            "--intent" => {
                config = config.intent(parse_intent(&args.next().ok_or("--intent needs a value")?)?)
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
    let mut conn = connect(address.as_str(), &config)?;
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
    if count > 0 {
        let each = start.elapsed() / count as u32;
        println!("{count} round trips, {each:?} each on average");
    }
    Ok(())
}
