//! Handshake I/O on a socket: exact reads that refuse descriptors, writes that
//! never raise SIGPIPE, each bounded by one deadline for the whole message.

use super::error::HandshakeError;
use super::tcp::poll_until;
use crate::deadline::Deadline;
use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags};
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::time::Duration;

/// Reads exactly `buf.len()` bytes; descriptors that arrive with them are
/// closed and reported. `timeout` bounds the whole message, however the peer
/// spreads its bytes.
pub(crate) fn read_exact(
    socket: impl AsFd,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<(), HandshakeError> {
    read_exact_until(socket, buf, Deadline::after(timeout).resolve(), timeout)
}

/// [`read_exact`] by a deadline (`budget` is what the error reports as the
/// time the peer had).
pub(crate) fn read_exact_until(
    socket: impl AsFd,
    buf: &mut [u8],
    deadline: Deadline,
    budget: Duration,
) -> Result<(), HandshakeError> {
    let mut got = 0;
    while got < buf.len() {
        if !poll_until(&socket, PollFlags::IN, deadline) {
            return Err(HandshakeError::Timeout(budget));
        }
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let res = rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(&mut buf[got..])],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
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
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(e) => return Err(HandshakeError::Io(e.into())),
        }
    }
    Ok(())
}

/// Writes all of `bytes` by `deadline` (without SIGPIPE on a closed peer),
/// on a blocking or non-blocking socket.
pub(crate) fn write_all_until(
    socket: impl AsFd,
    mut bytes: &[u8],
    deadline: Deadline,
    budget: Duration,
) -> Result<(), HandshakeError> {
    while !bytes.is_empty() {
        match rustix::net::send(&socket, bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                if !poll_until(&socket, PollFlags::OUT, deadline) {
                    return Err(HandshakeError::Timeout(budget));
                }
            }
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
