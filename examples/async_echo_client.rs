//! Connects to an echo server on tokio, sends numbered messages from one task
//! and checks the echoes in another (the connection's halves, split), then
//! prints the average time per message. A `select!` with a timer shows that a
//! dropped `recv` loses nothing.
//!
//! ```text
//! cargo run --release --features tokio --example async_echo_client -- echo [--count 100000]
//! ```

mod common;

use clap::Parser;
use mempipe::asyncio::connect;
use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Sends numbered messages to an echo server from one task and checks the
/// echoes in another.
#[derive(Debug, Parser)]
struct Options {
    #[command(flatten)]
    client: common::ClientArgs,
}

fn main() -> ExitCode {
    common::run_on_tokio("async_echo_client", run(Options::parse()))
}

async fn run(Options { client }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let common::ClientArgs { address, count } = client;
    let config = ConnConfig::default().connect_timeout(Duration::from_secs(10));
    let conn = connect(address, &config).await?;
    println!("transport: {}", conn.transport());
    let (mut tx, mut rx) = conn.split();
    let start = Instant::now();
    // The sender waits for room whenever the server falls behind.
    let sender = tokio::spawn(async move {
        for seq in 0..count {
            tx.send(&seq.to_le_bytes()).await?;
        }
        Ok::<_, mempipe::SendError>(tx)
    });
    let (mut reply, mut ticks) = (Vec::new(), 0u64);
    let mut seq = 0;
    while seq < count {
        tokio::select! {
            received = rx.recv(&mut reply) => {
                received?;
                if reply != seq.to_le_bytes() {
                    return Err(format!("echo {seq} came back as {reply:02x?}").into());
                }
                seq += 1;
            }
            // Dropping the pending recv here is safe: its message stays queued.
            _ = tokio::time::sleep(Duration::from_millis(100)) => ticks += 1,
        }
    }
    drop(sender.await??);
    let each = start.elapsed() / count as u32;
    println!("{count} echoes, {each:?} each on average ({ticks} idle ticks)");
    Ok(())
}
