//! TODO(runner): being written.
