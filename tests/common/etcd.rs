//! A real etcd for tests: one member or a three-member cluster, on free
//! loopback ports with a temporary data directory, stopped (SIGKILL) when
//! dropped.
//!
//! The binary is `etcd` on `PATH` (Debian's `etcd-server`, which `.ci/run`
//! installs), or the path in `MEMPIPE_TEST_ETCD`. Where there is none, a test
//! calling [`cluster_or_skip`] says so loudly on stderr and skips; under CI
//! (`CI=true`) it fails instead, so CI never passes without having run it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a member may take to report healthy (generous: a loaded CI box).
const START_GUARD: Duration = Duration::from_secs(60);

/// One etcd member: its ports and data directory, and the process while it runs.
pub struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    process: Option<Child>,
}

/// A running etcd cluster (one or three members).
pub struct Etcd {
    /// The address every member listens on.
    host: String,
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
    root: PathBuf,
}

/// The etcd binary, if there is one.
fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MEMPIPE_TEST_ETCD") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    })
}

/// Starts a cluster of `members` (1 or 3) and waits until every member is
/// healthy; `None` (after a loud notice) where etcd is not installed, except
/// under CI, where that fails the test.
pub fn cluster_or_skip(members: usize) -> Option<Etcd> {
    cluster_on_or_skip(members, "127.0.0.1")
}

/// [`cluster_or_skip`], listening on `host` (an address of this host).
pub fn cluster_on_or_skip(members: usize, host: &str) -> Option<Etcd> {
    let Some(bin) = binary() else {
        let why =
            "etcd is not installed (Debian: apt-get install etcd-server; or set MEMPIPE_TEST_ETCD)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{why}: CI must run the etcd tests"
        );
        eprintln!("\n*** SKIPPED: {why} ***\n");
        return None;
    };
    Some(Etcd::start(&bin, members, host))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

impl Etcd {
    fn start(bin: &Path, count: usize, host: &str) -> Etcd {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let root = std::env::temp_dir().join(format!("mempipe-test-etcd-{tag}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the etcd data root");
        let members: Vec<Member> = (0..count)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data_dir: root.join(format!("m{i}")),
                process: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{host}:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut etcd = Etcd {
            host: host.to_owned(),
            members,
            initial_cluster,
            token: format!("mempipe-test-{tag}"),
            root,
        };
        for i in 0..count {
            etcd.spawn(bin, i);
        }
        for i in 0..count {
            etcd.wait_healthy(i);
        }
        etcd
    }

    fn spawn(&mut self, bin: &Path, i: usize) {
        let m = &self.members[i];
        let log = std::fs::File::create(self.root.join(format!("{}.log", m.name)))
            .expect("create the etcd log");
        let client = format!("http://{}:{}", self.host, m.client_port);
        let peer = format!("http://{}:{}", self.host, m.peer_port);
        let child = Command::new(bin)
            .args(["--name", &m.name, "--data-dir"])
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the etcd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        self.members[i].process = Some(child);
    }

    /// Waits until member `i` answers `/health` with `true`.
    fn wait_healthy(&mut self, i: usize) {
        let end = Instant::now() + START_GUARD;
        while Instant::now() < end {
            if let Some(status) = self.members[i]
                .process
                .as_mut()
                .and_then(|p| p.try_wait().ok().flatten())
            {
                panic!(
                    "etcd member {i} exited ({status}) while starting; its log:\n{}",
                    self.log(i)
                );
            }
            if health(&self.host, self.members[i].client_port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "etcd member {i} not healthy within {START_GUARD:?}; its log:\n{}",
            self.log(i)
        );
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.root.join(format!("{}.log", self.members[i].name)))
            .unwrap_or_default()
    }

    /// Client URLs of every member, comma-separated (as `MEMPIPE_ETCD` takes them).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("http://{}:{}", self.host, m.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client URL of member `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}:{}", self.host, self.members[i].client_port)
    }

    /// SIGKILLs member `i` (its data directory stays, for [`Etcd::restart`]).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.members[i].process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Starts member `i` again on its ports and data, and waits until healthy.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let bin = binary().expect("etcd was found when the cluster started");
        self.spawn(&bin, i);
        self.wait_healthy(i);
    }
}

/// Whether etcd at `host:port` answers its health check with `"health":"true"`.
fn health(host: &str, port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((host, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.contains("\"health\":\"true\"")
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
