//! A tonic gRPC service (unary echo) served over mempipe: clients on this
//! host connect by name over shared memory, clients elsewhere over TCP, with
//! the same server code (`serve_with_incoming` on the listener's
//! `incoming()`). Pair it with `examples/grpc_client.rs`.
//!
//! ```text
//! cargo run --release --features tokio --example grpc_server -- echo [--tcp 0.0.0.0:7000]
//! cargo run --release --features tokio --example grpc_client -- echo --count 1000
//! ```

mod common;
mod net;

use clap::Parser;
use std::process::ExitCode;

/// Serves the echo gRPC service (tonic) on every connection, by name and optionally over plaintext TCP.
#[derive(Debug, Parser)]
struct Options {
    #[command(flatten)]
    server: common::ServerArgs,
}

fn main() -> ExitCode {
    common::run_on_tokio("grpc_server", run(Options::parse()))
}

async fn run(Options { server }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let listener = net::bind(&server.name, &server.config())?;
    net::grpc::serve(listener).await?;
    Ok(())
}
