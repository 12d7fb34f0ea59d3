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

use std::process::ExitCode;

const USAGE: &str = "usage: grpc_server NAME [--tcp HOST:PORT]";

fn main() -> ExitCode {
    common::run_on_tokio("grpc_server", run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (name, config) = common::server_args(USAGE)?;
    let listener = net::bind(&name, &config)?;
    net::grpc::serve(listener).await?;
    Ok(())
}
