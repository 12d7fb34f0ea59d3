//! What a connection costs over the raw ring (or over a plain TCP socket), in
//! instructions per message: one thread passes `--iters` messages each way
//! through two endpoints in turn, never waiting, so a run under
//! `valgrind --tool=callgrind` (or `strace -c`) counts the same work every
//! time, whatever else the machine runs.
//!
//! ```text
//! cargo build --release --example conn_cost
//! valgrind --tool=callgrind target/release/examples/conn_cost --path ring --iters 100000
//! valgrind --tool=callgrind target/release/examples/conn_cost --path conn-shm --iters 100000
//! strace -c -f target/release/examples/conn_cost --path conn-tcp --iters 10000
//! ```
//!
//! Each path does what the matching ipcbench endpoint does per message:
//!
//! * `ring`: two anonymous regions; `try_reserve`, fill, `commit`;
//!   `recv_timeout` into a buffer.
//! * `conn-shm`: a connection by name (listener and client in this process);
//!   `try_reserve`, `write_at`, `commit`; `recv_timeout`.
//! * `conn-tcp`: the same, forced onto TCP over loopback.
//! * `tcp`: a plain loopback TCP socket pair with TCP_NODELAY; `write`, `read_exact`.
//!
//! Subtract a run with `--iters 0` to leave out the setup.

mod common;

use clap::{Parser, ValueEnum};
use mempipe::{Config, ConnConfig, Connection, Listener, Region, WakeupKind};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// How long a receive may wait (it never does: the message is there).
const SLICE: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Path {
    /// Two raw rings.
    Ring,
    /// A connection over shared memory.
    ConnShm,
    /// A connection over TCP on loopback.
    ConnTcp,
    /// A plain TCP socket pair on loopback.
    Tcp,
}

/// Instructions per message: a connection against the raw ring or socket.
#[derive(Debug, Clone, Parser)]
struct Options {
    /// Which endpoints carry the messages.
    #[arg(long, value_enum)]
    path: Path,
    /// The rings' wakeup (shared-memory paths).
    #[arg(long, default_value_t = WakeupKind::Spin, value_parser = common::wakeup(),
          ignore_case = true)]
    wakeup: WakeupKind,
    /// Message size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8,
          value_parser = common::size(1, 1 << 20))]
    size: usize,
    /// Messages each way.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    iters: u64,
}

/// One direction's two ends, as ipcbench drives them.
trait Ends {
    fn send(&mut self, msg: &[u8]) -> Result<(), Box<dyn std::error::Error>>;
    fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, Box<dyn std::error::Error>>;
}

struct Ring {
    tx: mempipe::Producer,
    rx: mempipe::Consumer,
}

impl Ends for Ring {
    #[inline(never)]
    fn send(&mut self, msg: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
        let mut grant = self.tx.try_reserve(msg.len())?;
        // SAFETY: both ends are in this process, which never writes
        // unpublished ring space elsewhere.
        unsafe { grant.as_mut_slice() }.copy_from_slice(msg);
        grant.commit();
        Ok(())
    }

    #[inline(never)]
    fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, Box<dyn std::error::Error>> {
        Ok(self.rx.recv_timeout(buf, SLICE)?)
    }
}

impl Ends for Connection {
    #[inline(never)]
    fn send(&mut self, msg: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
        let mut grant = self.try_reserve(msg.len())?;
        grant.write_at(0, msg)?;
        grant.commit();
        Ok(())
    }

    #[inline(never)]
    fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, Box<dyn std::error::Error>> {
        Ok(self.recv_timeout(buf, SLICE)?)
    }
}

impl Ends for TcpStream {
    #[inline(never)]
    fn send(&mut self, msg: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
        Ok(self.write_all(msg)?)
    }

    #[inline(never)]
    fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, Box<dyn std::error::Error>> {
        self.read_exact(buf)?;
        Ok(buf.len())
    }
}

/// A connected pair in this process: the listener's side and the client's.
fn conn_pair(
    config: &ConnConfig,
    name: &str,
) -> Result<(Connection, Connection), Box<dyn std::error::Error>> {
    let listener = Listener::bind(name, config)?;
    let address = match listener.tcp_addr() {
        Some(addr) => format!("tcp://{addr}"),
        None => format!("shm://{name}"),
    };
    let accepting = std::thread::spawn(move || listener.accept());
    let client = mempipe::connect(address.as_str(), config)?;
    let server = accepting
        .join()
        .map_err(|_| "the accepting thread panicked")??;
    Ok((server, client))
}

/// The two endpoints a path runs between.
type Pair = (Box<dyn Ends>, Box<dyn Ends>);

fn pair(o: &Options) -> Result<Pair, Box<dyn std::error::Error>> {
    let capacity = (o.size * 16).next_power_of_two().max(64 << 10);
    let name = format!("conn-cost-{}", std::process::id());
    let conn_config = ConnConfig::new()
        .max_message(o.size)
        .ring_capacity(capacity)
        .wakeup(o.wakeup)
        .without_machine_profile();
    Ok(match o.path {
        Path::Ring => {
            let config = Config::new()
                .capacity(capacity)
                .max_message(o.size)
                .wakeup(o.wakeup);
            let (down, up) = (
                Region::create_anonymous(&config)?,
                Region::create_anonymous(&config)?,
            );
            let a = Ring {
                tx: down.producer()?,
                rx: up.consumer()?,
            };
            let b = Ring {
                tx: up.producer()?,
                rx: down.consumer()?,
            };
            (Box::new(a), Box::new(b))
        }
        Path::ConnShm => {
            let (a, b) = conn_pair(&conn_config, &name)?;
            (Box::new(a), Box::new(b))
        }
        Path::ConnTcp => {
            let (a, b) = conn_pair(&conn_config.plaintext_tcp("127.0.0.1:0"), &name)?;
            (Box::new(a), Box::new(b))
        }
        Path::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let a = TcpStream::connect(listener.local_addr()?)?;
            let (b, _) = listener.accept()?;
            a.set_nodelay(true)?;
            b.set_nodelay(true)?;
            (Box::new(a), Box::new(b))
        }
    })
}

fn run(o: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let (mut a, mut b) = pair(o)?;
    let msg = vec![7u8; o.size];
    let mut buf = vec![0u8; o.size];
    for _ in 0..o.iters {
        a.send(&msg)?;
        b.recv(&mut buf)?;
        b.send(&msg)?;
        a.recv(&mut buf)?;
    }
    println!("{:?}: {} round trips of {} B", o.path, o.iters, o.size);
    Ok(())
}

fn main() -> ExitCode {
    let o = Options::parse();
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conn_cost: {e}");
            ExitCode::FAILURE
        }
    }
}
