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

/// Reads exactly `buf.len()` bytes by `deadline`, however the peer spreads
/// them; descriptors that arrive with them are closed and reported. `budget`
/// is what the error reports as the time the peer had.
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
        let expected = buf.len();
        got += read_available(&socket, &mut buf[got..], got, expected)?;
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
