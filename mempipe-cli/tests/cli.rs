//! The `mempipe` binary against real listener and client processes (this
//! test binary re-executed as children), each test in a rendezvous
//! directory of its own.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const ROLE_ENV: &str = "MEMPIPE_CLI_TEST_CHILD";

/// The children: `server NAME` echoes one client; `client NAME` sends
/// `COUNT` messages for each `send COUNT` line on stdin and answers `ok`.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let mut args = role.split(' ');
    let (what, name) = (args.next().unwrap(), args.next().unwrap());
    let config = mempipe::ConnConfig::default().connect_timeout(std::time::Duration::from_secs(20));
    let mut out = std::io::stdout();
    match what {
        "server" => {
            let listener = mempipe::Listener::bind(name, &config).unwrap();
            writeln!(out, "ready").unwrap();
            out.flush().unwrap();
            let mut conn = listener.accept().unwrap();
            let mut buf = Vec::new();
            while conn.recv(&mut buf).is_ok() {
                if conn.send(&buf).is_err() {
                    break;
                }
            }
            // Stay (with the listener) until the test ends us.
            let _ = std::io::stdin().read_line(&mut String::new());
        }
        "client" => {
            let mut conn = mempipe::connect(name, &config).unwrap();
            writeln!(out, "ready").unwrap();
            out.flush().unwrap();
            let mut buf = Vec::new();
            for line in std::io::stdin().lines() {
                let line = line.unwrap();
                let Some(count) = line.strip_prefix("send ") else {
                    break;
                };
                let count: u64 = count.trim().parse().unwrap();
                for i in 0..count {
                    conn.send(&i.to_le_bytes()).unwrap();
                    conn.recv(&mut buf).unwrap();
                    assert_eq!(buf, i.to_le_bytes());
                }
                writeln!(out, "ok").unwrap();
                out.flush().unwrap();
            }
        }
        other => panic!("unknown child role {other}"),
    }
    std::process::exit(0);
}

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Proc {
    fn start(runtime: &Path, role: &str) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(ROLE_ENV, role)
            .env("XDG_RUNTIME_DIR", runtime)
            .env_remove("MEMPIPE_ETCD")
            .env_remove("MEMPIPE_FLOW_STATS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut p = Proc {
            child,
            stdin,
            stdout,
        };
        p.expect("ready");
        p
    }

    /// Reads lines until one is `want` (the test harness prints its own).
    fn expect(&mut self, want: &str) {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "child ended before {want:?}"
            );
            if line.trim().ends_with(want) {
                return;
            }
        }
    }

    fn traffic(&mut self, count: u64) {
        writeln!(self.stdin.as_mut().unwrap(), "send {count}").unwrap();
        self.expect("ok");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh `XDG_RUNTIME_DIR` (mode 0700), removed at the end.
struct Runtime(PathBuf);

impl Runtime {
    fn new(test: &str) -> Runtime {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mempipe-cli-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Runtime(dir)
    }

    fn stats_dir(&self) -> PathBuf {
        self.0.join("mempipe")
    }

    /// Runs `mempipe ARGS`: (exit code, stdout, stderr).
    fn mempipe(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_mempipe"))
            .args(args)
            .env("XDG_RUNTIME_DIR", &self.0)
            .env_remove("MEMPIPE_ETCD")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.mempipe(&all);
        assert_eq!(code, 0, "mempipe {args:?}: {out} {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pair(rt: &Runtime, name: &str) -> (Proc, Proc) {
    let server = Proc::start(&rt.0, &format!("server {name}"));
    let client = Proc::start(&rt.0, &format!("client {name}"));
    (server, client)
}

#[test]
fn ls_shows_the_name_its_listener_and_both_ends() {
    let rt = Runtime::new("ls");
    let (server, client) = pair(&rt, "orders");
    let v = rt.json(&["ls"]);
    let names = v["names"].as_array().unwrap();
    assert_eq!(names.len(), 1, "{v}");
    let orders = &names[0];
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["listeners"][0]["pid"], server.pid());
    let conns = orders["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2, "{v}");
    let client_end = conns.iter().find(|c| c["kind"] == "client").unwrap();
    let server_end = conns.iter().find(|c| c["kind"] == "server").unwrap();
    assert_eq!(client_end["pid"], client.pid());
    assert_eq!(client_end["peer_pid"], server.pid());
    assert_eq!(server_end["peer_pid"], client.pid());
    assert_eq!(client_end["transport"], "shm");
    assert!(client_end["wakeup"].is_string());
    let (code, text, _) = rt.mempipe(&["ls"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("orders\n"), "{text}");
    assert!(
        text.contains(&format!("listener  pid {}", server.pid())),
        "{text}"
    );
    assert!(text.contains("client") && text.contains("server"), "{text}");
    // A prefix that matches nothing lists nothing.
    assert_eq!(
        rt.json(&["ls", "other"])["names"].as_array().unwrap().len(),
        0
    );
}

#[test]
fn stat_counters_grow_with_traffic() {
    let rt = Runtime::new("stat");
    let (_server, mut client) = pair(&rt, "counted");
    client.traffic(10);
    let first = rt.json(&["stat", "counted"]);
    let flow = |v: &Value, kind: &str| {
        v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} in {v}"))
    };
    let c1 = flow(&first, "client");
    assert_eq!(c1["tx"]["messages"], 10);
    assert_eq!(c1["tx"]["bytes"], 80);
    assert_eq!(c1["rx"]["messages"], 10);
    assert_eq!(flow(&first, "server")["rx"]["messages"], 10);
    client.traffic(2000);
    let second = rt.json(&["stat", "counted"]);
    let c2 = flow(&second, "client");
    assert_eq!(c2["tx"]["messages"], 2010);
    assert_eq!(c2["rx"]["bytes"], 2010 * 8);
    assert_eq!(flow(&second, "server")["tx"]["messages"], 2010);
    assert!(c2["tx"]["last_unix_ns"].as_u64() >= c1["tx"]["last_unix_ns"].as_u64());
    // The receiving sides waited for their messages.
    assert!(c2["rx"]["waits"].as_u64().unwrap() > 0, "{c2}");
    let (code, text, _) = rt.mempipe(&["stat", "counted"]);
    assert_eq!(code, 0);
    assert!(text.contains("2010 messages, 16080 bytes"), "{text}");
}

#[test]
fn unknown_names_are_clear_errors() {
    let rt = Runtime::new("unknown");
    let (code, out, err) = rt.mempipe(&["stat", "nobody"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("no flow named \"nobody\""), "{err}");
    let (code, out, _) = rt.mempipe(&["--json", "stat", "nobody"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["error"].as_str().unwrap().contains("nobody"));
    let (code, _, err) = rt.mempipe(&["move", "nobody", "tcp"]);
    assert_eq!(code, 1);
    assert!(err.contains("no live connection named \"nobody\""), "{err}");
    let (code, _, err) = rt.mempipe(&["move", "nobody", "udp"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("udp") && err.contains("tcp") && err.contains("shm"),
        "{err}"
    );
}

/// `mempipe move` while the client runs `send` lines: the flow moves at its
/// next send, and the child's checks (each echo equals what was sent, in
/// order) and the counters show nothing lost across the switch.
fn move_under_traffic(rt: &Runtime, client: &mut Proc, name: &str, to: &str) -> Value {
    let pid = client.pid().to_string();
    let mut cli = Command::new(env!("CARGO_BIN_EXE_mempipe"))
        .args(["--json", "move", name, to, "--pid", &pid, "--timeout", "30"])
        .env("XDG_RUNTIME_DIR", &rt.0)
        .env_remove("MEMPIPE_ETCD")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The request is taken at the client's next send: keep it sending
    // until the command has its answer.
    let mut rounds = 0;
    while cli.try_wait().unwrap().is_none() {
        client.traffic(100);
        rounds += 1;
        assert!(rounds < 3000, "no answer to the move");
    }
    let out = cli.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    serde_json::from_str(&text).unwrap()
}

fn client_flow(rt: &Runtime, name: &str) -> Value {
    let v = rt.json(&["stat", name]);
    v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "client")
        .cloned()
        .unwrap_or_else(|| panic!("no client in {v}"))
}

#[test]
fn move_switches_a_live_flow_and_back() {
    let rt = Runtime::new("move");
    let (_server, mut client) = pair(&rt, "mover");
    client.traffic(10);
    assert_eq!(client_flow(&rt, "mover")["transport"], "shm");
    let answer = move_under_traffic(&rt, &mut client, "mover", "tcp");
    assert_eq!(answer["outcome"], "done", "{answer}");
    client.traffic(500);
    let moved = client_flow(&rt, "mover");
    assert_eq!(moved["transport"], "tcp", "{moved}");
    let sent = moved["tx"]["messages"].as_u64().unwrap();
    assert_eq!(moved["rx"]["messages"].as_u64().unwrap(), sent, "{moved}");
    let answer = move_under_traffic(&rt, &mut client, "mover", "shm");
    assert_eq!(answer["outcome"], "done", "{answer}");
    client.traffic(500);
    let back = client_flow(&rt, "mover");
    assert_eq!(back["transport"], "shm", "{back}");
    assert!(
        back["tx"]["messages"].as_u64().unwrap() >= sent + 500,
        "{back}"
    );
    // Both ends carry the name: without --pid the command asks which.
    let (code, _, err) = rt.mempipe(&["move", "mover", "tcp"]);
    assert_eq!(code, 2);
    assert!(err.contains("--pid"), "{err}");
}

#[test]
fn top_once_lists_busy_flows() {
    let rt = Runtime::new("top");
    let (_server, mut client) = pair(&rt, "busy");
    client.traffic(100);
    let v = rt.json(&["top", "--once", "--interval-ms", "50"]);
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 2, "{v}");
    assert!(flows
        .iter()
        .all(|f| f["rate"]["tx_bytes_per_s"].is_number()));
    let (code, text, _) = rt.mempipe(&["top", "--iterations", "2", "--interval-ms", "20"]);
    assert_eq!(code, 0);
    assert_eq!(text.matches("NAME").count(), 2, "{text}");
    assert!(text.contains("busy"), "{text}");
}

#[test]
fn clean_removes_a_killed_process_leftovers_only() {
    let rt = Runtime::new("clean");
    let (mut dead_server, mut dead_client) = pair(&rt, "doomed");
    let (live_server, live_client) = pair(&rt, "alive");
    let dead = [dead_server.pid(), dead_client.pid()];
    dead_server.kill(); // SIGKILL: nothing of it is cleaned up by itself
    dead_client.kill();
    let dir = rt.stats_dir();
    assert!(dir.join("doomed.sock").exists() && dir.join("doomed.lock").exists());
    let dry = rt.json(&["clean", "--dry-run"]);
    let items = dry["leftovers"].as_array().unwrap();
    assert!(items.iter().all(|l| l["removed"] == false), "{dry}");
    assert!(dir.join("doomed.sock").exists());
    let v = rt.json(&["clean"]);
    let removed: Vec<String> = v["leftovers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["removed"] == true)
        .map(|l| l["path"].as_str().unwrap().to_owned())
        .collect();
    for pid in dead {
        assert!(!dir.join(format!("{pid}.flows")).exists(), "{v}");
    }
    assert!(
        !dir.join("doomed.sock").exists() && !dir.join("doomed.lock").exists(),
        "{v}"
    );
    assert_eq!(removed.len(), 4, "{v}");
    for pid in [live_server.pid(), live_client.pid()] {
        assert!(dir.join(format!("{pid}.flows")).exists());
    }
    assert!(dir.join("alive.sock").exists() && dir.join("alive.lock").exists());
    assert_eq!(rt.json(&["ls"])["names"][0]["name"], "alive");
    let (code, text, _) = rt.mempipe(&["clean"]);
    assert_eq!(code, 0);
    assert!(text.starts_with("nothing to clean"), "{text}");
}
