//! `unix-stream`: an AF_UNIX SOCK_STREAM socketpair.

use super::fdio::FdEndpoint;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport};
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

pub(crate) struct UnixStream;

impl Transport for UnixStream {
    fn name(&self) -> &'static str {
        "unix-stream"
    }
    fn description(&self) -> &'static str {
        "AF_UNIX SOCK_STREAM socketpair, blocking read/write"
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok((
            Box::new(FdEndpoint::stream_socket(a, p.buffer_len())),
            Handoff {
                fds: vec![b],
                args: vec![],
            },
        ))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, "unix-stream")?;
        Ok(Box::new(FdEndpoint::stream_socket(fd, p.buffer_len())))
    }
}
