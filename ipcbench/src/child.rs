//! TODO(child): being written.
