//! The reading end.

use super::{Deadline, Link, ReadGrant};
use crate::config::WakeupKind;
use crate::error::{Corruption, RecvError};
use crate::ring::{RecordRef, RingConsumer};
use crate::wakeup::WaitEnd;
use std::time::Duration;

/// Polls of the ring before a spinning wait is set up: about the time a
/// cross-core answer takes.
const FAST_POLLS: u32 = 64;

/// How far past a record a consumer that is behind reads ahead.
const READ_AHEAD: u64 = 128;

/// The reading end of a ring.
///
/// Reads copy the message out of shared memory before the caller sees it
/// ([`recv`](Self::recv), [`recv_into`](Self::recv_into)), so a peer changing
/// those bytes later cannot affect the caller. Zero-copy reads
/// ([`try_recv_grant`](Self::try_recv_grant)) lend the bytes in place; see [`ReadGrant`].
///
/// Dropping it closes the ring for reading: the producer's sends then fail with
/// [`SendError::Disconnected`](crate::SendError::Disconnected).
pub struct Consumer {
    pub(super) ring: RingConsumer,
    pub(super) link: Link,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.capacity())
            .field("max_message", &self.max_message())
            .field("wakeup", &self.wakeup())
            .finish()
    }
}

#[cold]
fn control_outside_connection(rec: &RecordRef) -> RecvError {
    RecvError::Corrupted(Corruption::new(format!(
        "control record at position {} on a ring that is not a connection's",
        rec.pos
    )))
}

impl Consumer {
    /// The endpoint on `link`'s side of a fresh ring.
    pub(crate) fn new(link: Link) -> Result<Self, Corruption> {
        Ok(Consumer {
            ring: RingConsumer::new(link.shared().clone())?,
            link,
        })
    }

    /// Receives the next message into `buf` (replacing its contents) without
    /// waiting. Returns the message length.
    ///
    /// # Errors
    /// [`RecvError::Empty`] if no message is there now;
    /// [`RecvError::Disconnected`] once the producer closed its end and every
    /// message was read; [`RecvError::PeerDied`] if the producer's process is
    /// known dead (instead of `Empty`); [`RecvError::Corrupted`] if the shared
    /// state is inconsistent.
    #[inline]
    pub fn try_recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_by(buf, Deadline::NonBlocking)
    }

    /// Receives the next message into `buf`, waiting as long as it takes (or until
    /// the producer disconnects or dies). Returns the message length.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// std::thread::spawn(move || tx.send(b"from another thread"));
    /// let mut buf = Vec::new();
    /// let len = rx.recv(&mut buf)?; // waits for the message
    /// assert_eq!(&buf[..len], b"from another thread");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize, RecvError> {
        self.recv_by(buf, Deadline::Forever)
    }

    /// Receives the next message into `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    /// [`RecvError::Timeout`] if no message arrived within `timeout`.
    pub fn recv_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.recv_by(buf, Deadline::after(timeout))
    }

    /// Receives the next message into the front of `buf` without waiting. A
    /// message longer than `buf` stays in the ring
    /// ([`RecvError::BufferTooSmall`]).
    ///
    /// # Errors
    /// [`RecvError::Empty`] if no message is there now;
    /// [`RecvError::BufferTooSmall`] if the message is longer than `buf` (it
    /// stays in the ring);
    /// [`RecvError::Disconnected`] once the producer closed its end and every
    /// message was read; [`RecvError::PeerDied`] if the producer's process is
    /// known dead (instead of `Empty`); [`RecvError::Corrupted`] if the shared
    /// state is inconsistent.
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_into_by(buf, Deadline::NonBlocking)
    }

    /// Receives the next message into the front of `buf`, waiting for one.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] if the message is longer than
    /// `buf` (it stays in the ring); [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        self.recv_into_by(buf, Deadline::Forever)
    }

    /// Receives the next message into the front of `buf`, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::BufferTooSmall`] if the message is longer than
    /// `buf` (it stays in the ring); [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    /// [`RecvError::Timeout`] if no message arrived within `timeout`.
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, RecvError> {
        self.recv_into_by(buf, Deadline::after(timeout))
    }

    /// Lends the next message in place without waiting (zero-copy read). The
    /// message's space is freed when the grant is dropped.
    ///
    /// # Errors
    /// [`RecvError::Empty`] if no message is there now;
    /// [`RecvError::Disconnected`] once the producer closed its end and every
    /// message was read; [`RecvError::PeerDied`] if the producer's process is
    /// known dead (instead of `Empty`); [`RecvError::Corrupted`] if the shared
    /// state is inconsistent.
    #[inline]
    pub fn try_recv_grant(&mut self) -> Result<ReadGrant<'_>, RecvError> {
        let rec = self.next(Deadline::NonBlocking)?;
        Ok(ReadGrant::new(self, rec))
    }

    /// Lends the next message in place, waiting for one.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let (mut tx, mut rx) = mempipe::channel(&mempipe::Config::new().capacity(4096))?;
    /// tx.send(b"in place")?;
    /// let grant = rx.recv_grant()?;
    /// let mut head = [0u8; 2];
    /// grant.copy_to_slice(&mut head); // copy out only what is needed
    /// assert_eq!((grant.len(), &head), (8, b"in"));
    /// drop(grant); // frees the message's space
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    pub fn recv_grant(&mut self) -> Result<ReadGrant<'_>, RecvError> {
        let rec = self.next(Deadline::Forever)?;
        Ok(ReadGrant::new(self, rec))
    }

    /// Lends the next message in place, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    /// [`RecvError::Timeout`] if no message arrived within `timeout`.
    pub fn recv_grant_timeout(&mut self, timeout: Duration) -> Result<ReadGrant<'_>, RecvError> {
        let rec = self.next(Deadline::after(timeout))?;
        Ok(ReadGrant::new(self, rec))
    }

    /// Waits at most `timeout` until a message can be read without blocking
    /// (it stays in the ring). Lets a caller wait in slices, for example to poll
    /// a stop flag between them, before a zero-copy [`try_recv_grant`](Self::try_recv_grant).
    ///
    /// # Errors
    /// [`RecvError::Disconnected`] once the producer closed its
    /// end and every message was read; [`RecvError::PeerDied`] if the
    /// producer's process died and every message was read;
    /// [`RecvError::Corrupted`] if the shared state is inconsistent;
    /// [`RecvError::Io`] if a wakeup system call fails.
    /// [`RecvError::Timeout`] if no message arrived within `timeout`.
    pub fn wait_for_message(&mut self, timeout: Duration) -> Result<(), RecvError> {
        self.next(Deadline::after(timeout)).map(|_| ())
    }

    /// Publishes this side's waits and wakes in `counters` (a connection's
    /// receiving direction).
    #[cfg(not(loom))]
    pub(crate) fn set_counters(&mut self, counters: &'static crate::counters::SideCounters) {
        self.link.counters = Some(counters);
    }

    /// Stops counting into a flow's slot (the slot is being given up).
    #[cfg(feature = "tokio")]
    pub(crate) fn clear_counters(&mut self) {
        self.link.counters = None;
    }

    /// [`recv`](Self::recv) with any [`Deadline`] (connections pass theirs on).
    #[inline]
    pub(crate) fn recv_by(
        &mut self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
    ) -> Result<usize, RecvError> {
        let rec = self.next(deadline)?;
        Ok(self.take_into_vec(rec, buf))
    }

    /// [`recv_into`](Self::recv_into) with any [`Deadline`].
    #[inline]
    pub(crate) fn recv_into_by(
        &mut self,
        buf: &mut [u8],
        deadline: Deadline,
    ) -> Result<usize, RecvError> {
        let rec = self.next(deadline)?;
        self.take_into_slice(rec, buf)
    }

    #[inline]
    fn take_into_vec(&mut self, rec: RecordRef, buf: &mut Vec<u8>) -> usize {
        let len = rec.len as usize;
        buf.clear();
        buf.reserve(len);
        // SAFETY: `buf` has room for `len` bytes (reserved above); the copy
        // initialises exactly those bytes before the length is set.
        unsafe {
            self.ring.copy_out_raw(&rec, buf.as_mut_ptr());
            buf.set_len(len);
        }
        self.release(rec);
        len
    }

    #[inline]
    pub(super) fn take_into_slice(
        &mut self,
        rec: RecordRef,
        buf: &mut [u8],
    ) -> Result<usize, RecvError> {
        let len = rec.len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(RecvError::BufferTooSmall {
                needed: len,
                buf_len: buf.len(),
            });
        };
        self.ring.copy_out(&rec, dst);
        self.release(rec);
        Ok(len)
    }

    /// Frees a record's space and wakes the producer if it waits for room.
    #[inline]
    pub(super) fn release(&mut self, rec: RecordRef) {
        if self.ring.release(rec) {
            // A batch of room is free: wake a producer asleep for it.
            self.link.notify_peer();
        } else if self.link.peer_may_sleep() {
            // Less than a batch: waking the producer for it would cost a wake
            // per few messages while this side is the slower one. It is woken
            // at the batch, or when this side has read everything (`next`);
            // the room is visible at once to its wait's periodic re-check, so
            // a consumer that stops reading here delays it, never strands it.
            self.ring.publish_quietly();
        }
    }

    /// The next published message, waiting as `deadline` allows. A control
    /// record belongs to a connection: on a plain ring it is corruption.
    #[inline]
    pub(super) fn next(&mut self, deadline: Deadline) -> Result<RecordRef, RecvError> {
        let rec = self.next_any(deadline)?;
        if rec.control {
            return Err(control_outside_connection(&rec));
        }
        Ok(rec)
    }

    /// A connection's receive: the next message into `buf` (replacing its
    /// contents), or the next control record's payload.
    #[inline]
    pub(crate) fn recv_conn_by(
        &mut self,
        buf: &mut Vec<u8>,
        deadline: Deadline,
    ) -> Result<super::Got, RecvError> {
        let rec = self.next_any(deadline)?;
        if rec.control {
            return Ok(super::Got::Control(self.take_control(rec)));
        }
        Ok(super::Got::Data(self.take_into_vec(rec, buf)))
    }

    /// A connection's receive into the front of `buf`, or the next control
    /// record's payload.
    #[inline]
    pub(crate) fn recv_into_conn_by(
        &mut self,
        buf: &mut [u8],
        deadline: Deadline,
    ) -> Result<super::Got, RecvError> {
        let rec = self.next_any(deadline)?;
        if rec.control {
            return Ok(super::Got::Control(self.take_control(rec)));
        }
        self.take_into_slice(rec, buf).map(super::Got::Data)
    }

    /// A connection's look before a byte-stream read, without waiting: the
    /// next record's payload when it is a control record (taken), `None`
    /// when it is a message (left where it is, for the read).
    #[cfg(feature = "tokio")]
    pub(crate) fn try_take_control(&mut self) -> Result<Option<Vec<u8>>, RecvError> {
        let rec = self.next_any(Deadline::NonBlocking)?;
        if rec.control {
            return Ok(Some(self.take_control(rec)));
        }
        Ok(None)
    }

    #[cold]
    fn take_control(&mut self, rec: RecordRef) -> Vec<u8> {
        let mut v = vec![0; rec.len as usize];
        self.ring.copy_out(&rec, &mut v);
        self.release(rec);
        v
    }

    /// The next published record, control records included.
    #[inline]
    fn next_any(&mut self, mut deadline: Deadline) -> Result<RecordRef, RecvError> {
        loop {
            if let Some(rec) = self.ring.peek()? {
                // Found at the first look: this side is behind the producer,
                // and the records after this one are probably finished too.
                self.ring.read_ahead(&rec, READ_AHEAD);
                return Ok(rec);
            }
            // Caught up: all that was read is free for the producer now, and a
            // producer asleep for room is woken to use it.
            if self.ring.publish() {
                self.link.notify_peer();
            }
            if self.link.peer_closed() {
                // Everything committed before the close is visible now.
                return self.ring.peek()?.ok_or(RecvError::Disconnected);
            }
            if let Deadline::NonBlocking = deadline {
                return Err(match self.link.peer_died_while_idle() {
                    Some(pid) => RecvError::PeerDied { pid },
                    None => RecvError::Empty,
                });
            }
            // A quick answer is caught here, in a tight loop, before the
            // general wait (closures, clock, liveness) is set up.
            if self.link.spins_first() {
                for _ in 0..FAST_POLLS {
                    crate::platform::spin_hint();
                    if let Some(rec) = self.ring.peek()? {
                        return Ok(rec);
                    }
                }
            }
            deadline = deadline.resolve();
            if let Some(rec) = self.wait_for_data(deadline)? {
                return Ok(rec);
            }
        }
    }

    /// Waits for a record; returns it when the wait ended by finding one (the
    /// common case: no second look at the commit word), `None` when the caller
    /// must look again (the peer closed).
    #[cold]
    fn wait_for_data(&mut self, deadline: Deadline) -> Result<Option<RecordRef>, RecvError> {
        let mut corrupt: Option<Corruption> = None;
        let mut found: Option<RecordRef> = None;
        let ring = &mut self.ring;
        let mut ready = || match ring.peek() {
            Ok(rec) => {
                found = rec;
                rec.is_some()
            }
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
            WaitEnd::Ready => Ok(found),
            WaitEnd::TimedOut => Err(RecvError::Timeout),
            // A message committed just before the death is still delivered.
            WaitEnd::PeerDied(pid) => match self.ring.peek()? {
                Some(rec) => Ok(Some(rec)),
                None => Err(RecvError::PeerDied { pid }),
            },
            WaitEnd::Failed(e) => Err(RecvError::Io(e)),
        }
    }

    /// The descriptor that becomes readable when a message is committed while
    /// this consumer is armed ([`arm_notify`](Self::arm_notify)): every
    /// eventfd ring has one, and so has every futex or hybrid ring in an
    /// anonymous region (connections' rings included); `None` for spin rings
    /// and named regions. Put it in epoll or mio for readability, and leave
    /// reading it to `arm_notify` (it is one end of a UNIX datagram socket
    /// pair, not an eventfd: see [`WakeupKind::EventFd`]).
    pub fn notify_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.link.own_doorbell().and_then(|bell| bell.fd())
    }

    /// Prepares to wait on [`notify_fd`](Self::notify_fd) from an external event
    /// loop: drains the descriptor and asks the producer to signal it on the
    /// next commit. Returns `true` if a message (or a disconnect) is already
    /// there, in which case read instead of waiting. Never blocks, whatever the
    /// producer's process does to the shared descriptor.
    ///
    /// # Errors
    /// [`RecvError::Io`] if draining the descriptor fails;
    /// [`RecvError::Corrupted`] if the ring's shared state is inconsistent.
    ///
    /// ```no_run
    /// # fn f(consumer: &mut mempipe::Consumer) -> Result<(), mempipe::RecvError> {
    /// let mut buf = Vec::new();
    /// loop {
    ///     match consumer.try_recv(&mut buf) {
    ///         Ok(_) => { /* handle buf */ }
    ///         Err(mempipe::RecvError::Empty) => {
    ///             if !consumer.arm_notify()? {
    ///                 // register consumer.notify_fd() with the event loop and wait
    ///             }
    ///         }
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn arm_notify(&mut self) -> Result<bool, RecvError> {
        if let Some(bell) = self.link.own_doorbell() {
            bell.drain()?;
        }
        let seq = self.link.arm_external();
        let ready = self.ring.peek()?.is_some() || self.link.peer_closed();
        if ready {
            self.link.disarm_external(seq);
        }
        Ok(ready)
    }

    /// Largest message this ring carries.
    pub fn max_message(&self) -> usize {
        self.link.shared().geometry.max_message as usize
    }

    /// Ring data capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.link.shared().geometry.capacity as usize
    }

    /// The ring's wakeup strategy.
    pub fn wakeup(&self) -> WakeupKind {
        self.link.wakeup_kind()
    }

    /// Whether the producer has closed its end.
    pub fn is_disconnected(&self) -> bool {
        self.link.peer_closed()
    }

    /// How often a blocked call checks that the producer process lives.
    pub fn liveness_interval(&self) -> Duration {
        self.link.liveness_interval()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.link.close();
    }
}
