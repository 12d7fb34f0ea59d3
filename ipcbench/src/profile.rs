//! `ipcbench profile FILE [--install]`: the machine profile a run implies (see
//! [`crate::analysis::profile`]), what it will make connections choose, and where it goes.

use crate::analysis::advice::profile_effect;
use crate::analysis::profile::from_results;
use mempipe::conn::MachineProfile;
use std::path::Path;

/// `ipcbench profile FILE [--install]`.
pub(crate) fn run(file: &Path, install: bool) -> anyhow::Result<()> {
    let results = crate::results::read_json(file)?;
    let profile = from_results(&results);
    let text = profile.to_text();
    print!("{text}");
    println!(
        "# installed, this makes mempipe connections choose: {}",
        profile_effect(&profile)
    );
    if profile.wake_cost.is_none() {
        eprintln!(
            "note: no mempipe-futex latency cells cross-core: wake_cost_ns left out \
             (measure with: ipcbench run -t mempipe-futex,mempipe-spin --kind latency)"
        );
    }
    if install {
        let path = MachineProfile::default_path()
            .ok_or_else(|| anyhow::anyhow!("neither XDG_CONFIG_HOME nor HOME is set"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text)?;
        println!("installed: {}", path.display());
    } else if let Some(path) = MachineProfile::default_path() {
        println!("# install with --install (writes {})", path.display());
    }
    Ok(())
}
