//! `pipe`: two anonymous pipes, one per direction (default 64 KiB capacity).

use super::fdio::FdEndpoint;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport};
use std::os::fd::OwnedFd;

pub(crate) struct Pipe;

impl Transport for Pipe {
    fn name(&self) -> &'static str {
        "pipe"
    }
    fn description(&self) -> &'static str {
        "two anonymous pipes (one per direction), blocking read/write, default 64 KiB pipe buffer"
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (to_child_r, to_child_w) = std::io::pipe()?;
        let (to_parent_r, to_parent_w) = std::io::pipe()?;
        let ep = FdEndpoint::stream_pair(
            OwnedFd::from(to_parent_r),
            OwnedFd::from(to_child_w),
            p.buffer_len(),
        );
        let handoff = Handoff {
            fds: vec![OwnedFd::from(to_child_r), OwnedFd::from(to_parent_w)],
            args: vec![],
        };
        Ok((Box::new(ep), handoff))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [rx, tx] = take_fds::<2>(h, "pipe")?;
        Ok(Box::new(FdEndpoint::stream_pair(rx, tx, p.buffer_len())))
    }
}
