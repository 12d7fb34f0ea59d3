//! An HTTP server with hyper over mempipe: HTTP/1.1 and HTTP/2 on every
//! connection, clients by name on this host or over TCP from elsewhere.
//! `GET /` greets, `GET /bytes/N` answers N bytes. Pair it with
//! `examples/http_client.rs`.
//!
//! ```text
//! cargo run --release --features tokio --example http_server -- web [--tcp 0.0.0.0:8080]
//! cargo run --release --features tokio --example http_client -- web / [--http2]
//! ```

mod common;
mod net;

use clap::Parser;
use std::process::ExitCode;

/// Serves HTTP/1.1 and HTTP/2 (hyper) on every connection, by name and optionally over plaintext TCP.
#[derive(Debug, Parser)]
struct Options {
    #[command(flatten)]
    server: common::ServerArgs,
}

fn main() -> ExitCode {
    common::run_on_tokio("http_server", run(Options::parse()))
}

async fn run(Options { server }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let listener = net::bind(&server.name, &server.config())?;
    net::http::serve(listener).await?;
    Ok(())
}
