//! TODO(summary): being written.
