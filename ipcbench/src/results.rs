//! TODO(results): being written.
