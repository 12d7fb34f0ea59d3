//! `tcp` and `tcp-nodelay`: a loopback TCP connection. The parent listens on
//! 127.0.0.1:0, connects to itself, accepts, and hands the connected socket to
//! the child; the listener is closed before the child starts.

use super::fdio::FdEndpoint;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport};
use anyhow::Context;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;

/// One transport type, registered twice: with Nagle's algorithm and without.
pub(crate) struct Tcp {
    nodelay: bool,
}

pub(crate) static TCP: Tcp = Tcp { nodelay: false };
pub(crate) static TCP_NODELAY: Tcp = Tcp { nodelay: true };

impl Transport for Tcp {
    fn name(&self) -> &'static str {
        if self.nodelay {
            "tcp-nodelay"
        } else {
            "tcp"
        }
    }
    fn description(&self) -> &'static str {
        if self.nodelay {
            "TCP over loopback with TCP_NODELAY (Nagle off)"
        } else {
            "TCP over loopback, Nagle on (default socket options)"
        }
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("tcp: bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let client = TcpStream::connect(addr).with_context(|| format!("tcp: connect to {addr}"))?;
        let (server, _) = listener.accept().context("tcp: accept")?;
        if self.nodelay {
            client.set_nodelay(true)?;
            server.set_nodelay(true)?;
        }
        let ep = FdEndpoint::stream_socket(OwnedFd::from(server), p.buffer_len());
        Ok((
            Box::new(ep),
            Handoff {
                fds: vec![OwnedFd::from(client)],
                args: vec![],
            },
        ))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, self.name())?;
        Ok(Box::new(FdEndpoint::stream_socket(fd, p.buffer_len())))
    }
}
