//! CPU pinning with sched_setaffinity, verified with sched_getaffinity.

use anyhow::{bail, Context};
use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// Pin the calling thread (and threads it creates later) to `cpu`, and
/// check that the kernel took it.
pub(crate) fn pin_to(cpu: usize) -> anyhow::Result<()> {
    if cpu >= CpuSet::MAX_CPU {
        bail!("cpu {cpu} is out of range (max {})", CpuSet::MAX_CPU - 1);
    }
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).with_context(|| format!("sched_setaffinity to cpu {cpu}"))?;
    let now = current_cpus()?;
    if now != [cpu] {
        bail!("pinning to cpu {cpu} did not stick: affinity is {now:?}");
    }
    Ok(())
}

/// CPUs the calling thread may run on.
pub(crate) fn current_cpus() -> anyhow::Result<Vec<usize>> {
    let set = sched_getaffinity(None).context("sched_getaffinity")?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Restore the affinity captured by [`current_cpus`] (after a run).
pub(crate) fn restore(cpus: &[usize]) -> anyhow::Result<()> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c);
    }
    sched_setaffinity(None, &set).context("restore affinity")?;
    Ok(())
}
