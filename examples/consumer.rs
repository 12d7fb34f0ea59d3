//! The receiving half of a two-terminal demo: creates a named region and prints
//! every message a producer (`examples/producer.rs`) sends into it.
//!
//! ```text
//! # terminal 1: create /demo and wait for messages
//! cargo run --example consumer -- --name /demo [--wakeup futex|hybrid|spin] [--replace]
//! # terminal 2: type lines (Ctrl-D ends), or send numbered messages
//! cargo run --example producer -- --name /demo
//! cargo run --example producer -- --name /demo --count 1000
//! ```
//!
//! The consumer exits when the producer closes its end (a ring's ends are used
//! once) and then removes the name. If it is killed (Ctrl-C) the name stays
//! behind in /dev/shm; the next run reports who left it and how to remove it,
//! or pass `--replace` to replace it. eventfd wakeups need descriptor passing,
//! which a named region cannot offer, so they are refused here.

mod common;

use clap::Parser;
use mempipe::{Config, CreateError, Region, WakeupKind};
use std::process::ExitCode;

/// Creates a named region and prints every message a producer sends into it.
#[derive(Debug, Parser)]
struct Options {
    /// Name of the region to create (for example /demo).
    #[arg(long, value_name = "/NAME")]
    name: String,
    /// How the consumer waits for messages: spin, futex or hybrid (eventfds
    /// need descriptor passing, which a named region cannot offer).
    #[arg(long, default_value_t = WakeupKind::Hybrid, value_parser = named_region_wakeup)]
    wakeup: WakeupKind,
    /// Replace a region of that name left behind by an earlier run.
    #[arg(long)]
    replace: bool,
}

fn named_region_wakeup(value: &str) -> Result<WakeupKind, String> {
    match value.parse() {
        Ok(WakeupKind::EventFd) => {
            Err("a named region cannot carry eventfds; use futex, hybrid or spin".into())
        }
        Ok(wakeup) => Ok(wakeup),
        Err(_) => Err("expected futex, hybrid or spin".into()),
    }
}

fn main() -> ExitCode {
    common::exit_code("consumer", run(Options::parse()))
}

fn run(
    Options {
        name,
        wakeup,
        replace,
    }: Options,
) -> Result<(), String> {
    let config = Config::new().wakeup(wakeup).replace_existing(replace);
    let region = match Region::create_named(&name, &config) {
        Ok(region) => region,
        // The error names the process that created the object, whether it still
        // runs, and how to remove or replace it.
        Err(e @ CreateError::AlreadyExists { .. }) => {
            return Err(format!("{e}\n(or run again with --replace)"))
        }
        Err(e) => return Err(format!("creating {name}: {e}")),
    };
    let mut consumer = region.consumer().map_err(|e| e.to_string())?;
    eprintln!(
        "consumer: created {name} ({} KiB ring, messages up to {} bytes, {wakeup} wakeup); \
         waiting for a producer",
        region.capacity() >> 10,
        region.max_message()
    );
    let mut buf = Vec::new();
    let mut count = 0u64;
    loop {
        match consumer.recv(&mut buf) {
            Ok(len) => {
                count += 1;
                println!("[{count}] {len} bytes: {}", String::from_utf8_lossy(&buf));
            }
            Err(e) if e.is_disconnected() => {
                eprintln!("consumer: the producer closed its end after {count} messages");
                return Ok(());
            }
            Err(e) => return Err(format!("after {count} messages: {e}")),
        }
    }
}
