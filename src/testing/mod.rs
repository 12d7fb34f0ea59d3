//! Test support, fenced off from the product: the single-process ring tests
//! (on heap memory, so Miri runs them), the loom models, and the fuzz
//! targets' entry points (behind the non-default `fuzzing` feature). No user
//! build compiles any of it.

#[cfg(all(feature = "fuzzing", not(loom)))]
#[allow(clippy::missing_errors_doc)]
pub mod fuzzing;
#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod ring_tests;

#[cfg(all(test, not(loom)))]
use crate::{error, ring, Config, Consumer, CreateError, Producer, WakeupKind};

/// A ring in private heap memory with both ends in this process: the same code
/// paths without a mapping, so Miri can run them.
#[cfg(all(test, not(loom)))]
pub(crate) fn heap_channel(config: &Config) -> Result<(Producer, Consumer), CreateError> {
    let geometry = config.validate()?;
    if config.wakeup == WakeupKind::EventFd {
        return Err(error::ConfigError::EventFdNeedsDescriptors.into());
    }
    let storage = crate::platform::RingStorage::heap(geometry);
    let shared = std::sync::Arc::new(ring::Shared::new(storage, None));
    Ok(crate::endpoint::in_process_pair(
        shared,
        config.wakeup,
        config.spin_budget,
    ))
}
