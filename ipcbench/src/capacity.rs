//! How large the rings are: one rule for every shared-memory transport, and for the machine
//! profile that reports the ring a run streamed best with.

/// Ring size every shared-memory transport (mempipe, `limit`'s byte ring,
/// the futex and eventfd rings) uses for `size`-byte messages, so that they
/// are compared at equal capacity: room for two messages and their headers,
/// at least 1 MiB, at most 64 MiB.
///
/// Why at least 1 MiB: a writer that refills lines the reader still holds
/// must take each one back, several times slower than reading lines the other
/// core wrote; a ring larger than the reader's private caches avoids that
/// (figures in the README, "Ring size").
pub(crate) fn ring_capacity(size: usize) -> usize {
    (2 * (size + 16))
        .next_power_of_two()
        .clamp(1 << 20, 64 << 20)
}
