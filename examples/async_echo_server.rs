//! An echo service on tokio: one task per client, all on one thread, each
//! message sent back unchanged. Pair it with `examples/async_echo_client.rs`
//! (or the blocking `echo_client`: both ends need not be async).
//!
//! ```text
//! cargo run --release --features tokio --example async_echo_server -- echo
//! cargo run --release --features tokio --example async_echo_client -- echo
//! ```

mod common;

use mempipe::asyncio::AsyncListener;
use mempipe::RecvError;
use std::process::ExitCode;

const USAGE: &str = "usage: async_echo_server NAME [--tcp HOST:PORT [--tcp-off-host]]";

fn main() -> ExitCode {
    common::run_on_tokio("async_echo_server", run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (name, config) = common::server_args(USAGE)?;
    let mut listener = AsyncListener::bind(&name, &config)?;
    println!("listening as {name:?}");
    loop {
        let mut conn = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("a client failed: {e}"); // the listener keeps serving
                continue;
            }
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
                    Err(RecvError::Disconnected) => return println!("client closed"),
                    Err(e) => return println!("client gone: {e}"),
                }
            }
        });
    }
}
