//! `udp`: two connected loopback UDP sockets, one datagram per message.
//!
//! UDP has no back-pressure: a sender that outruns the receiver's socket
//! buffer loses datagrams. The throughput stream therefore runs with a credit
//! window (see [`Transport::flow_window`]) sized so the window always fits the
//! receive buffer. Messages above 65507 bytes (the largest IPv4 datagram) are
//! skipped, not failed.

use super::fdio::FdEndpoint;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport};
use rustix::net::sockopt;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::OwnedFd;

pub(crate) struct Udp;

/// Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP).
pub(crate) const MAX_DATAGRAM: usize = 65507;
const WANT_RCVBUF: usize = 4 << 20;
/// Receive-buffer budget the credit window is sized against: half the
/// default `rmem_default` (212992), counting ~1 KiB of kernel overhead per
/// datagram, so no datagram is dropped even without a larger buffer.
const WINDOW_BUDGET: usize = 100 * 1024;

impl Transport for Udp {
    fn name(&self) -> &'static str {
        "udp"
    }
    fn description(&self) -> &'static str {
        "UDP over loopback, two connected sockets; credit window against loss; max 65507 B"
    }
    fn max_size(&self) -> usize {
        MAX_DATAGRAM
    }
    fn flow_window(&self, p: &CellParams) -> Option<u64> {
        Some((WINDOW_BUDGET / (p.size + 1024)).clamp(2, 64) as u64)
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        a.connect(b.local_addr()?)?;
        b.connect(a.local_addr()?)?;
        for s in [&a, &b] {
            if sockopt::set_socket_recv_buffer_size_force(s, WANT_RCVBUF).is_err() {
                let _ = sockopt::set_socket_recv_buffer_size(s, WANT_RCVBUF);
            }
        }
        let ep = FdEndpoint::packet_socket(OwnedFd::from(a), p.buffer_len());
        Ok((
            Box::new(ep),
            Handoff {
                fds: vec![OwnedFd::from(b)],
                args: vec![],
            },
        ))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, "udp")?;
        Ok(Box::new(FdEndpoint::packet_socket(fd, p.buffer_len())))
    }
}
