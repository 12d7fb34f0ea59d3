//! TODO(machine): being written.
