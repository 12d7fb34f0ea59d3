//! Makes a test cluster CA and node certificates for mempipe's TLS
//! connections (`mempipe::conn::tls`): `DIR/ca.pem` and, per node,
//! `DIR/NAME.pem` (subject `CN=NAME`, DNS name `NAME`, valid for both TLS
//! roles) and `DIR/NAME.key` (mode 0600).
//!
//! ```sh
//! cargo run --example make_certs -- certs node-a node-b
//! ```
//!
//! For tests and trials: a production cluster's CA key lives somewhere safer
//! than next to the nodes' keys.

#[path = "../tests/common/certs.rs"]
mod certs;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Make a test CA and node certificates.
#[derive(Parser)]
struct Args {
    /// Directory to write into (created if missing).
    dir: PathBuf,
    /// Node names (each becomes a certificate's common and DNS name).
    #[arg(required = true)]
    nodes: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let nodes: Vec<&str> = args.nodes.iter().map(String::as_str).collect();
    match certs::write_set(&args.dir, &nodes) {
        Ok(()) => {
            println!(
                "wrote {0}/ca.pem and {1} node certificate(s) with keys in {0}",
                args.dir.display(),
                nodes.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("make_certs: cannot write into {}: {e}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}
