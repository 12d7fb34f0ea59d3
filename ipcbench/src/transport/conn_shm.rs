//! `conn-shm-*`: a mempipe connection by name (listener, rendezvous socket,
//! two rings passed with SCM_RIGHTS), with the wakeup forced to each strategy
//! so it compares with the raw `mempipe-*` variant of the same wakeup: same
//! ring size, 20 µs hybrid spin budget, reserve/commit writes, copy-out reads.
//!
//! The parent binds the listener in `create` and accepts on first use (the
//! child connects in `attach`, after it was spawned); waits are 20 ms slices
//! so the stop flag is seen.

use super::{CellParams, Endpoint, Handoff, Transport, XferError};
use crate::stop::should_stop;
use mempipe::conn::AcceptError;
use mempipe::{ConnConfig, Connection, Listener, RecvError, SendError, WakeupKind};
use std::time::Duration;

/// How long one blocking slice waits before the stop flag is checked.
pub(super) const SLICE: Duration = Duration::from_millis(20);

/// Largest message: half a 64 MiB ring.
pub(super) const MAX_RING: usize = 64 << 20;

/// One connection variant over shared memory.
pub(crate) struct ConnShm {
    name: &'static str,
    wakeup: WakeupKind,
}

/// Every shared-memory connection variant.
pub(crate) static VARIANTS: &[ConnShm] = &[
    ConnShm {
        name: "conn-shm-spin",
        wakeup: WakeupKind::Spin,
    },
    ConnShm {
        name: "conn-shm-futex",
        wakeup: WakeupKind::Futex,
    },
    ConnShm {
        name: "conn-shm-eventfd",
        wakeup: WakeupKind::EventFd,
    },
    ConnShm {
        name: "conn-shm-hybrid",
        wakeup: WakeupKind::Hybrid,
    },
];

/// The configuration both sides of a benchmark connection use.
pub(super) fn config(len: usize) -> ConnConfig {
    ConnConfig::new()
        .max_message(len)
        .ring_capacity(super::ring_capacity(len).min(MAX_RING))
        .spin_budget(Duration::from_micros(20))
        .without_machine_profile()
        .connect_timeout(Duration::from_secs(30))
}

/// The parent's accept, on a thread of its own: the runner may wait for the
/// child to finish `attach` (whose handshake needs the accept) before it uses
/// the parent's endpoint. Empty on the child's side.
#[derive(Default)]
pub(super) struct Accepting(Option<std::thread::JoinHandle<Result<Connection, XferError>>>);

impl Accepting {
    /// Accepts one connection on `listener`, in slices so the stop flag is seen.
    pub(super) fn spawn(listener: Listener) -> Self {
        Accepting(Some(std::thread::spawn(move || loop {
            match listener.accept_timeout(SLICE) {
                Ok(conn) => return Ok(conn),
                Err(AcceptError::Timeout) if should_stop() => return Err(XferError::Stopped),
                Err(AcceptError::Timeout) => {}
                Err(e) => return Err(XferError::Protocol(e.to_string())),
            }
        })))
    }

    /// Runs `accept` on a thread of its own (a transport with its own way
    /// to accept).
    pub(super) fn on_thread(
        accept: impl FnOnce() -> Result<Connection, XferError> + Send + 'static,
    ) -> Self {
        Accepting(Some(std::thread::spawn(accept)))
    }

    /// Waits for the accepted connection; it is handed out once.
    pub(super) fn join(&mut self) -> Result<Connection, XferError> {
        let accepting = self
            .0
            .take()
            .ok_or_else(|| XferError::Protocol("the connection failed earlier".into()))?;
        accepting
            .join()
            .map_err(|_| XferError::Protocol("the accepting thread panicked".into()))?
    }
}

/// A connection, or (parent side, until the child connects) the thread
/// accepting it.
pub(super) struct ConnEndpoint {
    conn: Option<Connection>,
    accepting: Accepting,
    buf: Vec<u8>,
}

impl ConnEndpoint {
    pub(super) fn listening(listener: Listener, len: usize) -> Self {
        ConnEndpoint {
            conn: None,
            accepting: Accepting::spawn(listener),
            buf: Vec::with_capacity(len),
        }
    }

    pub(super) fn accepting(accepting: Accepting, len: usize) -> Self {
        ConnEndpoint {
            conn: None,
            accepting,
            buf: Vec::with_capacity(len),
        }
    }

    pub(super) fn connected(conn: Connection, len: usize) -> Self {
        ConnEndpoint {
            conn: Some(conn),
            accepting: Accepting::default(),
            buf: Vec::with_capacity(len),
        }
    }

    /// The connection, once the accepting thread has it.
    fn open(&mut self) -> Result<(&mut Connection, &mut Vec<u8>), XferError> {
        if self.conn.is_none() {
            self.conn = Some(self.accepting.join()?);
        }
        match &mut self.conn {
            Some(conn) => Ok((conn, &mut self.buf)),
            None => unreachable!("set above"),
        }
    }
}

// Inlined into the measurement loops as the raw ring's endpoint is.
impl Endpoint for ConnEndpoint {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        let (conn, _) = self.open()?;
        // As the raw ring's endpoint does: try first, wait in slices only
        // while the ring is full, so both measure the same shape of work.
        let mut grant = conn.try_reserve(msg.len());
        loop {
            match grant {
                Ok(mut grant) => {
                    grant
                        .write_at(0, msg)
                        .map_err(|e| XferError::Protocol(e.to_string()))?;
                    grant.commit();
                    return Ok(());
                }
                Err(SendError::Timeout) if should_stop() => return Err(XferError::Stopped),
                Err(SendError::Full { .. } | SendError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
            grant = conn.reserve_timeout(msg.len(), SLICE);
        }
    }

    #[inline(always)]
    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        let (conn, buf) = self.open()?;
        loop {
            match conn.recv_timeout(buf, SLICE) {
                Ok(n) if n == len => {
                    consume(buf);
                    return Ok(());
                }
                Ok(n) => {
                    return Err(XferError::Protocol(format!(
                        "message of {n} bytes, expected {len}"
                    )))
                }
                Err(RecvError::Timeout) if should_stop() => return Err(XferError::Stopped),
                Err(RecvError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A listener name from the cell's unique prefix.
pub(super) fn listener_name(p: &CellParams) -> String {
    p.name_prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// Parent side: a listener on a name from the cell's prefix, and the handoff
/// that gives the child its address.
pub(super) fn listen(p: &CellParams) -> anyhow::Result<(Listener, Handoff)> {
    let name = listener_name(p);
    let listener = Listener::bind(&name, &config(p.buffer_len()))?;
    let handoff = Handoff {
        fds: vec![],
        args: vec![format!("shm://{name}")],
    };
    Ok((listener, handoff))
}

/// Child side: connects to the address handed over, with `wakeup`.
pub(super) fn connect_handed(
    transport: &str,
    p: &CellParams,
    h: &Handoff,
    wakeup: WakeupKind,
) -> anyhow::Result<Connection> {
    let address = h
        .args
        .first()
        .ok_or_else(|| anyhow::anyhow!("{transport}: no address handed over"))?;
    let config = config(p.buffer_len()).wakeup(wakeup);
    Ok(mempipe::connect(address.as_str(), &config)?)
}

impl Transport for ConnShm {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        match self.wakeup {
            WakeupKind::Spin => "mempipe connection by name over shared memory, spin wait",
            WakeupKind::Futex => "mempipe connection by name over shared memory, futex wait",
            WakeupKind::EventFd => "mempipe connection by name over shared memory, eventfd wait",
            WakeupKind::Hybrid => {
                "mempipe connection by name over shared memory, spin 20 us then futex"
            }
        }
    }

    fn max_size(&self) -> usize {
        MAX_RING / 2 - 64
    }

    fn spins(&self) -> bool {
        self.wakeup == WakeupKind::Spin
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (listener, handoff) = listen(p)?;
        let ep = ConnEndpoint::listening(listener, p.buffer_len());
        Ok((Box::new(ep), handoff))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let conn = connect_handed(self.name, p, &h, self.wakeup)?;
        Ok(Box::new(ConnEndpoint::connected(conn, p.buffer_len())))
    }
}
