//! `unix-seqpacket`: an AF_UNIX SOCK_SEQPACKET socketpair; one packet per
//! message. A packet must fit the socket send buffer, so the largest message
//! is probed from SO_SNDBUF (raised with SO_SNDBUFFORCE when permitted).

use super::fdio::FdEndpoint;
use super::{take_fds, CellParams, Endpoint, Handoff, Transport};
use rustix::net::{socketpair, sockopt, AddressFamily, SocketFlags, SocketType};
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

pub(crate) struct UnixSeqpacket;

/// Send buffer we ask for; the kernel may cap it at `wmem_max`.
const WANT_SNDBUF: usize = 4 << 20;

fn pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    for fd in [&a, &b] {
        if sockopt::set_socket_send_buffer_size_force(fd, WANT_SNDBUF).is_err() {
            let _ = sockopt::set_socket_send_buffer_size(fd, WANT_SNDBUF);
        }
    }
    Ok((a, b))
}

impl Transport for UnixSeqpacket {
    fn name(&self) -> &'static str {
        "unix-seqpacket"
    }
    fn description(&self) -> &'static str {
        "AF_UNIX SOCK_SEQPACKET socketpair, one packet per message (size limited by SO_SNDBUF)"
    }
    fn max_size(&self) -> usize {
        static MAX: OnceLock<usize> = OnceLock::new();
        *MAX.get_or_init(|| {
            // Linux rejects a packet longer than sk_sndbuf - 32 (EMSGSIZE).
            pair()
                .ok()
                .and_then(|(a, _b)| sockopt::socket_send_buffer_size(&a).ok())
                .map_or(200 * 1024, |s| s.saturating_sub(32 + 512))
        })
    }
    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let (a, b) = pair()?;
        Ok((
            Box::new(FdEndpoint::packet_socket(a, p.buffer_len())),
            Handoff {
                fds: vec![b],
                args: vec![],
            },
        ))
    }
    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [fd] = take_fds::<1>(h, "unix-seqpacket")?;
        Ok(Box::new(FdEndpoint::packet_socket(fd, p.buffer_len())))
    }
}
