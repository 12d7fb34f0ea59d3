//! `eventfd`: sleep on a descriptor per direction, which a receiver can also put
//! in epoll, mio or tokio ([`crate::Consumer::notify_fd`]).
//!
//! The descriptors are the two ends of a UNIX datagram socket pair (see
//! [`super::sys::doorbell_pair`] for why not an eventfd): a side sleeps until
//! its end is readable, and is woken by a datagram sent from the other end.
//! They travel with the region (inherited, or sent over a UNIX socket).

use super::{sleep_until, Channel, Strategy, WaitEnd, WaitRequest};
use std::io;

pub(crate) struct EventFd;

#[cfg(not(loom))]
fn doorbell<'a>(ch: &Channel<'a>) -> io::Result<super::Doorbell<'a>> {
    ch.doorbell.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "eventfd wakeup without its descriptors: the region's descriptors were not passed",
        )
    })
}

impl Strategy for EventFd {
    #[inline(always)]
    fn notify(&self, ch: &Channel<'_>) -> io::Result<()> {
        if ch.signal.should_wake() {
            #[cfg(not(loom))]
            return super::sys::doorbell_ring(doorbell(ch)?.ringer);
            #[cfg(loom)]
            ch.signal.park.doorbell_ring();
        }
        Ok(())
    }

    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        #[cfg(not(loom))]
        let own_end = match doorbell(ch) {
            Ok(bell) => bell.sleeper,
            Err(e) => return WaitEnd::Failed(e),
        };
        sleep_until(ch, req, |_seq, _slice| {
            #[cfg(not(loom))]
            return super::sys::doorbell_wait(own_end, _slice);
            #[cfg(loom)]
            {
                ch.signal.park.doorbell_wait();
                Ok(())
            }
        })
    }
}
