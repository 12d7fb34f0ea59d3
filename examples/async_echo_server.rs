//! An echo service on tokio: one task per client, all on one thread, each
//! message sent back unchanged. Pair it with `examples/async_echo_client.rs`
//! (or the blocking `echo_client`: both ends need not be async).
//!
//! ```text
//! cargo run --release --features tokio --example async_echo_server -- echo
//! cargo run --release --features tokio --example async_echo_client -- echo
//! ```

mod common;

use clap::Parser;
use mempipe::asyncio::AsyncListener;
use std::process::ExitCode;

/// Echoes every message of every client, one tokio task per client.
#[derive(Debug, Parser)]
struct Options {
    #[command(flatten)]
    server: common::ServerArgs,
}

fn main() -> ExitCode {
    common::run_on_tokio("async_echo_server", run(Options::parse()))
}

async fn run(Options { server }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let name = &server.name;
    let mut listener = AsyncListener::bind(name, &server.config())?;
    println!("listening as {name:?}");
    loop {
        let mut conn = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) if e.is_per_client() => {
                eprintln!("a client failed: {e}"); // the listener keeps serving
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        println!("client connected: {}", conn.transport());
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                match conn.recv(&mut buf).await {
                    Ok(_) => {
                        if let Err(e) = conn.send(&buf).await {
                            return println!("client gone: {e}");
                        }
                    }
                    Err(e) if e.is_disconnected() => return println!("client closed"),
                    Err(e) => return println!("client gone: {e}"),
                }
            }
        });
    }
}
