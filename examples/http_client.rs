//! Sends `GET PATH` with hyper over a mempipe connection (by name, or to
//! `tcp://host:port`), HTTP/1.1 or with `--http2` HTTP/2, and prints the
//! status and the body (or its length, past 1 KiB).
//!
//! ```text
//! cargo run --release --features tokio --example http_client -- web / [--http2]
//! ```

mod common;
mod net;

use mempipe::ConnConfig;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: http_client ADDRESS PATH [--http2]";

fn main() -> ExitCode {
    common::run_on_tokio("http_client", run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().ok_or(USAGE)?;
    let path = args.next().ok_or(USAGE)?;
    let mut http2 = false;
    for arg in args {
        match arg.as_str() {
            "--http2" => http2 = true,
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
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
