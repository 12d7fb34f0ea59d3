//! An echo service on tokio: one task per client, all on one thread, each
//! message sent back unchanged. Pair it with `examples/async_echo_client.rs`
//! (or the blocking `echo_client`: both ends need not be async).
//!
//! ```text
//! cargo run --release --features tokio --example async_echo_server -- echo
//! cargo run --release --features tokio --example async_echo_client -- echo
//! ```

use mempipe::asyncio::AsyncListener;
use mempipe::{ConnConfig, RecvError};
use std::process::ExitCode;

const USAGE: &str = "usage: async_echo_server NAME [--tcp HOST:PORT]";

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("async_echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().ok_or(USAGE)?;
    let mut config = ConnConfig::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tcp" => config = config.tcp(args.next().ok_or("--tcp needs HOST:PORT")?),
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
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
