//! `eventfd`: sleep on a descriptor per direction, which a receiver can also put
//! in epoll, mio or tokio ([`crate::Consumer::notify_fd`]).
//!
//! The descriptors are the two ends of a UNIX datagram socket pair (see
//! [`crate::platform::Doorbells`] for why not an eventfd): a side sleeps until
//! its end is readable, and is woken by a datagram sent from the other end.
//! They travel with the region (inherited, or sent over a UNIX socket).

use super::{sleep_until, Channel, Strategy, WaitEnd, WaitRequest};
use crate::platform::Doorbell;
use std::io;

pub(crate) struct EventFd;

fn doorbell<'a>(ch: &Channel<'a>) -> io::Result<Doorbell<'a>> {
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
            return doorbell(ch)?.ring();
        }
        Ok(())
    }

    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        let bell = match doorbell(ch) {
            Ok(bell) => bell,
            Err(e) => return WaitEnd::Failed(e),
        };
        sleep_until(ch, req, |_seq, slice| bell.wait(slice))
    }
}
