//! TODO(report): being written.
