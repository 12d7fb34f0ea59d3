//! Zero-copy sends on a connection: room reserved in the ring (shared memory)
//! or in the frame buffer (TCP), filled in place, then committed.

use super::tcp::TcpSender;
use crate::endpoint::WriteGrant;
use crate::error::GrantBoundsError;
use std::fmt;
use std::io;

pub(crate) enum GrantInner<'a> {
    Shm(WriteGrant<'a>),
    Tcp {
        sender: &'a mut TcpSender,
        len: usize,
        cursor: usize,
    },
}

/// Room reserved for one message, filled in place, then sent with
/// [`commit`](Self::commit). Dropping it uncommitted sends nothing.
///
/// ```
/// # fn f(conn: &mut mempipe::Connection) -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Write;
/// let mut grant = conn.reserve(64)?;
/// write!(grant, "order #{}", 7)?;
/// grant.commit_written();
/// # Ok(()) }
/// ```
pub struct SendGrant<'a> {
    pub(crate) inner: GrantInner<'a>,
}

impl fmt::Debug for SendGrant<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendGrant")
            .field("len", &self.len())
            .finish()
    }
}

impl SendGrant<'_> {
    /// Bytes reserved.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.inner {
            GrantInner::Shm(g) => g.len(),
            GrantInner::Tcp { len, .. } => *len,
        }
    }

    /// Whether zero bytes were reserved.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `bytes` into the grant at `offset`.
    ///
    /// # Errors
    /// [`GrantBoundsError`] when they do not fit; nothing is written.
    #[inline]
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<(), GrantBoundsError> {
        match &mut self.inner {
            GrantInner::Shm(g) => g.write_at(offset, bytes),
            GrantInner::Tcp { sender, len, .. } => {
                let end = GrantBoundsError::check(offset, bytes.len(), *len)?;
                sender.payload()[offset..end].copy_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Sends all reserved bytes.
    #[inline]
    pub fn commit(self) {
        let len = self.len();
        self.publish(len);
    }

    #[inline]
    fn publish(self, n: usize) {
        match self.inner {
            GrantInner::Shm(g) => {
                // `n <= len` is checked by the callers.
                let _ = g.commit_len(n);
            }
            GrantInner::Tcp { sender, .. } => sender.commit(n),
        }
    }

    /// Sends only the first `len` bytes.
    ///
    /// # Errors
    /// [`GrantBoundsError`] when `len` exceeds the reservation; nothing is sent.
    pub fn commit_len(self, len: usize) -> Result<(), GrantBoundsError> {
        GrantBoundsError::check(0, len, self.len())?;
        self.publish(len);
        Ok(())
    }

    /// Sends the bytes written so far through [`io::Write`].
    pub fn commit_written(self) {
        let n = match &self.inner {
            GrantInner::Shm(_) => None,
            GrantInner::Tcp { cursor, .. } => Some(*cursor),
        };
        match (self.inner, n) {
            (GrantInner::Shm(g), _) => g.commit_written(),
            (GrantInner::Tcp { sender, .. }, Some(n)) => sender.commit(n),
            (GrantInner::Tcp { .. }, None) => {}
        }
    }
}

impl io::Write for SendGrant<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            GrantInner::Shm(g) => g.write(buf),
            GrantInner::Tcp {
                sender,
                len,
                cursor,
            } => {
                let n = buf.len().min(*len - *cursor);
                sender.payload()[*cursor..*cursor + n].copy_from_slice(&buf[..n]);
                *cursor += n;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
