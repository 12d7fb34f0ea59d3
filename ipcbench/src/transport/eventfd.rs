//! `eventfd`: the payload travels through a shared byte ring per direction
//! (memfd); the notification is an eventfd per ring event. The sender writes
//! 1 to the ring's "data" eventfd after every publish; a receiver that finds
//! the ring empty blocks in read(2) on it (the count tells it nothing more:
//! it re-checks the ring). A sender that finds the ring full sets a flag and
//! blocks on the ring's "space" eventfd. Four eventfds and one memfd in all.

use super::fdio;
use super::ring::{self, Wait};
use super::shm::Shm;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport, XferError};
use rustix::event::{eventfd, EventfdFlags};
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicU32;

pub(crate) struct Eventfd;

/// One eventfd used as a wake-up for one ring event.
pub(crate) struct EventWait(OwnedFd);

impl Wait for EventWait {
    const SPINS: bool = false;
    fn wait(&mut self, _word: &AtomicU32, _seen: u32) -> Result<(), XferError> {
        // Every change of the word is followed by a write to this eventfd, so
        // a change after the caller's check leaves a count here: no lost wakeup.
        let mut count = [0u8; 8];
        fdio::read_exact(&self.0, &mut count)
    }
    fn wake(&mut self, _word: &AtomicU32) -> Result<(), XferError> {
        fdio::write_all(&self.0, &1u64.to_ne_bytes())
    }
}

fn endpoint(shm: Shm, efds: [OwnedFd; 4], p: &CellParams, is_parent: bool) -> Box<dyn Endpoint> {
    ring::cell_duplex(shm, p, is_parent, efds.map(EventWait))
}

impl Transport for Eventfd {
    fn name(&self) -> &'static str {
        "eventfd"
    }
    fn description(&self) -> &'static str {
        "shared byte ring per direction for the payload; eventfd write after every send, blocking eventfd read on empty"
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (shm, memfd) = Shm::create(&p.name_prefix, ring::cell_len(p))?;
        let mut fds = vec![memfd];
        let mut mine = Vec::new();
        for _ in 0..4 {
            let e = eventfd(0, EventfdFlags::CLOEXEC)?;
            fds.push(e.try_clone()?);
            mine.push(e);
        }
        let mine: [OwnedFd; 4] = mine
            .try_into()
            .map_err(|_| anyhow::anyhow!("eventfd count"))?;
        Ok((endpoint(shm, mine, p, true), Handoff { fds, args: vec![] }))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [memfd, a, b, c, d] = take_fds::<5>(h, "eventfd")?;
        Ok(endpoint(Shm::attach(memfd)?, [a, b, c, d], p, false))
    }
}
