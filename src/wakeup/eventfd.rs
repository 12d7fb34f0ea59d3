//! `eventfd`: sleep on an eventfd per direction.
//!
//! The consumer's eventfd is exposed ([`crate::Consumer::notify_fd`]) so a
//! receiver can sit in epoll, mio or tokio next to its other descriptors. The
//! descriptors travel with the region (inherited, or sent over a UNIX socket).

use super::{sleep_until, Channel, Strategy, WaitEnd, WaitRequest};
use std::io;

pub(crate) struct EventFd;

#[cfg(not(loom))]
fn fd<'a>(ch: &Channel<'a>) -> io::Result<std::os::fd::BorrowedFd<'a>> {
    ch.eventfd.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "eventfd wakeup without an eventfd: the region's descriptors were not passed",
        )
    })
}

impl Strategy for EventFd {
    #[inline(always)]
    fn notify(&self, ch: &Channel<'_>) -> io::Result<()> {
        if ch.signal.should_wake() {
            #[cfg(not(loom))]
            return super::sys::eventfd_signal(fd(ch)?);
            #[cfg(loom)]
            ch.signal.park.eventfd_signal();
        }
        Ok(())
    }

    fn wait(&self, ch: &Channel<'_>, req: &mut WaitRequest<'_>) -> WaitEnd {
        #[cfg(not(loom))]
        let efd = match fd(ch) {
            Ok(fd) => fd,
            Err(e) => return WaitEnd::Failed(e),
        };
        sleep_until(ch, req, |_seq, _slice| {
            #[cfg(not(loom))]
            return super::sys::eventfd_wait(efd, _slice);
            #[cfg(loom)]
            {
                ch.signal.park.eventfd_wait();
                Ok(())
            }
        })
    }
}
