//! Idle async connections: `serve` accepts N connections and awaits a message
//! on each; `connect` opens N connections and awaits a message on each too.
//! Nothing is ever sent, so both processes only wait: `scripts/async-idle-cpu.sh`
//! runs them and reads how much CPU time they use meanwhile (none is the goal).
//!
//! ```text
//! cargo run --release --features tokio --example async_idle -- serve idle 100 &
//! cargo run --release --features tokio --example async_idle -- connect idle 100
//! ```

mod common;

use clap::{Parser, ValueEnum};
use mempipe::asyncio::{connect, AsyncListener};
use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::Duration;

/// Opens idle connections that each await a message that never comes.
#[derive(Debug, Parser)]
struct Options {
    /// Which side this process is.
    role: Role,
    /// The connection name both sides use.
    name: String,
    /// How many connections to open.
    #[arg(value_name = "CONNECTIONS", value_parser = common::count)]
    count: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Role {
    /// Listen and accept the connections.
    Serve,
    /// Connect to the listener.
    Connect,
}

fn main() -> ExitCode {
    common::run_on_tokio("async_idle", run(Options::parse()))
}

async fn run(Options { role, name, count }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let config = ConnConfig::default().connect_timeout(Duration::from_secs(10));
    let mut waiting = Vec::new();
    match role {
        Role::Serve => {
            let mut listener = AsyncListener::bind(&name, &config)?;
            for _ in 0..count {
                waiting.push(listener.accept().await?);
            }
        }
        Role::Connect => {
            for _ in 0..count {
                waiting.push(connect(&name, &config).await?);
            }
        }
    }
    let role = format!("{role:?}").to_lowercase();
    println!("{role}: {count} connections, each awaiting a message");
    let tasks: Vec<_> = waiting
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                conn.recv(&mut buf).await
            })
        })
        .collect();
    for task in tasks {
        let end = task.await?;
        println!("{role}: a connection ended: {end:?}");
    }
    Ok(())
}
