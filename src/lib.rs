//! mempipe
