//! Handshake I/O on a socket: exact reads that refuse descriptors, writes that
//! never raise SIGPIPE.

use super::error::HandshakeError;
use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags};
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::time::Duration;

/// Reads exactly `buf.len()` bytes; descriptors that arrive with them are
/// closed and reported. `timeout` is the socket's receive timeout, for the message.
pub(crate) fn read_exact(
    socket: impl AsFd,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<(), HandshakeError> {
    let mut got = 0;
    while got < buf.len() {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let res = rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(&mut buf[got..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let mut fds = 0;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds += received.count(); // dropped here: closed unused
            }
        }
        if fds > 0 {
            return Err(HandshakeError::UnexpectedDescriptors { count: fds });
        }
        match res {
            Ok(msg) if msg.bytes == 0 => {
                return Err(HandshakeError::Truncated {
                    got,
                    expected: buf.len(),
                })
            }
            Ok(msg) => {
                if msg.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
                    return Err(HandshakeError::UnexpectedDescriptors { count: 1 });
                }
                got += msg.bytes;
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return Err(HandshakeError::Timeout(timeout)),
            Err(e) => return Err(HandshakeError::Io(e.into())),
        }
    }
    Ok(())
}

/// Writes all of `bytes` (without SIGPIPE on a closed peer).
pub(crate) fn write_all(socket: impl AsFd, mut bytes: &[u8]) -> Result<(), HandshakeError> {
    while !bytes.is_empty() {
        match rustix::net::send(&socket, bytes, SendFlags::NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(HandshakeError::Io(e.into())),
        }
    }
    Ok(())
}

/// Reads what is there now into `buf` on a non-blocking socket, without
/// waiting: `Ok(0)` when nothing is, an error for an end of stream (with
/// `got` of `expected` bytes read so far) or descriptors.
pub(crate) fn read_available(
    socket: impl AsFd,
    buf: &mut [u8],
    got: usize,
    expected: usize,
) -> Result<usize, HandshakeError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let res = rustix::net::recvmsg(
        &socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
    );
    let fds: usize = control
        .drain()
        .map(|m| match m {
            RecvAncillaryMessage::ScmRights(received) => received.count(),
            _ => 0,
        })
        .sum();
    match res {
        _ if fds > 0 => Err(HandshakeError::UnexpectedDescriptors { count: fds }),
        Ok(msg) if msg.flags.contains(rustix::net::ReturnFlags::CTRUNC) => {
            Err(HandshakeError::UnexpectedDescriptors { count: 1 })
        }
        Ok(msg) if msg.bytes == 0 && !buf.is_empty() => {
            Err(HandshakeError::Truncated { got, expected })
        }
        Ok(msg) => Ok(msg.bytes),
        Err(Errno::AGAIN | Errno::INTR) => Ok(0),
        Err(e) => Err(HandshakeError::Io(e.into())),
    }
}
