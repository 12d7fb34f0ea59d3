//! The sending half of a two-terminal demo: opens a named region created by
//! `examples/consumer.rs` and sends lines from stdin, or numbered messages.
//!
//! ```text
//! # terminal 1
//! cargo run --example consumer -- --name /demo
//! # terminal 2: each line typed is one message (Ctrl-D ends)
//! cargo run --example producer -- --name /demo
//! # or: 1000 numbered messages
//! cargo run --example producer -- --name /demo --count 1000
//! ```
//!
//! Start the consumer first: it creates the region. The wakeup strategy is the
//! one the consumer chose (it is recorded in the region's header). Exiting
//! closes the producer end, which ends the consumer.

mod common;

use clap::Parser;
use mempipe::{OpenError, Region, SendError};
use std::io::BufRead;
use std::process::ExitCode;

/// Sends lines from stdin, or numbered messages, into a region the consumer
/// example created.
#[derive(Debug, Parser)]
struct Options {
    /// Name of the region (for example /demo).
    #[arg(long, value_name = "/NAME")]
    name: String,
    /// Send this many numbered messages instead of lines from stdin.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

fn main() -> ExitCode {
    common::exit_code("producer", run(Options::parse()))
}

fn run(Options { name, count }: Options) -> Result<(), String> {
    let region = Region::open_named(&name).map_err(|e| match e {
        OpenError::NotFound { .. } => format!("{e} (start the consumer example first)"),
        e => format!("opening {name}: {e}"),
    })?;
    let mut producer = region.producer().map_err(|e| e.to_string())?;
    eprintln!(
        "producer: opened {name} ({} wakeup, messages up to {} bytes)",
        region.wakeup(),
        region.max_message()
    );
    let mut send = |msg: &[u8]| match producer.send(msg) {
        Ok(()) => Ok(true),
        Err(e @ SendError::TooLarge { .. }) => {
            eprintln!("producer: skipped: {e}");
            Ok(true)
        }
        Err(e) if e.is_disconnected() => {
            eprintln!("producer: the consumer closed its end");
            Ok(false)
        }
        Err(e) => Err(e.to_string()),
    };
    match count {
        Some(n) => {
            for i in 1..=n {
                if !send(format!("message {i} of {n}").as_bytes())? {
                    break;
                }
            }
        }
        None => {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| format!("reading stdin: {e}"))?;
                if !send(line.as_bytes())? {
                    break;
                }
            }
        }
    }
    Ok(())
}
