//! ipcbench: per-core-pair IPC latency and throughput.

mod child;
mod cli;
mod machine;
mod measure;
mod report;
mod results;
mod runner;
mod summary;
mod topology;
mod transport;

fn main() {}
