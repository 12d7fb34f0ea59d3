//! Sends `GET PATH` with hyper over a mempipe connection (by name, or to
//! `tcp://host:port`), HTTP/1.1 or with `--http2` HTTP/2, and prints the
//! status and the body (or its length, past 1 KiB).
//!
//! ```text
//! cargo run --release --features tokio --example http_client -- web / [--http2]
//! ```

mod common;
mod net;

use clap::Parser;
use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::Duration;

/// Sends one GET and prints the status and the body (or its size).
#[derive(Debug, Parser)]
struct Options {
    /// A connection name (`web`) or address (`tcp://127.0.0.1:8080`).
    address: String,
    /// The path to get (`/`, `/bytes/1000`).
    path: String,
    /// Speak HTTP/2 instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
}

fn main() -> ExitCode {
    common::run_on_tokio("http_client", run(Options::parse()))
}

async fn run(
    Options {
        address,
        path,
        http2,
    }: Options,
) -> Result<(), Box<dyn std::error::Error>> {
    let config = ConnConfig::default().connect_timeout(Duration::from_secs(10));
    let unsend = |e: net::http::BoxError| -> Box<dyn std::error::Error> { e };
    let mut client = net::http::Client::connect(&address, &config, http2)
        .await
        .map_err(unsend)?;
    let (status, body) = client.get(&path).await.map_err(unsend)?;
    println!("{status}");
    match std::str::from_utf8(&body) {
        Ok(text) if body.len() <= 1024 => print!("{text}"),
        _ => println!("{} bytes", body.len()),
    }
    if !status.is_success() {
        return Err(format!("GET {path}: {status}").into());
    }
    Ok(())
}
