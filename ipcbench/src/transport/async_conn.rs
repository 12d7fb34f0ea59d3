//! `async-conn-shm-*`: a mempipe connection awaited on tokio on both sides
//! (`mempipe::asyncio`), against `tokio-unix-stream`, tokio's `UnixStream`
//! over a socketpair, the async baseline users compare with.
//!
//! Each endpoint owns a current-thread runtime and runs every send and
//! receive with `block_on`: the waits are the async ones (spin for the hybrid
//! budget, arm, then the runtime's epoll on the wake descriptor). A wait that
//! does not complete at once also polls a 20 ms timer, so that the stop flag
//! is seen; the same wrapper is used on both transports.

use super::conn_shm::{connect_handed, listen, Accepting, MAX_RING, SLICE};
use super::{take_fds, CellParams, Endpoint, Handoff, Transport, XferError};
use crate::stop::should_stop;
use mempipe::asyncio::AsyncConnection;
use mempipe::WakeupKind;
use std::future::Future;
use std::task::Poll;
use tokio::runtime::Runtime;

/// One async connection variant over shared memory.
pub(crate) struct AsyncConnShm {
    name: &'static str,
    wakeup: WakeupKind,
}

/// Every async shared-memory connection variant (spin rings are left out:
/// they busy-poll the runtime, which says nothing new).
pub(crate) static VARIANTS: &[AsyncConnShm] = &[
    AsyncConnShm {
        name: "async-conn-shm-futex",
        wakeup: WakeupKind::Futex,
    },
    AsyncConnShm {
        name: "async-conn-shm-eventfd",
        wakeup: WakeupKind::EventFd,
    },
    AsyncConnShm {
        name: "async-conn-shm-hybrid",
        wakeup: WakeupKind::Hybrid,
    },
];

fn runtime() -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Runs `op` (a cancel-safe wait) until it completes, checking the stop flag
/// every 20 ms. The timer is set up only once the operation has to wait, so
/// an operation answered at once costs no timer (both transports alike).
fn sliced<T>(rt: &Runtime, op: impl Future<Output = Result<T, XferError>>) -> Result<T, XferError> {
    rt.block_on(async {
        let mut op = std::pin::pin!(op);
        let mut slice: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(done) = op.as_mut().poll(cx) {
                return Poll::Ready(done);
            }
            let timer = slice.get_or_insert_with(|| Box::pin(tokio::time::sleep(SLICE)));
            while timer.as_mut().poll(cx).is_ready() {
                if should_stop() {
                    return Poll::Ready(Err(XferError::Stopped));
                }
                timer.as_mut().reset(tokio::time::Instant::now() + SLICE);
            }
            Poll::Pending
        })
        .await
    })
}

/// An async connection, or (parent side, until the child connects) the
/// thread accepting it.
struct AsyncConnEndpoint {
    rt: Runtime,
    conn: Option<AsyncConnection>,
    accepting: Accepting,
    buf: Vec<u8>,
}

impl AsyncConnEndpoint {
    fn new(len: usize) -> anyhow::Result<Self> {
        Ok(AsyncConnEndpoint {
            rt: runtime()?,
            conn: None,
            accepting: Accepting::default(),
            buf: Vec::with_capacity(len),
        })
    }

    /// The connection, once the accepting thread has it.
    fn open(&mut self) -> Result<(), XferError> {
        if self.conn.is_none() {
            let conn = self.accepting.join()?;
            let conn =
                AsyncConnection::new(conn).map_err(|e| XferError::Protocol(e.to_string()))?;
            self.conn = Some(conn);
        }
        Ok(())
    }
}

impl Endpoint for AsyncConnEndpoint {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        self.open()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(XferError::Protocol("no connection".into()));
        };
        sliced(&self.rt, async {
            let mut grant = conn.reserve(msg.len()).await?;
            grant
                .write_at(0, msg)
                .map_err(|e| XferError::Protocol(e.to_string()))?;
            grant.commit();
            Ok(())
        })
    }

    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        self.open()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(XferError::Protocol("no connection".into()));
        };
        let buf = &mut self.buf;
        let n = sliced(&self.rt, async {
            conn.recv(buf).await.map_err(XferError::from)
        })?;
        if n != len {
            return Err(XferError::Protocol(format!(
                "message of {n} bytes, expected {len}"
            )));
        }
        consume(&self.buf);
        Ok(())
    }
}

impl Transport for AsyncConnShm {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        match self.wakeup {
            WakeupKind::Futex => "mempipe connection awaited on tokio (both sides), futex ring",
            WakeupKind::EventFd => "mempipe connection awaited on tokio (both sides), eventfd ring",
            _ => "mempipe connection awaited on tokio (both sides), spin 20 us then the wake descriptor",
        }
    }

    fn max_size(&self) -> usize {
        MAX_RING / 2 - 64
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (listener, handoff) = listen(p)?;
        let mut ep = AsyncConnEndpoint::new(p.buffer_len())?;
        ep.accepting = Accepting::spawn(listener);
        Ok((Box::new(ep), handoff))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let conn = connect_handed(self.name, p, &h, self.wakeup)?;
        let mut ep = AsyncConnEndpoint::new(p.buffer_len())?;
        ep.conn = Some(AsyncConnection::new(conn)?);
        Ok(Box::new(ep))
    }
}

/// tokio's `UnixStream` over a socketpair.
pub(crate) struct TokioUnixStream;

struct TokioStreamEndpoint {
    rt: Runtime,
    stream: tokio::net::UnixStream,
    buf: Vec<u8>,
}

impl TokioStreamEndpoint {
    fn new(fd: std::os::fd::OwnedFd, len: usize) -> anyhow::Result<Self> {
        let rt = runtime()?;
        let std_stream = std::os::unix::net::UnixStream::from(fd);
        std_stream.set_nonblocking(true)?;
        let stream = {
            let _in_runtime = rt.enter();
            tokio::net::UnixStream::from_std(std_stream)?
        };
        Ok(TokioStreamEndpoint {
            rt,
            stream,
            buf: vec![0; len],
        })
    }
}

impl Endpoint for TokioStreamEndpoint {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        let stream = &self.stream;
        let mut sent = 0;
        while sent < msg.len() {
            match stream.try_write(&msg[sent..]) {
                Ok(0) => return Err(XferError::Closed),
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // `writable` is cancel safe, so it can be sliced.
                    sliced(&self.rt, async {
                        stream.writable().await.map_err(XferError::Io)
                    })?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Err(XferError::Closed)
                }
                Err(e) => return Err(XferError::Io(e)),
            }
        }
        Ok(())
    }

    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let stream = &self.stream;
        let mut got = 0;
        while got < len {
            match stream.try_read(&mut self.buf[got..len]) {
                Ok(0) => return Err(XferError::Closed),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    sliced(&self.rt, async {
                        stream.readable().await.map_err(XferError::Io)
                    })?;
                }
                Err(e) => return Err(XferError::Io(e)),
            }
        }
        consume(&self.buf[..len]);
        Ok(())
    }
}

impl Transport for TokioUnixStream {
    fn name(&self) -> &'static str {
        "tokio-unix-stream"
    }

    fn description(&self) -> &'static str {
        "tokio UnixStream over an AF_UNIX socketpair, awaited on both sides"
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((
            Box::new(TokioStreamEndpoint::new(a.into(), p.buffer_len())?),
            Handoff {
                fds: vec![b.into()],
                args: vec![],
            },
        ))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, "tokio-unix-stream")?;
        Ok(Box::new(TokioStreamEndpoint::new(fd, p.buffer_len())?))
    }
}
