//! Endpoints over file descriptors: byte streams (pipes, stream sockets) and
//! message-preserving sockets (datagram, seqpacket).

use super::{Endpoint, XferError};
use crate::stop::should_stop;
use rustix::io::Errno;
use std::os::fd::{AsFd, OwnedFd};

/// Map a failed syscall to "retry" (Ok) or an error.
fn retry_or_fail(e: Errno) -> Result<(), XferError> {
    match e {
        Errno::INTR | Errno::AGAIN if should_stop() => Err(XferError::Stopped),
        Errno::INTR | Errno::AGAIN => Ok(()),
        Errno::PIPE | Errno::CONNRESET | Errno::CONNREFUSED => Err(XferError::Closed),
        e => Err(e.into()),
    }
}

/// Write all of `buf`, retrying on EINTR unless the cell must stop.
pub(crate) fn write_all(fd: impl AsFd, mut buf: &[u8]) -> Result<(), XferError> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) => retry_or_fail(e)?,
        }
    }
    Ok(())
}

/// Read exactly `buf.len()` bytes from a byte stream.
pub(crate) fn read_exact(fd: impl AsFd, mut buf: &mut [u8]) -> Result<(), XferError> {
    let fd = fd.as_fd();
    while !buf.is_empty() {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Err(XferError::Closed),
            Ok(n) => buf = &mut buf[n..],
            Err(e) => retry_or_fail(e)?,
        }
    }
    Ok(())
}

/// Send one datagram/packet; it must go out whole.
pub(crate) fn send_packet(fd: impl AsFd, buf: &[u8]) -> Result<(), XferError> {
    let fd = fd.as_fd();
    loop {
        match rustix::io::write(fd, buf) {
            Ok(n) if n == buf.len() => return Ok(()),
            Ok(n) => {
                return Err(XferError::Protocol(format!(
                    "short packet write: {n} of {}",
                    buf.len()
                )))
            }
            Err(e) => retry_or_fail(e)?,
        }
    }
}

/// Receive one datagram/packet that must be exactly `buf.len()` bytes.
pub(crate) fn recv_packet(fd: impl AsFd, buf: &mut [u8]) -> Result<(), XferError> {
    let fd = fd.as_fd();
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) if n == buf.len() => return Ok(()),
            Ok(0) => return Err(XferError::Closed),
            Ok(n) => {
                return Err(XferError::Protocol(format!(
                    "got a {n}-byte packet, expected {}",
                    buf.len()
                )))
            }
            Err(e) => retry_or_fail(e)?,
        }
    }
}

/// An endpoint reading from one fd and writing to another (or the same).
pub(crate) struct FdEndpoint {
    rx: OwnedFd,
    /// `None`: write to `rx` (a socket).
    tx: Option<OwnedFd>,
    packets: bool,
    buf: Vec<u8>,
}

impl FdEndpoint {
    /// Byte stream over a pipe pair.
    pub(crate) fn stream_pair(rx: OwnedFd, tx: OwnedFd, buffer_len: usize) -> Self {
        FdEndpoint {
            rx,
            tx: Some(tx),
            packets: false,
            buf: vec![0; buffer_len],
        }
    }
    /// Byte stream over one bidirectional socket.
    pub(crate) fn stream_socket(fd: OwnedFd, buffer_len: usize) -> Self {
        FdEndpoint {
            rx: fd,
            tx: None,
            packets: false,
            buf: vec![0; buffer_len],
        }
    }
    /// One message per datagram/packet.
    pub(crate) fn packet_socket(fd: OwnedFd, buffer_len: usize) -> Self {
        FdEndpoint {
            rx: fd,
            tx: None,
            packets: true,
            buf: vec![0; buffer_len],
        }
    }
}

impl Endpoint for FdEndpoint {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        let fd = self.tx.as_ref().unwrap_or(&self.rx);
        if self.packets {
            send_packet(fd, msg)
        } else {
            write_all(fd, msg)
        }
    }

    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        let buf = &mut self.buf[..len];
        if self.packets {
            recv_packet(&self.rx, buf)?;
        } else {
            read_exact(&self.rx, buf)?;
        }
        consume(buf);
        Ok(())
    }
}
