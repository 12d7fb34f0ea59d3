//! The machine profile: what a benchmark measured on this machine, read when a
//! connection picks its wakeup, spin budget and ring size.
//!
//! Location: `$XDG_CONFIG_HOME/mempipe/machine-profile`, else
//! `$HOME/.config/mempipe/machine-profile`. Format: one `key = value` per line,
//! `#` starts a comment, unknown keys are ignored (so newer writers stay
//! readable). Keys:
//!
//! | key | value | used for |
//! |---|---|---|
//! | `wake_cost_ns` | integer | a blocking wake's cost; the hybrid spin budget is twice it |
//! | `stream_peak_ring_bytes` | power of two | the ring size at which streaming peaked |
//! | `spin_viable` | `true` / `false` | whether spinning waits pay off here (at least two cores that are not shared) |
//! | `measured` | text | where the figures come from, shown in a connection's description |
//!
//! ```text
//! # written by ipcbench
//! wake_cost_ns = 5200
//! stream_peak_ring_bytes = 1048576
//! spin_viable = true
//! measured = ipcbench run of 2026-01-01
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Figures measured on this machine. Every field is optional: what is missing
/// falls back to the documented default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineProfile {
    /// Cost of one blocking wakeup (futex wake to running).
    pub wake_cost: Option<Duration>,
    /// Ring size at which streaming throughput peaked.
    pub stream_peak_ring: Option<usize>,
    /// Whether spinning waits are viable.
    pub spin_viable: Option<bool>,
    /// Where the figures come from.
    pub measured: Option<String>,
}

/// A machine profile that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("machine profile line {line}: {why}")]
pub struct ProfileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

impl MachineProfile {
    /// The per-user location of the profile, if a home or config directory is known.
    pub fn default_path() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CONFIG_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
        };
        Some(base.join("mempipe").join("machine-profile"))
    }

    /// Parses a profile's text.
    ///
    /// # Errors
    /// [`ProfileError`] for a line without `=`, or a value of the wrong type.
    pub fn parse(text: &str) -> Result<MachineProfile, ProfileError> {
        let mut p = MachineProfile::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |why: String| ProfileError { line: i + 1, why };
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err(format!("{line:?} is not `key = value`")))?;
            let (key, value) = (key.trim(), value.trim());
            let int = || {
                value
                    .parse::<u64>()
                    .map_err(|_| err(format!("{key}: {value:?} is not a whole number")))
            };
            match key {
                "wake_cost_ns" => p.wake_cost = Some(Duration::from_nanos(int()?)),
                "stream_peak_ring_bytes" => {
                    let n = int()?;
                    if !n.is_power_of_two() || !(4096..=1 << 30).contains(&n) {
                        return Err(err(format!(
                            "{key}: {n} is not a power of two from 4 KiB to 1 GiB"
                        )));
                    }
                    p.stream_peak_ring = Some(n as usize);
                }
                "spin_viable" => {
                    p.spin_viable = Some(match value {
                        "true" | "yes" | "1" => true,
                        "false" | "no" | "0" => false,
                        _ => return Err(err(format!("{key}: {value:?} is not true or false"))),
                    })
                }
                "measured" => p.measured = Some(value.to_owned()),
                _ => {}
            }
        }
        Ok(p)
    }

    /// Reads and parses the profile at `path`.
    ///
    /// # Errors
    /// The file cannot be read, or [`MachineProfile::parse`] refuses it (as
    /// [`std::io::ErrorKind::InvalidData`]).
    pub fn load(path: &Path) -> std::io::Result<MachineProfile> {
        let text = std::fs::read_to_string(path)?;
        Self::parse(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    /// The profile's text, as [`parse`](Self::parse) reads it.
    pub fn to_text(&self) -> String {
        let mut out = String::from("# mempipe machine profile\n");
        if let Some(d) = self.wake_cost {
            out += &format!("wake_cost_ns = {}\n", d.as_nanos());
        }
        if let Some(n) = self.stream_peak_ring {
            out += &format!("stream_peak_ring_bytes = {n}\n");
        }
        if let Some(v) = self.spin_viable {
            out += &format!("spin_viable = {v}\n");
        }
        if let Some(m) = &self.measured {
            out += &format!("measured = {}\n", m.replace(['\n', '#'], " "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let p = MachineProfile {
            wake_cost: Some(Duration::from_nanos(5200)),
            stream_peak_ring: Some(1 << 20),
            spin_viable: Some(false),
            measured: Some("a run".into()),
        };
        assert_eq!(MachineProfile::parse(&p.to_text()).unwrap(), p);
        assert_eq!(
            MachineProfile::parse("future_key = 3\n").unwrap(),
            MachineProfile::default()
        );
        assert_eq!(MachineProfile::parse("x\n").unwrap_err().line, 1);
        assert!(MachineProfile::parse("stream_peak_ring_bytes = 1000").is_err());
        assert!(MachineProfile::parse("spin_viable = maybe").is_err());
    }
}
