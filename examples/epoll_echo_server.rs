//! An echo service on a plain epoll loop, no async runtime: the listener's
//! descriptor and each connection's wake descriptors sit in one epoll set,
//! and the arm/check protocol makes sure no wakeup is missed.
//!
//! For each half that would wait: call `arm_notify` (which also drains the
//! descriptor); if it returns `true`, the message or room is there already,
//! so go on without waiting; otherwise wait for the descriptor in epoll. The
//! peer rings it only while armed, so a busy connection costs no system call.
//!
//! ```text
//! cargo run --release --example epoll_echo_server -- echo
//! cargo run --release --example echo_client -- echo
//! ```

mod common;

use clap::Parser;
use mempipe::{ConnConfig, Connection, Listener};
use rustix::event::epoll;
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::process::ExitCode;

/// The listener's key in the epoll set; connections use their id, twice
/// (receive side: `2 * id`, send side: `2 * id + 1`).
const LISTENER: u64 = u64::MAX;

/// Echoes every message of every client from one thread, on epoll.
#[derive(Debug, Parser)]
struct Options {
    /// The name clients connect to (for example `echo`).
    name: String,
}

fn main() -> ExitCode {
    common::exit_code("epoll_echo_server", run(Options::parse()))
}

/// One client: its connection and the echo it could not send yet.
struct Client {
    conn: Connection,
    pending: Option<Vec<u8>>,
}

fn run(Options { name }: Options) -> Result<(), Box<dyn std::error::Error>> {
    let listener = Listener::bind(&name, &ConnConfig::default())?;
    println!("listening as {name:?}");
    let set = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &set,
        listener.as_fd(),
        epoll::EventData::new_u64(LISTENER),
        epoll::EventFlags::IN,
    )?;
    let mut clients: HashMap<u64, Client> = HashMap::new();
    let mut next_id = 0u64;
    let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
    loop {
        events.clear();
        epoll::wait(&set, rustix::buffer::spare_capacity(&mut events), None)?;
        for event in &events {
            let key = event.data.u64();
            if key == LISTENER {
                match listener.try_accept() {
                    Ok(conn) => {
                        let id = next_id;
                        next_id += 1;
                        println!("client {id}: {}", conn.transport());
                        let mut client = Client {
                            conn,
                            pending: None,
                        };
                        register(&set, id, &mut client)?;
                        clients.insert(id, client);
                        // Serve what may already be there.
                        serve(&set, id, &mut clients)?;
                    }
                    // Readable while a handshake can move: not every
                    // wakeup finishes one.
                    Err(mempipe::conn::AcceptError::NoPending) => {}
                    Err(e) => eprintln!("accept: {e}"),
                }
                continue;
            }
            serve(&set, key / 2, &mut clients)?;
        }
    }
}

/// Puts a client's two wake descriptors in the epoll set.
fn register(set: &impl AsFd, id: u64, client: &mut Client) -> std::io::Result<()> {
    let flags = epoll::EventFlags::IN | epoll::EventFlags::ET;
    if let Some(fd) = client.conn.receiver().notify_fd() {
        epoll::add(set, fd, epoll::EventData::new_u64(2 * id), flags)?;
    }
    // On TCP the send half's descriptor is the socket, which would need OUT;
    // a name on this host gives shared memory, where both wait for IN.
    if let Some(fd) = client.conn.sender().notify_fd() {
        epoll::add(set, fd, epoll::EventData::new_u64(2 * id + 1), flags)?;
    }
    Ok(())
}

/// Echoes everything a client has sent, until it would have to wait; then
/// arms what it waits for. Drops the client once it is gone.
fn serve(set: &impl AsFd, id: u64, clients: &mut HashMap<u64, Client>) -> std::io::Result<()> {
    let Some(client) = clients.get_mut(&id) else {
        return Ok(());
    };
    let mut buf = Vec::new();
    let gone = loop {
        // First the echo that found the ring full last time.
        if let Some(msg) = client.pending.take() {
            match client.conn.try_send(&msg) {
                Ok(()) => {}
                Err(e) if e.is_full() => {
                    let len = msg.len();
                    client.pending = Some(msg);
                    match client.conn.sender().arm_notify(len) {
                        Ok(true) => continue, // room appeared meanwhile
                        Ok(false) => break None,
                        Err(e) => break Some(e.to_string()),
                    }
                }
                Err(e) => break Some(e.to_string()),
            }
        }
        match client.conn.try_recv(&mut buf) {
            Ok(_) => client.pending = Some(std::mem::take(&mut buf)),
            Err(e) if e.is_empty() => match client.conn.receiver().arm_notify() {
                Ok(true) => continue, // a message arrived meanwhile
                Ok(false) => break None,
                Err(e) => break Some(e.to_string()),
            },
            Err(e) => break Some(e.to_string()),
        }
    };
    if let Some(why) = gone {
        println!("client {id} gone: {why}");
        if let Some(client) = clients.remove(&id) {
            let (tx, rx) = client.conn.split();
            for fd in [rx.notify_fd(), tx.notify_fd()].into_iter().flatten() {
                let _ = epoll::delete(set, fd);
            }
        }
    }
    Ok(())
}
