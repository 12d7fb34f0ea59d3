//! `ipcbench check FILE...`: mempipe's performance targets against one result file
//! each: the figures used, the ratio, the goal, and PASS, SHORT (by how much), NOT MEASURED
//! (what is missing and the `ipcbench run` flags that would measure it) or INFO.
//!
//! It is a report, not a test: a readable file exits 0 whatever the verdicts, because a VM's
//! placement noise must not turn a CI step red; scripts read the verdicts from `--json`.
//! Targets live in one table ([`targets::TARGETS`]); [`rules`] computes each kind of row,
//! [`figures`] reads the cells; [`render`] prints the text table.

pub(crate) mod figures;
mod render;
mod rules;
mod targets;
#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::stats::median;
use crate::results::{read_json, CorePair, ResultFile};

pub(crate) use render::{ratio_text, verdict_text};

/// What a ratio must be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Goal {
    /// ratio <= value.
    AtMost(f64),
    /// ratio >= value.
    AtLeast(f64),
    /// ratio < value (a bound that must not be reached).
    Below(f64),
    /// Shown for reference; no verdict.
    Info,
}

impl Goal {
    /// PASS or SHORT for a ratio; `Info` for an informational goal.
    pub(crate) fn judge(self, ratio: f64) -> Verdict {
        let short = |pass: bool, by: f64| {
            if pass {
                Verdict::Pass
            } else {
                Verdict::Short { by }
            }
        };
        match self {
            Goal::AtMost(g) => short(ratio <= g, ratio / g - 1.0),
            Goal::Below(g) => short(ratio < g, ratio / g - 1.0),
            Goal::AtLeast(g) => short(ratio >= g, 1.0 - ratio / g),
            Goal::Info => Verdict::Info,
        }
    }

    /// "<= 1.15x", ">= 40.0 M msg/s": the goal with its value put through `value`.
    pub(crate) fn text_for(self, value: impl Fn(f64) -> String) -> String {
        match self {
            Goal::AtMost(g) => format!("<= {}", value(g)),
            Goal::AtLeast(g) => format!(">= {}", value(g)),
            Goal::Below(g) => format!("< {}", value(g)),
            Goal::Info => "info".into(),
        }
    }
}

/// The outcome of one target line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum Verdict {
    Pass,
    /// Missed; `by` is the fraction of the goal missed (0.31 = "short by 31%").
    Short {
        by: f64,
    },
    /// The file lacks what the target needs; `missing` says what and how to measure it.
    NotMeasured {
        missing: String,
    },
    /// A ratio shown for reference, with no verdict.
    Info,
    /// Not something a result file holds; `see` names the tool that measures it.
    NotInFile {
        see: String,
    },
}

/// A round of one core pair that a paired ratio left out (see [`crate::analysis::paired`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct FlaggedRound {
    pub(crate) pair: CorePair,
    /// Counted from 1, as the text output names it.
    pub(crate) round: usize,
}

/// One line of the verdict table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line {
    /// The target's number ("1", "3b", "6c"), as [`targets::TARGETS`] lists them.
    pub(crate) id: &'static str,
    /// What is compared: transports, figure, size, kind of pair.
    pub(crate) target: String,
    /// The core pairs whose cells were used.
    pub(crate) pairs: Vec<CorePair>,
    /// The figures, for people: "110 ns / 70.0 ns" (medians over the pairs).
    pub(crate) measured: String,
    /// Median over pairs of the per-pair ratio (or of figure / absolute target).
    pub(crate) ratio: Option<f64>,
    /// Smallest ratio behind the median: per round (paired ratios, over every pair used),
    /// else per pair; present when there were several.
    pub(crate) ratio_min: Option<f64>,
    /// Largest ratio behind the median, as `ratio_min`.
    pub(crate) ratio_max: Option<f64>,
    /// The goal on `ratio`.
    pub(crate) goal: Goal,
    /// The goal for people: "<= 1.15x", ">= 12.0 GB/s (absolute)".
    pub(crate) goal_text: String,
    pub(crate) verdict: Verdict,
    /// Which transport was best where a side is "the best of" several, pairs left out, the
    /// worst cell.
    pub(crate) notes: Vec<String>,
    /// Rounds left out of a paired ratio because its denominator was an outlier in them.
    pub(crate) flagged_rounds: Vec<FlaggedRound>,
    /// Per-pair values before [`Line::finish`] turns them into the ratio.
    #[serde(skip)]
    samples: Vec<f64>,
    /// The per-round ratios kept on every pair (paired ratios only): the spread shown.
    #[serde(skip)]
    round_ratios: Vec<f64>,
}

impl Line {
    fn new(id: &'static str, target: String) -> Line {
        Line {
            id,
            target,
            pairs: Vec::new(),
            measured: "-".into(),
            ratio: None,
            ratio_min: None,
            ratio_max: None,
            goal: Goal::Info,
            goal_text: "-".into(),
            verdict: Verdict::Info,
            notes: Vec::new(),
            flagged_rounds: Vec::new(),
            samples: Vec::new(),
            round_ratios: Vec::new(),
        }
    }

    /// What is missing (for NOT MEASURED), then the notes: the lines printed under the row.
    pub(crate) fn explanations(&self) -> impl Iterator<Item = &str> {
        let missing = match &self.verdict {
            Verdict::NotMeasured { missing } => Some(missing.as_str()),
            _ => None,
        };
        missing
            .into_iter()
            .chain(self.notes.iter().map(String::as_str))
    }

    /// Sets the goal and, unless the line is already NOT MEASURED, the ratio (median of the
    /// samples through `to_ratio`), its range and the verdict.
    fn finish(&mut self, goal: Goal, goal_text: String, to_ratio: impl Fn(f64) -> f64) {
        self.goal = goal;
        self.goal_text = goal_text;
        if matches!(
            self.verdict,
            Verdict::NotMeasured { .. } | Verdict::NotInFile { .. }
        ) {
            return;
        }
        let ratios: Vec<f64> = self.samples.iter().map(|&v| to_ratio(v)).collect();
        let Some(m) = median(ratios.clone()) else {
            self.verdict = Verdict::NotMeasured {
                missing: "no finite figures in the cells".into(),
            };
            return;
        };
        self.ratio = Some(m);
        let spread = if self.round_ratios.is_empty() {
            ratios
        } else {
            self.round_ratios.iter().map(|&v| to_ratio(v)).collect()
        };
        if spread.len() > 1 {
            self.ratio_min = spread.iter().copied().reduce(f64::min);
            self.ratio_max = spread.iter().copied().reduce(f64::max);
        }
        self.verdict = goal.judge(m);
    }
}

/// Every target's lines for one result file, in their numbered order.
pub(crate) fn evaluate(f: &ResultFile) -> Vec<Line> {
    targets::TARGETS.iter().flat_map(|t| t.lines(f)).collect()
}

/// One file's verdicts as `--json` prints them, with the machine they were measured on.
#[derive(Debug, Serialize)]
struct FileVerdicts {
    file: PathBuf,
    hostname: String,
    cpu_model: String,
    physical_cores: usize,
    logical_cpus: usize,
    smt: bool,
    virtualization: Option<String>,
    created_unix_s: u64,
    tool_version: String,
    git_commit: Option<String>,
    targets: Vec<Line>,
}

/// A file `--json` could not check, in place of its verdicts.
#[derive(Debug, Serialize)]
struct FileError {
    file: PathBuf,
    error: String,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Entry {
    Checked(Box<FileVerdicts>),
    Unreadable(FileError),
}

fn verdicts(path: &Path, f: &ResultFile) -> FileVerdicts {
    let m = &f.machine;
    FileVerdicts {
        file: path.to_path_buf(),
        hostname: m.hostname.clone(),
        cpu_model: m.cpu_model.clone(),
        physical_cores: m.physical_cores,
        logical_cpus: m.logical_cpus,
        smt: m.smt,
        virtualization: m.virtualization.clone(),
        created_unix_s: f.created_unix_s,
        tool_version: f.tool.version.clone(),
        git_commit: f.tool.git_commit.clone(),
        targets: evaluate(f),
    }
}

/// `ipcbench check`: each file in turn; the text table per file, or one JSON array with an
/// entry per file. Fails (exit 1) when any file could not be read, after checking the others.
pub(crate) fn run(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    let mut entries = Vec::new();
    for (i, path) in files.iter().enumerate() {
        match read_json(path) {
            Ok(f) if json => entries.push(Entry::Checked(Box::new(verdicts(path, &f)))),
            Ok(f) => {
                let sep = if i > 0 { "\n" } else { "" };
                print_quietly(&format!("{sep}{}", render::text(path, &f, &evaluate(&f))));
            }
            Err(e) => {
                if files.len() > 1 {
                    eprintln!("error: {e}");
                }
                if json {
                    entries.push(Entry::Unreadable(FileError {
                        file: path.clone(),
                        error: e.to_string(),
                    }));
                }
                errors.push(e);
            }
        }
    }
    if json {
        print_quietly(&format!("{}\n", serde_json::to_string_pretty(&entries)?));
    }
    match errors.len() {
        0 => Ok(()),
        1 if files.len() == 1 => Err(errors.remove(0).into()),
        n => anyhow::bail!(
            "{n} of {} result files could not be checked (errors above)",
            files.len()
        ),
    }
}

/// Print without panicking when stdout is a closed pipe (`| head`).
fn print_quietly(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}
