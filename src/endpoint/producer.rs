//! The writing end.

use super::{Deadline, Link, WriteGrant};
use crate::config::WakeupKind;
use crate::error::{Corruption, MessageLimit, SendError};
use crate::ring::producer::ReserveError;
use crate::ring::{Reservation, RingProducer};
use crate::wakeup::WaitEnd;
use std::time::Duration;

/// The writing end of a ring. One per ring; `Send` so it can move to the thread
/// (or be created in the process) that writes.
///
/// Dropping it closes the ring for writing: the consumer reads what was
/// committed, then gets [`RecvError::Disconnected`](crate::RecvError::Disconnected).
pub struct Producer {
    pub(super) ring: RingProducer,
    pub(super) link: Link,
    /// The setting [`SendError::TooLarge`] names: read only on that error.
    limit: MessageLimit,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("max_message", &self.max_message())
            .field("wakeup", &self.wakeup())
            .finish()
    }
}

impl Producer {
    /// The endpoint on `link`'s side of a fresh ring.
    pub(crate) fn new(link: Link) -> Result<Self, Corruption> {
        Ok(Producer {
            ring: RingProducer::new(link.shared().clone())?,
            link,
            limit: MessageLimit::Region,
        })
    }

    /// Makes [`SendError::TooLarge`] name `limit` (a connection's ends name
    /// `ConnConfig::max_message`, not the region's setting).
    pub(crate) fn set_message_limit(&mut self, limit: MessageLimit) {
        self.limit = limit;
    }

    /// Reserves room for a message of `len` bytes without waiting: a
    /// [`WriteGrant`] over the ring's memory to fill in place and commit.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// let mut grant = tx.try_reserve(16)?;
    /// grant.write_at(0, b"header")?;
    /// grant.write_at(6, b"+body")?;
    /// grant.commit_len(11)?; // the unused 5 bytes go back to the ring
    /// let mut buf = Vec::new();
    /// rx.try_recv(&mut buf)?;
    /// assert_eq!(buf, b"header+body");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SendError::Full`] if there is no room now; [`SendError::TooLarge`] if
    /// `len` exceeds [`max_message`](Self::max_message);
    /// [`SendError::Disconnected`] if the consumer closed its end;
    /// [`SendError::PeerDied`] if the consumer's process is known dead (instead
    /// of `Full`); [`SendError::Corrupted`] if the shared state is inconsistent.
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, SendError> {
        let reservation = self.reserve_inner(len, Deadline::NonBlocking)?;
        Ok(WriteGrant::new(self, reservation))
    }

    /// Reserves room for `len` bytes, waiting as long as it takes (or until the
    /// consumer disconnects or dies).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// let reader = std::thread::spawn(move || rx.recv(&mut Vec::new()).map(|_| ()));
    /// let mut grant = tx.reserve(8)?;
    /// grant.write_at(0, &42u64.to_le_bytes())?;
    /// grant.commit();
    /// reader.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SendError::TooLarge`] if `len` exceeds
    /// [`max_message`](Self::max_message); [`SendError::Disconnected`] if the
    /// consumer closed its end; [`SendError::PeerDied`] if the consumer's
    /// process died; [`SendError::Corrupted`] if the shared state is
    /// inconsistent; [`SendError::Io`] if a wakeup system call fails.
    pub fn reserve(&mut self, len: usize) -> Result<WriteGrant<'_>, SendError> {
        let reservation = self.reserve_inner(len, Deadline::Forever)?;
        Ok(WriteGrant::new(self, reservation))
    }

    /// Reserves room for `len` bytes, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] if `len` exceeds
    /// [`max_message`](Self::max_message); [`SendError::Disconnected`] if the
    /// consumer closed its end; [`SendError::PeerDied`] if the consumer's
    /// process died; [`SendError::Corrupted`] if the shared state is
    /// inconsistent; [`SendError::Io`] if a wakeup system call fails.
    /// [`SendError::Timeout`] if no room was made within `timeout`.
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<WriteGrant<'_>, SendError> {
        let reservation = self.reserve_inner(len, Deadline::after(timeout))?;
        Ok(WriteGrant::new(self, reservation))
    }

    /// Waits at most `timeout` until a message of `len` bytes fits, so that the
    /// next [`try_reserve`](Self::try_reserve) succeeds.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] if `len` exceeds
    /// [`max_message`](Self::max_message); [`SendError::Disconnected`] if the
    /// consumer closed its end; [`SendError::PeerDied`] if the consumer's
    /// process died; [`SendError::Corrupted`] if the shared state is
    /// inconsistent; [`SendError::Io`] if a wakeup system call fails.
    /// [`SendError::Timeout`] if no room was made within `timeout`.
    pub fn wait_for_room(&mut self, len: usize, timeout: Duration) -> Result<(), SendError> {
        self.reserve_inner(len, Deadline::after(timeout))
            .map(|_| ())
    }

    /// Copies `msg` into the ring and commits it, without waiting.
    ///
    /// # Errors
    /// [`SendError::Full`] if there is no room now; [`SendError::TooLarge`] if
    /// `msg` exceeds [`max_message`](Self::max_message);
    /// [`SendError::Disconnected`] if the consumer closed its end;
    /// [`SendError::PeerDied`] if the consumer's process is known dead (instead
    /// of `Full`); [`SendError::Corrupted`] if the shared state is inconsistent.
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_by(msg, Deadline::NonBlocking)
    }

    /// Copies `msg` into the ring and commits it, waiting for room (or until
    /// the consumer disconnects or dies).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// let writer = std::thread::spawn(move || -> Result<(), mempipe::SendError> {
    ///     for i in 0..1000u32 {
    ///         tx.send(&i.to_le_bytes())?; // waits while the ring is full
    ///     }
    ///     Ok(())
    /// });
    /// let mut buf = Vec::new();
    /// for i in 0..1000u32 {
    ///     rx.recv(&mut buf)?;
    ///     assert_eq!(buf, i.to_le_bytes());
    /// }
    /// writer.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`SendError::TooLarge`] if `msg` exceeds
    /// [`max_message`](Self::max_message); [`SendError::Disconnected`] if the
    /// consumer closed its end; [`SendError::PeerDied`] if the consumer's
    /// process died; [`SendError::Corrupted`] if the shared state is
    /// inconsistent; [`SendError::Io`] if a wakeup system call fails.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.send_by(msg, Deadline::Forever)
    }

    /// Copies `msg` into the ring and commits it, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`SendError::TooLarge`] if `msg` exceeds
    /// [`max_message`](Self::max_message); [`SendError::Disconnected`] if the
    /// consumer closed its end; [`SendError::PeerDied`] if the consumer's
    /// process died; [`SendError::Corrupted`] if the shared state is
    /// inconsistent; [`SendError::Io`] if a wakeup system call fails.
    /// [`SendError::Timeout`] if no room was made within `timeout`.
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.send_by(msg, Deadline::after(timeout))
    }

    /// [`send`](Self::send) with any [`Deadline`] (connections pass theirs on).
    #[inline]
    pub(crate) fn send_by(&mut self, msg: &[u8], deadline: Deadline) -> Result<(), SendError> {
        let r = self.reserve_inner(msg.len(), deadline)?;
        self.ring.write(&r, 0, msg);
        self.publish(r, msg.len() as u64);
        Ok(())
    }

    /// Sends a connection's control record (`payload` at most
    /// `MAX_CONTROL` bytes), waiting as `deadline` allows.
    pub(crate) fn send_control_by(
        &mut self,
        payload: &[u8],
        deadline: Deadline,
    ) -> Result<(), SendError> {
        let r = self.reserve_inner(payload.len(), deadline)?;
        self.ring.write(&r, 0, payload);
        self.ring.commit_control(r, payload.len() as u64);
        self.link.notify_peer();
        Ok(())
    }

    /// [`reserve`](Self::reserve) with any [`Deadline`].
    #[inline]
    pub(crate) fn reserve_by(
        &mut self,
        len: usize,
        deadline: Deadline,
    ) -> Result<WriteGrant<'_>, SendError> {
        let reservation = self.reserve_inner(len, deadline)?;
        Ok(WriteGrant::new(self, reservation))
    }

    /// Publishes a reservation and wakes the consumer if it sleeps.
    #[inline]
    pub(super) fn publish(&mut self, r: Reservation, len: u64) {
        self.ring.commit(r, len);
        self.link.notify_peer();
    }

    #[inline]
    fn reserve_inner(
        &mut self,
        len: usize,
        mut deadline: Deadline,
    ) -> Result<Reservation, SendError> {
        let len64 = len as u64;
        loop {
            if self.link.peer_closed() {
                return Err(SendError::Disconnected);
            }
            let needed = match self.ring.try_reserve(len64) {
                Ok(r) => return Ok(r),
                Err(ReserveError::TooLarge) => {
                    return Err(SendError::TooLarge {
                        len,
                        max: self.max_message(),
                        limit: self.limit,
                    })
                }
                Err(ReserveError::Corrupted(c)) => return Err(c.into()),
                Err(ReserveError::Full { needed }) => needed,
            };
            if let Deadline::NonBlocking = deadline {
                return Err(match self.link.peer_died_while_idle() {
                    Some(pid) => SendError::PeerDied { pid },
                    None => SendError::Full {
                        needed: needed as usize,
                    },
                });
            }
            deadline = deadline.resolve();
            self.await_room(len64, deadline)?;
        }
    }

    #[cold]
    fn await_room(&mut self, len: u64, deadline: Deadline) -> Result<(), SendError> {
        let mut corrupt: Option<Corruption> = None;
        let ring = &mut self.ring;
        let mut ready = || match ring.has_room(len) {
            Ok(room) => room,
            Err(c) => {
                corrupt = Some(c);
                true
            }
        };
        let end = self.link.wait(&mut ready, deadline);
        if let Some(c) = corrupt {
            return Err(c.into());
        }
        match end {
            WaitEnd::Ready => Ok(()),
            WaitEnd::TimedOut => Err(SendError::Timeout),
            WaitEnd::PeerDied(pid) => Err(SendError::PeerDied { pid }),
            WaitEnd::Failed(e) => Err(SendError::Io(e)),
        }
    }

    /// Publishes this side's waits and wakes in `counters` (a connection's
    /// sending direction).
    #[cfg(not(loom))]
    pub(crate) fn set_counters(&mut self, counters: &'static crate::counters::SideCounters) {
        self.link.counters = Some(counters);
    }

    /// Stops counting into a flow's slot (the slot is being given up).
    #[cfg(feature = "tokio")]
    pub(crate) fn clear_counters(&mut self) {
        self.link.counters = None;
    }

    /// Bytes in the ring as this side last saw them (no shared line read).
    #[inline]
    pub(crate) fn ring_fill(&self) -> u64 {
        self.ring.used()
    }

    /// Largest message this ring carries.
    pub fn max_message(&self) -> usize {
        self.ring.geometry().max_message as usize
    }

    /// Ring data capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.geometry().capacity as usize
    }

    /// The ring's wakeup strategy.
    pub fn wakeup(&self) -> WakeupKind {
        self.link.wakeup_kind()
    }

    /// Whether the consumer has closed its end.
    pub fn is_disconnected(&self) -> bool {
        self.link.peer_closed()
    }

    /// How often a blocked call checks that the consumer process lives.
    pub fn liveness_interval(&self) -> Duration {
        self.link.liveness_interval()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.link.close();
    }
}
