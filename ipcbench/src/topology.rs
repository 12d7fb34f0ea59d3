//! CPU topology from sysfs: packages, cores, SMT siblings, cache sharing, NUMA nodes.
//!
//! IPC latency between two processes depends mostly on what their CPUs share: a core (SMT
//! siblings share L1/L2), a last-level cache, a package, a NUMA node. This module reads what
//! Linux reports under `/sys` (the root is a parameter so tests can use fixture trees) and
//! classifies CPU pairs by the closest thing they share.
//!
//! VMs and containers often lack some of these files, so every missing or malformed file
//! degrades to a sensible default (one core per CPU, package 0, no caches, one NUMA node) and is
//! recorded in [`Topology::warnings`]; only a missing/unparsable online-CPU list is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors that prevent building a topology at all; they name the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TopologyError {
    /// A required file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A CPU list (e.g. "0-3,8,10-11") is malformed.
    #[error("malformed CPU list {text:?} in {path}: {reason}")]
    CpuList {
        path: PathBuf,
        text: String,
        reason: String,
    },
}

/// Largest CPU number accepted in a list; guards against "0-4294967295" allocating forever.
const MAX_CPU: usize = 1 << 16;

/// Parses a Linux CPU list such as `"0-3,8,10-11"` (also the empty list `""`), sorted, deduplicated.
/// `path` only names the source in errors.
pub(crate) fn parse_cpu_list(text: &str, path: &Path) -> Result<Vec<usize>, TopologyError> {
    let err = |reason: String| TopologyError::CpuList {
        path: path.to_path_buf(),
        text: text.trim().to_string(),
        reason,
    };
    let mut cpus = Vec::new();
    for part in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let num = |s: &str| -> Result<usize, TopologyError> {
            let n: usize = s
                .trim()
                .parse()
                .map_err(|_| err(format!("{s:?} is not a CPU number")))?;
            if n > MAX_CPU {
                return Err(err(format!("CPU {n} is larger than {MAX_CPU}")));
            }
            Ok(n)
        };
        match part.split_once('-') {
            Some((lo, hi)) => {
                // Linux also allows "0-7:2" (stride) in some lists; accept it.
                let (hi, stride) = match hi.split_once(':') {
                    Some((h, s)) => (h, num(s)?.max(1)),
                    None => (hi, 1),
                };
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(err(format!("range {lo}-{hi} is reversed")));
                }
                cpus.extend((lo..=hi).step_by(stride));
            }
            None => cpus.push(num(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Formats CPUs the way Linux does ("0-3,8,10-11").
pub(crate) fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// Where one logical CPU sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CpuTopology {
    /// Logical CPU number.
    pub(crate) cpu: usize,
    /// `physical_package_id` (socket); 0 when unknown.
    pub(crate) package: i64,
    /// `die_id`; 0 when unknown.
    pub(crate) die: i64,
    /// `core_id`, unique only within a package; the CPU number when unknown.
    pub(crate) core_id: i64,
    /// CPUs of the same core (SMT siblings, this CPU included).
    pub(crate) core_cpus: Vec<usize>,
    /// CPUs of the same cluster (`cluster_cpus_list`), when the kernel reports one.
    #[serde(default)]
    pub(crate) cluster_cpus: Option<Vec<usize>>,
    /// NUMA node, when known.
    #[serde(default)]
    pub(crate) node: Option<usize>,
}

/// One cache instance and the CPUs sharing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheInstance {
    /// 1, 2, 3...
    pub(crate) level: u8,
    /// "Data", "Instruction" or "Unified", as sysfs writes it.
    pub(crate) cache_type: String,
    /// Capacity, bytes (0 when unknown).
    pub(crate) size_bytes: u64,
    /// CPUs sharing this instance (`shared_cpu_list`).
    pub(crate) cpus: Vec<usize>,
}

impl CacheInstance {
    /// True for caches that hold data (not instruction-only).
    pub(crate) fn holds_data(&self) -> bool {
        !self.cache_type.eq_ignore_ascii_case("Instruction")
    }
}

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NumaNode {
    /// Node number.
    pub(crate) id: usize,
    /// CPUs of the node (may be empty for memory-only nodes).
    pub(crate) cpus: Vec<usize>,
    /// ACPI SLIT distances to every node in [`Topology::nodes`] order (10 = local).
    pub(crate) distances: Vec<u32>,
}

/// The CPU topology of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct Topology {
    /// Online logical CPUs, ascending.
    pub(crate) online: Vec<usize>,
    /// One entry per online CPU, ascending by CPU number.
    pub(crate) cpus: Vec<CpuTopology>,
    /// Distinct cache instances, sorted by level, type, first CPU.
    pub(crate) caches: Vec<CacheInstance>,
    /// NUMA nodes, ascending by id; empty when the kernel exposes none.
    pub(crate) nodes: Vec<NumaNode>,
    /// Files that were missing or malformed and what was assumed instead.
    #[serde(default)]
    pub(crate) warnings: Vec<String>,
}

/// What two logical CPUs share, closest first. The order matters: it is the expected order of
/// IPC latency, and [`representative_pairs`] lists pairs in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Relation {
    /// The same logical CPU: the two processes time-share it.
    SameCpu,
    /// Two hardware threads of one core (share L1 and L2).
    SmtSibling,
    /// Different cores sharing an L2 (e.g. a cluster).
    SameL2,
    /// Different L2s, same last-level cache (e.g. one AMD CCX).
    SameLlc,
    /// Different last-level caches in the same package and NUMA node.
    OtherLlc,
    /// Same NUMA node but different packages (rare).
    OtherPackage,
    /// Different NUMA nodes.
    OtherNode,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::SameCpu => "same cpu",
            Relation::SmtSibling => "SMT sibling",
            Relation::SameL2 => "same L2",
            Relation::SameLlc => "same LLC",
            Relation::OtherLlc => "other LLC",
            Relation::OtherPackage => "other package",
            Relation::OtherNode => "other NUMA node",
        })
    }
}

/// Reads a trimmed file, `None` if missing or unreadable.
fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Parses sizes as sysfs writes them: "32K", "1024K", "32768K", "16M", "512".
pub(crate) fn parse_cache_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mult) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 1u64 << 10),
        'M' | 'm' => (&t[..t.len() - 1], 1 << 20),
        'G' | 'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

impl Topology {
    /// Reads the topology of the running machine from `/sys`.
    pub(crate) fn detect() -> Result<Topology, TopologyError> {
        Topology::from_sysfs(Path::new("/sys"))
    }

    /// Reads the topology from a sysfs tree rooted at `root` (normally "/sys").
    ///
    /// Fails only if `devices/system/cpu/online` is unreadable or malformed and no `cpuN`
    /// directories exist either; everything else degrades with a warning.
    pub(crate) fn from_sysfs(root: &Path) -> Result<Topology, TopologyError> {
        let cpu_dir = root.join("devices/system/cpu");
        let mut warnings = Vec::new();
        let online_path = cpu_dir.join("online");
        let online = match std::fs::read_to_string(&online_path) {
            Ok(text) => parse_cpu_list(&text, &online_path)?,
            Err(source) => {
                // Fall back to the cpuN directories that exist.
                let listed = list_numbered(&cpu_dir, "cpu");
                if listed.is_empty() {
                    return Err(TopologyError::Io {
                        path: online_path,
                        source,
                    });
                }
                warnings.push(format!(
                    "{} unreadable ({source}); assuming cpus {} are online",
                    online_path.display(),
                    format_cpu_list(&listed)
                ));
                listed
            }
        };

        let mut cpus = Vec::with_capacity(online.len());
        let mut caches: BTreeMap<(u8, String, Vec<usize>), u64> = BTreeMap::new();
        for &cpu in &online {
            let dir = cpu_dir.join(format!("cpu{cpu}"));
            cpus.push(read_cpu(cpu, &dir, &mut warnings));
            read_caches(cpu, &dir.join("cache"), &mut caches, &mut warnings);
        }
        let caches = caches
            .into_iter()
            .map(|((level, cache_type, cpus), size_bytes)| CacheInstance {
                level,
                cache_type,
                size_bytes,
                cpus,
            })
            .collect();

        let nodes = read_nodes(&root.join("devices/system/node"), &mut warnings);
        for c in &mut cpus {
            c.node = nodes.iter().find(|n| n.cpus.contains(&c.cpu)).map(|n| n.id);
        }
        Ok(Topology {
            online,
            cpus,
            caches,
            nodes,
            warnings,
        })
    }

    /// The entry for `cpu`, if it is online.
    pub(crate) fn cpu(&self, cpu: usize) -> Option<&CpuTopology> {
        self.cpus
            .binary_search_by_key(&cpu, |c| c.cpu)
            .ok()
            .map(|i| &self.cpus[i])
    }

    /// Number of distinct packages (sockets).
    pub(crate) fn packages(&self) -> usize {
        let mut p: Vec<i64> = self.cpus.iter().map(|c| c.package).collect();
        p.sort_unstable();
        p.dedup();
        p.len()
    }

    /// Groups of CPUs forming one physical core, ordered by first CPU.
    pub(crate) fn core_groups(&self) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = self.cpus.iter().map(|c| c.core_cpus.clone()).collect();
        groups.sort();
        groups.dedup();
        groups
    }

    /// Number of physical cores.
    pub(crate) fn physical_cores(&self) -> usize {
        self.core_groups().len()
    }

    /// Whether any core runs more than one online hardware thread.
    pub(crate) fn smt(&self) -> bool {
        self.cpus.iter().any(|c| c.core_cpus.len() > 1)
    }

    /// The highest cache level holding data, if any cache is known.
    pub(crate) fn llc_level(&self) -> Option<u8> {
        self.caches
            .iter()
            .filter(|c| c.holds_data())
            .map(|c| c.level)
            .max()
    }

    /// CPU groups sharing one instance of the data cache at `level`, ordered by first CPU.
    pub(crate) fn cache_groups(&self, level: u8) -> Vec<Vec<usize>> {
        let mut g: Vec<Vec<usize>> = self
            .caches
            .iter()
            .filter(|c| c.level == level && c.holds_data())
            .map(|c| c.cpus.clone())
            .collect();
        g.sort();
        g.dedup();
        g
    }

    /// CPU groups sharing one last-level cache.
    pub(crate) fn llc_groups(&self) -> Vec<Vec<usize>> {
        self.llc_level()
            .map(|l| self.cache_groups(l))
            .unwrap_or_default()
    }

    /// Whether `a` and `b` share an instance of the data cache at `level`.
    fn share_cache(&self, level: u8, a: usize, b: usize) -> bool {
        self.caches.iter().any(|c| {
            c.level == level && c.holds_data() && c.cpus.contains(&a) && c.cpus.contains(&b)
        })
    }

    /// The NUMA distance between the nodes of `a` and `b`, when known.
    pub(crate) fn node_distance(&self, a: usize, b: usize) -> Option<u32> {
        let na = self.cpu(a)?.node?;
        let nb = self.cpu(b)?.node?;
        let ia = self.nodes.iter().position(|n| n.id == na)?;
        let ib = self.nodes.iter().position(|n| n.id == nb)?;
        self.nodes[ia].distances.get(ib).copied()
    }

    /// What `a` and `b` share, closest first. Unknown CPUs are treated as sharing only what can
    /// be shown (a missing entry never claims closeness).
    pub(crate) fn relation(&self, a: usize, b: usize) -> Relation {
        if a == b {
            return Relation::SameCpu;
        }
        let (ca, cb) = (self.cpu(a), self.cpu(b));
        if let (Some(ca), Some(cb)) = (ca, cb) {
            if ca.node.is_some() && cb.node.is_some() && ca.node != cb.node {
                return Relation::OtherNode;
            }
            if ca.core_cpus.contains(&b) {
                return Relation::SmtSibling;
            }
            if self.share_cache(2, a, b) {
                return Relation::SameL2;
            }
            let llc = self.llc_level();
            if let Some(llc) = llc.filter(|&l| l > 2) {
                if self.share_cache(llc, a, b) {
                    return Relation::SameLlc;
                }
            }
            if ca.package != cb.package {
                return Relation::OtherPackage;
            }
            return Relation::OtherLlc;
        }
        Relation::OtherPackage
    }
}

/// Numbers N of entries named `{prefix}N` in `dir`, ascending.
fn list_numbered(dir: &Path, prefix: &str) -> Vec<usize> {
    let mut out: Vec<usize> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix(prefix)?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// Reads `dir/name` as a CPU list, warning (and returning `None`) if missing or malformed.
fn read_list(path: &Path, warnings: &mut Vec<String>) -> Option<Vec<usize>> {
    let text = read_opt(path)?;
    match parse_cpu_list(&text, path) {
        Ok(l) => Some(l),
        Err(e) => {
            warnings.push(e.to_string());
            None
        }
    }
}

/// Reads an integer id file, warning when present but malformed.
fn read_id(path: &Path, warnings: &mut Vec<String>) -> Option<i64> {
    let text = read_opt(path)?;
    match text.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            warnings.push(format!(
                "{}: {text:?} is not an integer; ignored",
                path.display()
            ));
            None
        }
    }
}

fn read_cpu(cpu: usize, dir: &Path, warnings: &mut Vec<String>) -> CpuTopology {
    let t = dir.join("topology");
    if !t.is_dir() {
        warnings.push(format!(
            "{} missing; cpu{cpu} assumed to be its own core on package 0",
            t.display()
        ));
    }
    let core_cpus = read_list(&t.join("core_cpus_list"), warnings)
        .or_else(|| read_list(&t.join("thread_siblings_list"), warnings))
        .filter(|l| l.contains(&cpu))
        .unwrap_or_else(|| vec![cpu]);
    CpuTopology {
        cpu,
        package: read_id(&t.join("physical_package_id"), warnings).unwrap_or(0),
        die: read_id(&t.join("die_id"), warnings).unwrap_or(0),
        core_id: read_id(&t.join("core_id"), warnings).unwrap_or(cpu as i64),
        core_cpus,
        cluster_cpus: read_list(&t.join("cluster_cpus_list"), warnings),
        node: None,
    }
}

type CacheMap = BTreeMap<(u8, String, Vec<usize>), u64>;

fn read_caches(cpu: usize, dir: &Path, caches: &mut CacheMap, warnings: &mut Vec<String>) {
    for idx in list_numbered(dir, "index") {
        let d = dir.join(format!("index{idx}"));
        let Some(level) = read_opt(&d.join("level")).and_then(|l| l.parse::<u8>().ok()) else {
            warnings.push(format!("{}: no usable level; cache ignored", d.display()));
            continue;
        };
        let cache_type = read_opt(&d.join("type")).unwrap_or_else(|| "Unified".to_string());
        let size = read_opt(&d.join("size"))
            .and_then(|s| parse_cache_size(&s))
            .unwrap_or(0);
        let shared = read_list(&d.join("shared_cpu_list"), warnings).unwrap_or_else(|| vec![cpu]);
        caches.insert((level, cache_type, shared), size);
    }
}

fn read_nodes(dir: &Path, warnings: &mut Vec<String>) -> Vec<NumaNode> {
    let ids = list_numbered(dir, "node");
    let mut nodes = Vec::new();
    for id in ids {
        let d = dir.join(format!("node{id}"));
        let cpus = read_list(&d.join("cpulist"), warnings).unwrap_or_default();
        let dpath = d.join("distance");
        let distances = match read_opt(&dpath) {
            Some(t) => {
                let parsed: Result<Vec<u32>, _> = t.split_whitespace().map(str::parse).collect();
                parsed.unwrap_or_else(|_| {
                    warnings.push(format!("{}: malformed distances {t:?}", dpath.display()));
                    Vec::new()
                })
            }
            None => Vec::new(),
        };
        nodes.push(NumaNode {
            id,
            cpus,
            distances,
        });
    }
    nodes
}

/// One ordered CPU pair per relation present in `topo`, closest relation first: the pairs worth
/// measuring when measuring every pair is too slow. CPU `a` is the lowest online CPU where
/// possible so results read consistently.
pub(crate) fn representative_pairs(topo: &Topology) -> Vec<(usize, usize, Relation)> {
    let mut found: BTreeMap<Relation, (usize, usize)> = BTreeMap::new();
    for &a in &topo.online {
        for &b in &topo.online {
            found.entry(topo.relation(a, b)).or_insert((a, b));
        }
    }
    found.into_iter().map(|(r, (a, b))| (a, b, r)).collect()
}

/// Every ordered pair of online CPUs, `a == b` included, row-major (a, then b).
pub(crate) fn full_matrix(topo: &Topology) -> Vec<(usize, usize)> {
    topo.online
        .iter()
        .flat_map(|&a| topo.online.iter().map(move |&b| (a, b)))
        .collect()
}
