//! Connecting by name across hosts with real processes and a real etcd:
//! processes with different host identities (`MEMPIPE_HOST_ID`) find each
//! other by a hierarchical name and talk over mutual TLS (certificates from
//! the environment, no code for it), with sequence numbers and checksums; a
//! process with another host's identity but no valid certificate is refused
//! while the honest one keeps talking; losing etcd loses no message on open
//! connections; a SIGKILLed listener's name expires, a new listener takes it
//! and clients reconnect by name.

mod common;

use common::certs::{Ca, Validity};
use common::etcd::cluster_or_skip;
use common::{
    check_message, child_context, echo_on_a_thread, fill_message, Lengths, Stream, HANG_GUARD,
};
use mempipe::conn::names::{NameServiceError, Names, ETCD_ENV, HOST_ID_ENV};
use mempipe::conn::tls::{TlsConfig, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV};
use mempipe::conn::{BindError, ConnectError, TransportKind};
use mempipe::{connect, ConnConfig, Connection, Listener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `ca.pem` and certificates for `node-a` (listeners), `node-b` (honest
/// clients) and `stranger` (signed by another CA).
fn cert_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mempipe-test-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = Ca::new("test cluster CA");
        let other = Ca::new("another CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        for (name, ca) in [("node-a", &ca), ("node-b", &ca), ("stranger", &other)] {
            let node = ca.node(name, Validity::Current);
            std::fs::write(dir.join(format!("{name}.pem")), node.cert).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), node.key).unwrap();
        }
        dir
    })
    .clone()
}

fn tls_config(dir: &Path, node: &str) -> TlsConfig {
    TlsConfig::from_files(
        dir.join("ca.pem"),
        dir.join(format!("{node}.pem")),
        dir.join(format!("{node}.key")),
    )
    .unwrap()
}

/// Runs child `entry` as host `host` with etcd at `endpoints` and, when
/// `node` is given, that node's certificate from the environment.
fn spawn_on(
    host: &str,
    endpoints: &str,
    node: Option<&str>,
    entry: &str,
    arg: &str,
) -> common::ChildProc {
    let dir = cert_dir();
    common::spawn_child_with(entry, "child", None, arg, |cmd| {
        cmd.env(HOST_ID_ENV, host).env(ETCD_ENV, endpoints);
        if let Some(node) = node {
            cmd.env(TLS_CA_ENV, dir.join("ca.pem"))
                .env(TLS_CERT_ENV, dir.join(format!("{node}.pem")))
                .env(TLS_KEY_ENV, dir.join(format!("{node}.key")))
                .env(mempipe::conn::tls::TLS_LISTEN_ENV, "127.0.0.1:0");
        }
    })
    .unwrap()
}

/// Child: a listener on `NAME` (TLS and etcd from the environment) that
/// echoes every client and prints each refusal as `ACCEPT-ERR`. Binding
/// waits while a dead listener's name has not expired yet.
#[test]
fn child_listener() {
    let Some(ctx) = child_context() else { return };
    let name = ctx.fields()[0].to_owned();
    let config = ConnConfig::new().handshake_timeout(Duration::from_secs(2));
    let end = Instant::now() + HANG_GUARD;
    let listener = loop {
        match Listener::bind(&name, &config) {
            Ok(l) => break l,
            Err(BindError::Names(NameServiceError::Taken { .. })) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("bind {name}: {e}"),
        }
    };
    println!("TCP {}", listener.tcp_addr().expect("a TLS address"));
    println!("{}", common::READY);
    loop {
        match listener.accept() {
            Ok(conn) => {
                let who = conn
                    .transport()
                    .peer_identity()
                    .map_or("none".to_owned(), |p| p.names.join(","));
                println!("ACCEPTED {:?} {who}", conn.transport().kind());
                echo_on_a_thread(conn);
            }
            Err(e) => {
                assert!(e.is_per_client(), "{e}");
                println!("ACCEPT-ERR {e:?}");
            }
        }
    }
}

/// Round-trips `s` on `conn`, checking every echo.
fn talk(conn: &mut Connection, s: Stream) {
    let mut lengths = Lengths::new(s.seed, s.max);
    let (mut msg, mut echo) = (Vec::new(), Vec::new());
    for seq in 0..s.count {
        let len = lengths.next_len();
        fill_message(seq, len, &mut msg);
        conn.send_timeout(&msg, HANG_GUARD).unwrap();
        conn.recv_timeout(&mut echo, HANG_GUARD).unwrap();
        check_message(seq, len, &echo).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Child: connects to `NAME` (waiting for it to be registered), expects
/// `KIND` (`tcp` or `shm`), prints `CONNECTED`, round-trips `seed:count:max`
/// and prints `DONE`.
#[test]
fn child_client() {
    let Some(ctx) = child_context() else { return };
    let f = ctx.fields();
    let config = ConnConfig::new().connect_timeout(HANG_GUARD);
    let mut conn = connect(f[0], &config).unwrap_or_else(|e| panic!("connect {}: {e}", f[0]));
    let t = conn.transport().clone();
    match f[1] {
        "tcp" => {
            assert_eq!(t.kind(), TransportKind::Tcp, "{t}");
            let id = t.peer_identity().expect("a verified peer");
            assert_eq!(id.names, ["node-a"], "{t}");
        }
        _ => assert_eq!(t.kind(), TransportKind::SharedMemory, "{t}"),
    }
    println!("CONNECTED {t}");
    let s: Vec<u64> = f[2].split(':').map(|v| v.parse().unwrap()).collect();
    talk(
        &mut conn,
        Stream {
            seed: s[0],
            count: s[1],
            max: s[2] as usize,
        },
    );
    println!("DONE");
}

/// Child: connects to `NAME` and prints what failed as `REFUSED`.
#[test]
fn child_refused_client() {
    let Some(ctx) = child_context() else { return };
    let name = ctx.fields()[0];
    let config = ConnConfig::new().connect_timeout(HANG_GUARD);
    match connect(name, &config) {
        Ok(mut conn) => {
            // Anything but a refusal at connect is a failure of the test.
            let r = conn.recv_timeout(&mut Vec::new(), Duration::from_secs(1));
            println!("CONNECTED-UNEXPECTEDLY {r:?}");
        }
        Err(e) => println!("REFUSED {e:?} | {e}"),
    }
}

fn unique(tag: &str) -> String {
    format!("app/{tag}/p{}", std::process::id())
}

/// Two hosts by a hierarchical name over TLS, a third host without a valid
/// certificate refused (typed, on both sides), a client on the listener's
/// host over shared memory, a plaintext and a silent client refused by the
/// listener, and the honest client talking throughout.
#[test]
fn hosts_meet_by_name_over_tls_and_strangers_are_refused() {
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    let _serial = common::serial();
    let ep = etcd.endpoints();
    let name = unique("db");
    // The client starts first: connect waits for the name to appear.
    let mut honest = spawn_on(
        "machine-b/boot-b",
        &ep,
        Some("node-b"),
        "child_client",
        &format!("{name}|tcp|5:3000:8192"),
    );
    let mut listener = spawn_on(
        "machine-a/boot-a",
        &ep,
        Some("node-a"),
        "child_listener",
        &name,
    );
    let addr = listener.wait_for_prefix("TCP", HANG_GUARD);
    honest.wait_for_prefix("CONNECTED", HANG_GUARD);

    // Another host with a certificate from another CA: the listener refuses
    // it, and it hears so while connecting.
    let mut stranger = spawn_on(
        "machine-c/boot-c",
        &ep,
        Some("stranger"),
        "child_refused_client",
        &name,
    );
    let said = stranger.wait_for_prefix("REFUSED", HANG_GUARD);
    assert!(
        said.starts_with("Tls") && said.contains("RefusedByPeer"),
        "{said}"
    );
    stranger.assert_success(HANG_GUARD);
    let seen = listener.wait_for_prefix("ACCEPT-ERR", HANG_GUARD);
    assert!(seen.contains("Tls") && seen.contains("UnknownCa"), "{seen}");

    // Another host without any TLS configuration: told what to configure.
    let mut bare = spawn_on("machine-d/boot-d", &ep, None, "child_refused_client", &name);
    let said = bare.wait_for_prefix("REFUSED", HANG_GUARD);
    assert!(
        said.starts_with("OtherHost") && said.contains("TLS"),
        "{said}"
    );
    bare.assert_success(HANG_GUARD);

    // A plaintext client on the TLS address, and a silent one.
    let plain = connect(format!("tcp://{addr}"), &ConnConfig::new());
    assert!(plain.is_err(), "a plaintext client got through");
    let seen = listener.wait_for_prefix("ACCEPT-ERR", HANG_GUARD);
    assert!(seen.contains("NotTls"), "{seen}");
    let silent = std::net::TcpStream::connect(&addr).unwrap();
    let seen = listener.wait_for_prefix("ACCEPT-ERR", HANG_GUARD);
    assert!(seen.contains("Stalled"), "{seen}");
    drop(silent);

    // A client on the listener's own host: shared memory, by the same name.
    let mut local = spawn_on(
        "machine-a/boot-a",
        &ep,
        Some("node-b"),
        "child_client",
        &format!("{name}|shm|9:200:1024"),
    );
    local.wait_for_prefix("DONE", HANG_GUARD);
    local.assert_success(HANG_GUARD);

    honest.wait_for_prefix("DONE", HANG_GUARD * 3);
    honest.assert_success(HANG_GUARD);
}

/// Connects from this process (its real host) to `name` on another host.
fn connect_from_here(name: &str, endpoints: &str, timeout: Duration) -> Connection {
    let config = ConnConfig::new()
        .names(Names::Etcd(
            endpoints.split(',').map(str::to_owned).collect(),
        ))
        .tls(tls_config(&cert_dir(), "node-b"))
        .connect_timeout(timeout);
    connect(name, &config).unwrap_or_else(|e| panic!("connect {name}: {e}"))
}

/// etcd is only for finding each other: with one of three members killed,
/// then all of them, an open TLS connection loses no message.
#[test]
fn losing_etcd_loses_no_message() {
    let Some(mut etcd) = cluster_or_skip(3) else {
        return;
    };
    let _serial = common::serial();
    let ep = etcd.endpoints();
    let name = unique("etcd-loss");
    let mut listener = spawn_on(
        "machine-a/boot-a",
        &ep,
        Some("node-a"),
        "child_listener",
        &name,
    );
    listener.wait_for_line(common::READY, HANG_GUARD);
    let mut conn = connect_from_here(&name, &ep, HANG_GUARD);
    assert_eq!(conn.transport().kind(), TransportKind::Tcp);
    let mut seeds = 0..;
    let mut round = |conn: &mut Connection| {
        talk(
            conn,
            Stream {
                seed: seeds.next().unwrap(),
                count: 300,
                max: 16 << 10,
            },
        )
    };
    round(&mut conn);
    etcd.kill(1);
    round(&mut conn);
    etcd.kill(0);
    etcd.kill(2);
    round(&mut conn);
}

/// A SIGKILLed listener's name expires with its lease; a new listener (on
/// another host) takes it, and a client reconnects by the same name.
#[test]
fn killed_listener_name_expires_and_clients_reconnect() {
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    let _serial = common::serial();
    let ep = etcd.endpoints();
    let name = unique("failover");
    let mut first = spawn_on(
        "machine-a/boot-a",
        &ep,
        Some("node-a"),
        "child_listener",
        &name,
    );
    first.wait_for_line(common::READY, HANG_GUARD);
    let mut conn = connect_from_here(&name, &ep, HANG_GUARD);
    talk(
        &mut conn,
        Stream {
            seed: 1,
            count: 100,
            max: 4096,
        },
    );
    first.kill();
    first.reap_killed();
    assert!(conn.recv_timeout(&mut Vec::new(), HANG_GUARD).is_err());
    let mut second = spawn_on(
        "machine-e/boot-e",
        &ep,
        Some("node-a"),
        "child_listener",
        &name,
    );
    // Until the old registration expires the name still points at the dead
    // listener: a client retries, as after any restart.
    let end = Instant::now() + HANG_GUARD;
    let mut conn = loop {
        let config = ConnConfig::new()
            .names(Names::Etcd(ep.split(',').map(str::to_owned).collect()))
            .tls(tls_config(&cert_dir(), "node-b"))
            .connect_timeout(Duration::from_secs(1));
        match connect(name.as_str(), &config) {
            Ok(conn) => break conn,
            Err(e) if Instant::now() < end => {
                assert!(
                    matches!(
                        e,
                        ConnectError::Unreachable { .. } | ConnectError::Tls { .. }
                    ) || e.is_not_found(),
                    "{e:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("no reconnect by name within {HANG_GUARD:?}: {e}"),
        }
    };
    second.wait_for_line(common::READY, HANG_GUARD);
    talk(
        &mut conn,
        Stream {
            seed: 2,
            count: 100,
            max: 4096,
        },
    );
}

/// With etcd unreachable, connect fails within its timeout with a typed
/// error naming the endpoints it tried.
#[test]
fn unreachable_etcd_is_typed_and_names_the_endpoints() {
    let endpoint = "http://127.0.0.1:9".to_owned();
    let config = ConnConfig::new()
        .names(Names::Etcd(vec![endpoint.clone()]))
        .connect_timeout(Duration::from_millis(500));
    let e = connect("app/nowhere", &config).unwrap_err();
    match &e {
        ConnectError::Names(NameServiceError::Unreachable { endpoints, .. }) => {
            assert_eq!(endpoints, &[endpoint]);
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_not_found());
}

/// A network namespace joined to this one by a veth pair: this side's end
/// is `.1`, the namespace's `.2` of a /30; removed (with the pair) on drop.
struct Netns {
    name: String,
    here: String,
    there: String,
}

impl Netns {
    /// `None` (after a loud notice) where namespaces cannot be made: not
    /// root, or no `ip`; under CI that fails instead.
    fn create_or_skip() -> Option<Netns> {
        let pid = std::process::id();
        let name = format!("mp-hosts-{pid}");
        let (a, b) = (200 + pid % 50, (pid / 50) % 256);
        let ns = Netns {
            here: format!("10.{a}.{b}.1"),
            there: format!("10.{a}.{b}.2"),
            name,
        };
        let (va, vb) = (format!("mpa{pid}"), format!("mpb{pid}"));
        let n = ns.name.as_str();
        let steps: [&[&str]; 8] = [
            &["netns", "add", n],
            &["link", "add", &va, "type", "veth", "peer", "name", &vb],
            &["link", "set", &vb, "netns", n],
            &["addr", "add", &format!("{}/30", ns.here), "dev", &va],
            &["link", "set", &va, "up"],
            &[
                "-n",
                n,
                "addr",
                "add",
                &format!("{}/30", ns.there),
                "dev",
                &vb,
            ],
            &["-n", n, "link", "set", &vb, "up"],
            &["-n", n, "link", "set", "lo", "up"],
        ];
        for step in steps {
            let ok = std::process::Command::new("ip")
                .args(step)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let why = format!("cannot set up a network namespace (ip {step:?}); needs root");
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{why}: CI must run the namespace test"
                );
                eprintln!("\n*** SKIPPED: {why} ***\n");
                let _ = std::process::Command::new("ip")
                    .args(["link", "del", &va])
                    .status();
                return None; // drop removes the namespace
            }
        }
        Some(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two "hosts" in separate network stacks: a listener in a namespace of its
/// own, reachable only over a veth pair, registers in an etcd on this side's
/// end; this process finds it by name and talks TLS across the pair.
#[test]
fn hosts_in_separate_network_namespaces() {
    let Some(ns) = Netns::create_or_skip() else {
        return;
    };
    let Some(etcd) = common::etcd::cluster_on_or_skip(1, &ns.here) else {
        return;
    };
    let _serial = common::serial();
    let ep = etcd.endpoints();
    let name = unique("netns");
    let dir = cert_dir();
    let mut listener = common::spawn_child_under_with(
        &["ip", "netns", "exec", &ns.name],
        "child_listener",
        &name,
        |cmd| {
            cmd.env(HOST_ID_ENV, "machine-ns/boot-ns")
                .env(ETCD_ENV, &ep)
                .env(TLS_CA_ENV, dir.join("ca.pem"))
                .env(TLS_CERT_ENV, dir.join("node-a.pem"))
                .env(TLS_KEY_ENV, dir.join("node-a.key"))
                .env(
                    mempipe::conn::tls::TLS_LISTEN_ENV,
                    format!("{}:0", ns.there),
                );
        },
    );
    let addr = listener.wait_for_prefix("TCP", HANG_GUARD);
    assert!(addr.starts_with(&ns.there), "{addr}");
    let mut conn = connect_from_here(&name, &ep, HANG_GUARD);
    assert!(
        conn.transport().to_string().contains(&ns.there),
        "{}",
        conn.transport()
    );
    talk(
        &mut conn,
        Stream {
            seed: 3,
            count: 500,
            max: 16 << 10,
        },
    );
}

/// The async connect resolves through etcd too (its blocking calls run on a
/// blocking thread, outside the caller's runtime): a listener on this host
/// found by name is reached over shared memory.
#[test]
fn async_connect_resolves_through_etcd() {
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    let _serial = common::serial();
    let config = ConnConfig::new()
        .names(Names::Etcd(
            etcd.endpoints().split(',').map(str::to_owned).collect(),
        ))
        .connect_timeout(HANG_GUARD);
    let name = unique("async");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The client asks before the listener exists: it waits for the name.
    let client = std::thread::spawn({
        let (name, config) = (name.clone(), config.clone());
        move || {
            runtime.block_on(async {
                let mut conn = mempipe::asyncio::connect(name.as_str(), &config)
                    .await
                    .unwrap_or_else(|e| panic!("async connect {name}: {e}"));
                assert_eq!(conn.transport().kind(), TransportKind::SharedMemory);
                conn.send(b"by name").await.unwrap();
            })
        }
    });
    let listener = Listener::bind(&name, &config).expect("bind in etcd");
    let mut conn = listener.accept_timeout(HANG_GUARD).expect("accept");
    let mut buf = Vec::new();
    conn.recv_timeout(&mut buf, HANG_GUARD).unwrap();
    assert_eq!(buf, b"by name");
    client.join().unwrap();
}
