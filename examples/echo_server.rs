//! An echo service found by name: every client gets its own connection and
//! thread, and each message comes back unchanged. Pair it with
//! `examples/echo_client.rs`.
//!
//! ```text
//! # terminal 1: listen on the name "echo" (and on plaintext TCP, loopback)
//! cargo run --example echo_server -- echo --tcp 127.0.0.1:7000
//! # terminal 2: by name (shared memory), or by TCP address
//! cargo run --example echo_client -- echo
//! cargo run --example echo_client -- tcp://127.0.0.1:7000
//! ```
//!
//! Plaintext TCP that other hosts can reach (`--tcp 0.0.0.0:7000`) needs
//! `--tcp-off-host` too: anyone on the network could then connect.
//!
//! Killing the server and starting it again is the restart story: it takes
//! over the name, and clients simply connect again.

mod common;

use clap::Parser;
use mempipe::Listener;
use std::process::ExitCode;

/// Echoes every message of every client, one thread per client.
#[derive(Debug, Parser)]
struct Options {
    #[command(flatten)]
    server: common::ServerArgs,
}

fn main() -> ExitCode {
    common::exit_code("echo_server", run(Options::parse()))
}

fn run(Options { server }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let name = &server.name;
    let listener = Listener::bind(name, &server.config())?;
    match listener.tcp_addr() {
        Some(addr) => println!("listening as {name:?} and on TCP {addr}"),
        None => println!("listening as {name:?}"),
    }
    loop {
        let mut conn = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.is_per_client() => {
                eprintln!("a client failed: {e}"); // the listener keeps serving
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        println!("client connected: {}", conn.transport());
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            loop {
                match conn.recv(&mut buf) {
                    Ok(_) => {
                        if let Err(e) = conn.send(&buf) {
                            println!("client gone: {e}");
                            return;
                        }
                    }
                    Err(e) if e.is_disconnected() => return println!("client closed"),
                    Err(e) => return println!("client gone: {e}"),
                }
            }
        });
    }
}
