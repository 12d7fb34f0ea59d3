//! `mempipe-*`: the mempipe ring, one per direction, in every combination of
//! wakeup strategy (spin, futex, eventfd, hybrid), write mode (zero-copy
//! `reserve`/commit, or `send` copying a slice) and read mode (`copy` out, or
//! `zc` zero-copy in place).
//!
//! Waiting is done in 20 ms slices so that the stop flag (deadline, Ctrl-C) is
//! seen; the fast path is the non-blocking call, tried first.

use super::{CellParams, Endpoint, Handoff, Transport, XferError};
use crate::stop::should_stop;
use mempipe::{Config, Consumer, Producer, RecvError, Region, SendError, WakeupKind};
use std::os::fd::OwnedFd;
use std::time::Duration;

/// How long one blocking slice waits before the stop flag is checked.
const SLICE: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// `try_reserve` + fill in place + `commit`.
    Reserve,
    /// `try_send(&[u8])`.
    Send,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// `try_recv` into a buffer of ours.
    Copy,
    /// `try_read`: a grant over the bytes in place.
    ZeroCopy,
}

/// One mempipe variant.
pub(crate) struct Mempipe {
    name: &'static str,
    wakeup: WakeupKind,
    write: WriteMode,
    read: ReadMode,
}

macro_rules! variants {
    ($($name:literal => $wakeup:ident, $write:ident, $read:ident;)*) => {
        /// Every variant, in the order `ipcbench list` shows them.
        pub(crate) static VARIANTS: &[Mempipe] = &[$(Mempipe {
            name: $name,
            wakeup: WakeupKind::$wakeup,
            write: WriteMode::$write,
            read: ReadMode::$read,
        }),*];
    };
}

variants! {
    "mempipe-spin" => Spin, Reserve, Copy;
    "mempipe-spin-zc" => Spin, Reserve, ZeroCopy;
    "mempipe-spin-send" => Spin, Send, Copy;
    "mempipe-spin-send-zc" => Spin, Send, ZeroCopy;
    "mempipe-futex" => Futex, Reserve, Copy;
    "mempipe-futex-zc" => Futex, Reserve, ZeroCopy;
    "mempipe-futex-send" => Futex, Send, Copy;
    "mempipe-futex-send-zc" => Futex, Send, ZeroCopy;
    "mempipe-eventfd" => EventFd, Reserve, Copy;
    "mempipe-eventfd-zc" => EventFd, Reserve, ZeroCopy;
    "mempipe-eventfd-send" => EventFd, Send, Copy;
    "mempipe-eventfd-send-zc" => EventFd, Send, ZeroCopy;
    "mempipe-hybrid" => Hybrid, Reserve, Copy;
    "mempipe-hybrid-zc" => Hybrid, Reserve, ZeroCopy;
    "mempipe-hybrid-send" => Hybrid, Send, Copy;
    "mempipe-hybrid-send-zc" => Hybrid, Send, ZeroCopy;
}

/// Largest message: half a 64 MiB ring.
const MAX_RING: usize = 64 << 20;

/// The ring size every shared-memory transport uses (see `ring_capacity`).
fn config(wakeup: WakeupKind, len: usize) -> Config {
    let capacity = super::ring_capacity(len).min(MAX_RING);
    Config::new()
        .capacity(capacity)
        .max_message(len)
        .wakeup(wakeup)
}

struct Ends {
    tx: Producer,
    rx: Consumer,
    write: WriteMode,
    read: ReadMode,
    buf: Vec<u8>,
    /// The parent's two rings, kept to report where their pages are.
    regions: Vec<Region>,
}

impl Ends {
    /// Waits in slices until `len` bytes fit, watching the stop flag.
    #[cold]
    fn wait_room(&mut self, len: usize) -> Result<(), XferError> {
        loop {
            match self.tx.wait_for_room(len, SLICE) {
                Ok(()) => return Ok(()),
                Err(SendError::Timeout) if should_stop() => return Err(XferError::Stopped),
                Err(SendError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    #[inline(always)]
    fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        match self.write {
            WriteMode::Send => self.tx.try_send(msg),
            WriteMode::Reserve => {
                let mut grant = self.tx.try_reserve(msg.len())?;
                // SAFETY: the peer is this benchmark's own child process, which
                // never writes unpublished ring space.
                unsafe { grant.as_mut_slice() }.copy_from_slice(msg);
                grant.commit();
                Ok(())
            }
        }
    }
}

fn check_len(got: usize, want: usize) -> Result<(), XferError> {
    if got == want {
        Ok(())
    } else {
        Err(XferError::Protocol(format!(
            "message of {got} bytes, expected {want}"
        )))
    }
}

// Inlined into the measurement loops (see `Endpoint::ping`), where the
// `consume` closure is then a direct call too.
impl Endpoint for Ends {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        loop {
            match self.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(SendError::Full { .. }) => self.wait_room(msg.len())?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    #[inline(always)]
    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        // Timed waits: the wait itself re-checks the stop flag between slices.
        loop {
            let outcome = match self.read {
                ReadMode::Copy => self.rx.recv_timeout(&mut self.buf, SLICE).map(|n| {
                    check_len(n, len)?;
                    consume(&self.buf);
                    Ok(())
                }),
                ReadMode::ZeroCopy => self.rx.recv_grant_timeout(SLICE).map(|grant| {
                    check_len(grant.len(), len)?;
                    // SAFETY: the producer is this benchmark's own child process,
                    // which never writes a published record.
                    consume(unsafe { grant.as_slice() });
                    Ok(())
                }),
            };
            match outcome {
                Ok(result) => return result,
                Err(RecvError::Timeout) if should_stop() => return Err(XferError::Stopped),
                Err(RecvError::Timeout) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn ring_pages(&self) -> Option<Vec<(u32, usize)>> {
        if self.regions.is_empty() {
            return None;
        }
        let mut nodes = std::collections::BTreeMap::new();
        for region in &self.regions {
            for (node, pages) in region.numa_pages() {
                *nodes.entry(node).or_insert(0) += pages;
            }
        }
        Some(nodes.into_iter().collect())
    }
}

/// Rebuilds a region from `fds` taken off the front of `list`: the memory,
/// then (every anonymous ring that can sleep has them) the wake descriptors.
fn region_from(list: &mut Vec<OwnedFd>, wakeup: WakeupKind) -> anyhow::Result<Region> {
    let n = if wakeup == WakeupKind::Spin { 1 } else { 3 };
    if list.len() < n {
        anyhow::bail!(
            "mempipe: expected {n} more inherited fds, got {}",
            list.len()
        );
    }
    let mut fds: Vec<OwnedFd> = list.drain(..n).collect();
    let eventfds = if n == 3 {
        let space = fds.pop().expect("three fds");
        let data = fds.pop().expect("three fds");
        Some([data, space])
    } else {
        None
    };
    let memory = fds.pop().expect("memory fd");
    Ok(Region::from_fds(memory, eventfds)?)
}

impl Transport for Mempipe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        match (self.wakeup, self.write, self.read) {
            (WakeupKind::Spin, WriteMode::Reserve, ReadMode::Copy) => {
                "mempipe ring per direction, spin wait; reserve/commit write, copy-out read"
            }
            (WakeupKind::Futex, WriteMode::Reserve, ReadMode::Copy) => {
                "mempipe ring per direction, futex wait (waiter flag: no syscall to a busy receiver)"
            }
            (WakeupKind::EventFd, WriteMode::Reserve, ReadMode::Copy) => {
                "mempipe ring per direction, eventfd wait (pollable), waiter flag"
            }
            (WakeupKind::Hybrid, WriteMode::Reserve, ReadMode::Copy) => {
                "mempipe ring per direction, spin 20 us then futex; no spin on a shared CPU"
            }
            (_, WriteMode::Reserve, ReadMode::ZeroCopy) => "as its base variant, zero-copy read in place",
            (_, WriteMode::Send, ReadMode::Copy) => "as its base variant, send() copy write",
            (_, WriteMode::Send, ReadMode::ZeroCopy) => "as its base variant, send() write, zero-copy read",
        }
    }

    fn max_size(&self) -> usize {
        MAX_RING / 2 - 64
    }

    fn spins(&self) -> bool {
        self.wakeup == WakeupKind::Spin
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let len = p.buffer_len();
        // Parent -> child ring, then child -> parent ring.
        let down = Region::create_anonymous(&config(self.wakeup, len))?;
        let up = Region::create_anonymous(&config(self.wakeup, len))?;
        // Duplicates for the child: memory first, then the wake descriptors if any.
        let mut fds = down.handoff()?.into_fds();
        fds.extend(up.handoff()?.into_fds());
        let ends = Ends {
            tx: down.producer()?,
            rx: up.consumer()?,
            write: self.write,
            read: self.read,
            buf: Vec::with_capacity(len),
            regions: vec![down, up],
        };
        Ok((Box::new(ends), Handoff { fds, args: vec![] }))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let mut fds = h.fds;
        let down = region_from(&mut fds, self.wakeup)?;
        let up = region_from(&mut fds, self.wakeup)?;
        if !fds.is_empty() {
            anyhow::bail!("mempipe: {} unexpected inherited fds", fds.len());
        }
        Ok(Box::new(Ends {
            tx: up.producer()?,
            rx: down.consumer()?,
            write: self.write,
            read: self.read,
            buf: Vec::with_capacity(p.buffer_len()),
            regions: Vec::new(),
        }))
    }
}
