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

use std::process::ExitCode;

const USAGE: &str = "usage: http_server NAME [--tcp HOST:PORT]";

fn main() -> ExitCode {
    common::run_on_tokio("http_server", run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (name, config) = common::server_args(USAGE)?;
    let listener = net::bind(&name, &config)?;
    net::http::serve(listener).await?;
    Ok(())
}
