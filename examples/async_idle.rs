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

use mempipe::asyncio::{connect, AsyncListener};
use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: async_idle serve|connect NAME CONNECTIONS";

fn main() -> ExitCode {
    common::run_on_tokio("async_idle", run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [role, name, count] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let count: usize = count
        .parse()
        .map_err(|_| format!("CONNECTIONS {count:?}: not a whole number"))?;
    let config = ConnConfig::default().connect_timeout(Duration::from_secs(10));
    let mut waiting = Vec::new();
    match role.as_str() {
        "serve" => {
            let mut listener = AsyncListener::bind(name, &config)?;
            for _ in 0..count {
                waiting.push(listener.accept().await?);
            }
        }
        "connect" => {
            for _ in 0..count {
                waiting.push(connect(name.clone(), &config).await?);
            }
        }
        other => return Err(format!("unknown role {other:?}; {USAGE}").into()),
    }
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
