//! A region's end kept by a process that has passed the region on and needs
//! nothing else of it: the memory descriptor is closed once the region value
//! goes (the mapping stays, owned by the ring), one descriptor fewer per ring
//! for a listener serving many clients.

use super::{claim, Region};
use crate::endpoint::{Consumer, Link, LinkParts, Producer};
use crate::error::{AttachError, Side};

impl Region {
    /// The link of an endpoint on `side` that does not keep the region's
    /// descriptor open.
    fn sole_link(&self, side: Side) -> Link {
        let inner = &self.inner;
        Link::new(
            LinkParts {
                shared: inner.shared.clone(),
                keep_alive: None,
                wakeup: inner.wakeup,
                spin_budget: inner.spin_budget,
                liveness_interval: inner.liveness_interval,
            },
            side,
        )
    }

    /// Claims the producer end as [`Region::producer`] does; the memory
    /// descriptor closes with the last `Region` value. Anonymous regions
    /// only (a named one would lose its unlink-on-drop with it).
    pub(crate) fn into_sole_producer(self) -> Result<Producer, AttachError> {
        debug_assert!(self.inner.name.is_none());
        claim(&self.inner.shared.control().producer, Side::Producer)?;
        Producer::new(self.sole_link(Side::Producer)).map_err(AttachError::Corrupted)
    }

    /// Claims the consumer end; see [`into_sole_producer`](Self::into_sole_producer).
    pub(crate) fn into_sole_consumer(self) -> Result<Consumer, AttachError> {
        debug_assert!(self.inner.name.is_none());
        claim(&self.inner.shared.control().consumer, Side::Consumer)?;
        Consumer::new(self.sole_link(Side::Consumer)).map_err(AttachError::Corrupted)
    }
}
