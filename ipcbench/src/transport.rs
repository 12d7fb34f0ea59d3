//! TODO(transport): being written.
