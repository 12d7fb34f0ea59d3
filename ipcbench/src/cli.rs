//! TODO(cli): being written.
