//! The fan-in servers: each accepts `clients` connections, echoes every
//! message of `size` bytes back, and returns once every client has closed.
//! Each runs on the one thread that calls it (a current-thread tokio runtime,
//! or an epoll loop), so its CPU time is that thread's.

use super::Variant;
use anyhow::Context;
use mempipe::asyncio::AsyncListener;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `clients` connections at `address`; `bound` is called once the
/// clients may connect.
pub(crate) fn serve(
    variant: Variant,
    address: &str,
    rendezvous: &Path,
    clients: usize,
    size: usize,
    bound: impl FnOnce(),
) -> anyhow::Result<()> {
    match variant.mempipe_config(rendezvous) {
        Some(config) => {
            let rt = runtime()?;
            rt.block_on(async {
                let mut listener = AsyncListener::bind(address, &config)
                    .with_context(|| format!("bind {address}"))?;
                bound();
                let mut tasks = Vec::with_capacity(clients);
                while tasks.len() < clients {
                    let mut conn = match listener.accept().await {
                        Ok(conn) => conn,
                        Err(e) if e.is_per_client() => continue,
                        Err(e) => return Err(e.into()),
                    };
                    tasks.push(tokio::spawn(async move {
                        let mut buf = Vec::with_capacity(size);
                        while conn.recv(&mut buf).await.is_ok() {
                            if conn.send(&buf).await.is_err() {
                                break;
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
                anyhow::Ok(())
            })
        }
        None if variant == Variant::TokioUnix => {
            let rt = runtime()?;
            rt.block_on(async {
                let listener = tokio::net::UnixListener::bind(address)
                    .with_context(|| format!("bind {address}"))?;
                bound();
                let mut tasks = Vec::with_capacity(clients);
                while tasks.len() < clients {
                    let (mut s, _) = listener.accept().await?;
                    tasks.push(tokio::spawn(async move {
                        let mut buf = vec![0u8; size];
                        while s.read_exact(&mut buf).await.is_ok() {
                            if s.write_all(&buf).await.is_err() {
                                break;
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
                anyhow::Ok(())
            })
        }
        None => epoll_server(address, clients, size, bound),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// One connection of the epoll server: the part of a message read so far.
struct Peer {
    stream: UnixStream,
    buf: Vec<u8>,
    have: usize,
}

/// A plain epoll server over UNIX stream sockets: level-triggered, one
/// `epoll_wait` for up to 256 ready connections, each read and answered.
fn epoll_server(
    address: &str,
    clients: usize,
    size: usize,
    bound: impl FnOnce(),
) -> anyhow::Result<()> {
    let listener = UnixListener::bind(address).with_context(|| format!("bind {address}"))?;
    bound();
    // SAFETY: epoll_create1 takes no pointers; the result is checked.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    anyhow::ensure!(
        ep >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `ep` was just created and is owned by nothing else.
    let ep = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(ep) };
    let mut peers: Vec<Option<Peer>> = Vec::with_capacity(clients);
    for i in 0..clients {
        let (stream, _) = listener.accept()?;
        stream.set_nonblocking(true)?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: both descriptors are open; `ev` is a valid event the call
        // only reads.
        let rc = unsafe {
            libc::epoll_ctl(
                ep.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                stream.as_raw_fd(),
                &mut ev,
            )
        };
        anyhow::ensure!(rc == 0, "epoll_ctl: {}", std::io::Error::last_os_error());
        peers.push(Some(Peer {
            stream,
            buf: vec![0u8; size],
            have: 0,
        }));
    }
    let mut open = clients;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    while open > 0 {
        // SAFETY: `events` holds 256 writable entries; the kernel writes at
        // most that many.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 256, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let Some(Some(peer)) = peers.get_mut(i) else {
                continue;
            };
            if !serve_ready(peer, size) {
                peers[i] = None; // closes the socket, which leaves the epoll set
                open -= 1;
            }
        }
    }
    Ok(())
}

/// Reads what is there and echoes every whole message; whether the
/// connection is still open.
fn serve_ready(peer: &mut Peer, size: usize) -> bool {
    loop {
        match peer.stream.read(&mut peer.buf[peer.have..]) {
            Ok(0) => return false,
            Ok(n) => {
                peer.have += n;
                if peer.have == size {
                    peer.have = 0;
                    if write_all_spinning(&mut peer.stream, &peer.buf).is_err() {
                        return false;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// A 64 B answer always fits the socket buffer of a request/response peer;
/// should it not, retry rather than queue.
fn write_all_spinning(s: &mut UnixStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match s.write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
