//! Which host a process runs on: what decides whether two processes can
//! meet over shared memory.

use std::fmt;

/// Which host (and which boot of it) a process runs on: two processes with
/// the same identity can meet over shared memory; others need TCP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostId {
    /// The machine (`/etc/machine-id`).
    pub machine: String,
    /// The boot (`/proc/sys/kernel/random/boot_id`): a rebooted machine's
    /// old registrations name a boot that no longer runs.
    pub boot: String,
}

/// The environment variable that overrides this process's host identity,
/// as `MACHINE/BOOT` (for tests, and containers that share a machine id).
pub const HOST_ID_ENV: &str = "MEMPIPE_HOST_ID";

impl HostId {
    /// This process's host: [`HOST_ID_ENV`] when set, else the machine id and
    /// boot id the kernel and system give (`unknown` for one that is missing).
    pub fn current() -> HostId {
        if let Ok(v) = std::env::var(HOST_ID_ENV) {
            if let Some((machine, boot)) = v.split_once('/') {
                return HostId {
                    machine: machine.trim().to_owned(),
                    boot: boot.trim().to_owned(),
                };
            }
        }
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".to_owned())
        };
        HostId {
            machine: read("/etc/machine-id"),
            boot: read("/proc/sys/kernel/random/boot_id"),
        }
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.machine, self.boot)
    }
}
