//! Description of the machine a benchmark ran on, recorded in every result file.
//!
//! IPC numbers mean little without the machine: a KVM guest's cross-core wakeups go through the
//! hypervisor, a 2-socket box adds an interconnect hop, the clocksource decides how cheap
//! timestamps are. [`Machine::detect`] gathers what Linux tells us; the full [`Topology`] is
//! embedded so a report can classify core pairs from the file alone.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::topology::{format_cpu_list, Topology, TopologyError};
use crate::units::format_bytes;

/// The machine a result file was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Machine {
    /// Host name (`uname -n`).
    pub(crate) hostname: String,
    /// `model name` from /proc/cpuinfo ("unknown" if absent).
    pub(crate) cpu_model: String,
    /// Number of packages (sockets) with online CPUs.
    pub(crate) sockets: usize,
    /// Number of physical cores with online CPUs.
    pub(crate) physical_cores: usize,
    /// Number of online logical CPUs.
    pub(crate) logical_cpus: usize,
    /// Whether any core has more than one online hardware thread.
    pub(crate) smt: bool,
    /// Kernel release (`uname -r`).
    pub(crate) kernel_release: String,
    /// Hypervisor detected, e.g. "kvm", "xen", "vmware", "hyperv"; `None` on bare metal or when
    /// nothing says otherwise.
    #[serde(default)]
    pub(crate) virtualization: Option<String>,
    /// Current kernel clocksource, e.g. "tsc" or "kvm-clock".
    #[serde(default)]
    pub(crate) clocksource: Option<String>,
    /// Online CPUs, caches, NUMA nodes, per-CPU placement.
    pub(crate) topology: Topology,
    /// The 1-minute load average as the run ended (`/proc/loadavg`; ipcbench's own two
    /// processes account for up to about 2 of it): other load takes CPU time from the
    /// measurement, and the advice says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) load_avg: Option<f64>,
}

/// Errors from machine detection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MachineError {
    /// The CPU topology could not be read.
    #[error(transparent)]
    Topology(#[from] TopologyError),
}

impl Machine {
    /// Describes the running machine from `/proc`, `/sys` and `uname`.
    pub(crate) fn detect() -> Result<Machine, MachineError> {
        let topology = Topology::detect()?;
        let uts = rustix::system::uname();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Ok(Machine::from_parts(
            uts.nodename().to_string_lossy().into_owned(),
            uts.release().to_string_lossy().into_owned(),
            &cpuinfo,
            Path::new("/sys"),
            topology,
        ))
    }

    /// Builds a machine description from already-read parts; `sys` is the sysfs root used for
    /// virtualization and clocksource (a parameter for tests).
    pub(crate) fn from_parts(
        hostname: String,
        kernel_release: String,
        cpuinfo: &str,
        sys: &Path,
        topology: Topology,
    ) -> Machine {
        Machine {
            hostname,
            cpu_model: cpu_model(cpuinfo).unwrap_or_else(|| "unknown".to_string()),
            sockets: topology.packages(),
            physical_cores: topology.physical_cores(),
            logical_cpus: topology.online.len(),
            smt: topology.smt(),
            kernel_release,
            virtualization: detect_virtualization(cpuinfo, sys),
            clocksource: read_trim(
                &sys.join("devices/system/clocksource/clocksource0/current_clocksource"),
            ),
            topology,
            load_avg: None,
        }
    }

    /// The 1-minute load average now, when `/proc/loadavg` says.
    pub(crate) fn load_now() -> Option<f64> {
        let s = std::fs::read_to_string("/proc/loadavg").ok()?;
        s.split_whitespace().next()?.parse().ok()
    }

    /// Online logical CPUs.
    pub(crate) fn online_cpus(&self) -> &[usize] {
        &self.topology.online
    }
}

fn read_trim(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The first `model name` (x86) or `Model`/`cpu model` line (other arches) of /proc/cpuinfo.
pub(crate) fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "cpu model", "Model", "Processor"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_string())
            })
        })
}

/// Guesses the hypervisor. The cpuinfo `hypervisor` flag says "a VM" but not which; sysfs/DMI
/// strings name it, and failing those the paravirtual clocksources the guest offers. Returns `None` when nothing indicates a VM.
pub(crate) fn detect_virtualization(cpuinfo: &str, sys: &Path) -> Option<String> {
    if let Some(t) = read_trim(&sys.join("hypervisor/type")) {
        return Some(t.to_lowercase());
    }
    let dmi: String = ["sys_vendor", "product_name", "bios_vendor"]
        .iter()
        .filter_map(|f| read_trim(&sys.join("class/dmi/id").join(f)))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let known = [
        ("kvm", "kvm"),
        ("qemu", "kvm"),
        ("amazon ec2", "kvm"),
        ("google compute engine", "kvm"),
        ("vmware", "vmware"),
        ("virtualbox", "virtualbox"),
        ("innotek", "virtualbox"),
        ("microsoft corporation", "hyperv"),
        ("xen", "xen"),
        ("parallels", "parallels"),
        ("bochs", "bochs"),
    ];
    if let Some((_, name)) = known.iter().find(|(needle, _)| dmi.contains(needle)) {
        return Some((*name).to_string());
    }
    let flagged = cpuinfo.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim() == "flags" && v.split_whitespace().any(|f| f == "hypervisor")
        })
    });
    if !flagged {
        return None;
    }
    // Minimal guests (no DMI, no /sys/hypervisor) still offer their paravirtual clock.
    let clocks =
        read_trim(&sys.join("devices/system/clocksource/clocksource0/available_clocksource"))
            .unwrap_or_default();
    let by_clock = [
        ("kvm-clock", "kvm"),
        ("hyperv_clocksource", "hyperv"),
        ("xen", "xen"),
        ("vmware", "vmware"),
    ];
    let name = by_clock
        .iter()
        .find(|(clock, _)| clocks.split_whitespace().any(|c| c.starts_with(clock)))
        .map_or("unknown hypervisor", |(_, name)| name);
    Some(name.to_string())
}

/// The `ipcbench topology` summary: what a person needs to pick core pairs.
impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.topology;
        writeln!(f, "host           {}", self.hostname)?;
        writeln!(f, "cpu            {}", self.cpu_model)?;
        writeln!(f, "kernel         {}", self.kernel_release)?;
        writeln!(
            f,
            "virtualization {}",
            self.virtualization.as_deref().unwrap_or("none detected")
        )?;
        writeln!(
            f,
            "clocksource    {}",
            self.clocksource.as_deref().unwrap_or("unknown")
        )?;
        writeln!(
            f,
            "cpus           {} online ({}), {} package(s), {} physical core(s), SMT {}",
            self.logical_cpus,
            format_cpu_list(&t.online),
            self.sockets,
            self.physical_cores,
            if self.smt { "on" } else { "off" }
        )?;
        let cores: Vec<String> = t
            .core_groups()
            .iter()
            .map(|g| format!("[{}]", format_cpu_list(g)))
            .collect();
        writeln!(f, "cores          {}", cores.join(" "))?;
        if let Some(level) = t.llc_level() {
            let llc: Vec<String> = t
                .llc_groups()
                .iter()
                .map(|g| format!("[{}]", format_cpu_list(g)))
                .collect();
            writeln!(f, "L{level} groups      {}", llc.join(" "))?;
        }
        if t.caches.is_empty() {
            writeln!(f, "caches         none reported")?;
        } else {
            writeln!(f, "caches")?;
            let mut kinds: Vec<(u8, &str, u64)> = t
                .caches
                .iter()
                .map(|c| (c.level, c.cache_type.as_str(), c.size_bytes))
                .collect();
            kinds.sort();
            kinds.dedup();
            for (level, ty, size) in kinds {
                let groups: Vec<String> = t
                    .caches
                    .iter()
                    .filter(|c| c.level == level && c.cache_type == ty && c.size_bytes == size)
                    .map(|c| format!("[{}]", format_cpu_list(&c.cpus)))
                    .collect();
                writeln!(
                    f,
                    "  L{level} {ty:<11} {:>9} x{:<3} shared by {}",
                    format_bytes(size),
                    groups.len(),
                    groups.join(" ")
                )?;
            }
        }
        if t.nodes.is_empty() {
            writeln!(f, "numa           no nodes reported")?;
        } else {
            writeln!(f, "numa nodes     (distances: 10 = local)")?;
            for n in &t.nodes {
                let d: Vec<String> = n.distances.iter().map(u32::to_string).collect();
                writeln!(
                    f,
                    "  node{:<3} cpus {:<16} distances {}",
                    n.id,
                    format_cpu_list(&n.cpus),
                    d.join(" ")
                )?;
            }
        }
        for w in &t.warnings {
            writeln!(f, "note: {w}")?;
        }
        Ok(())
    }
}

/// Prints the `ipcbench topology` summary of the running machine to stdout.
pub(crate) fn print_topology() -> Result<(), MachineError> {
    print!("{}", Machine::detect()?);
    Ok(())
}
