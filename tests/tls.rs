//! Mutual TLS on TCP with real processes: a client process with another host
//! identity streams sequence-numbered, checksummed messages through a TLS
//! echo server; bad certificates, plaintext peers and silent peers are
//! refused with typed errors on the refusing side while an honest client
//! keeps talking.

mod common;

use common::certs::{Ca, Validity};
use common::etcd::cluster_or_skip;
use common::{check_message, child_context, fill_message, Lengths, Stream, HANG_GUARD};
use mempipe::conn::names::{EtcdNames, HostId, NameService, Registration, HOST_ID_ENV};
use mempipe::conn::tls::{self, TlsConfig, TlsError};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Handshake deadline on both sides.
const HANDSHAKE: Duration = Duration::from_secs(2);

/// A directory with `ca.pem`, node certificates for `node-a` (the listener)
/// and `node-b` (the honest client), and refused ones: `stranger` (another
/// CA), `expired`, `early` (not yet valid).
fn cert_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(make_certs).clone()
}

fn make_certs() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mempipe-test-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = Ca::new("test cluster CA");
    let other = Ca::new("some other CA");
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, ca, validity) in [
        ("node-a", &ca, Validity::Current),
        ("node-b", &ca, Validity::Current),
        ("stranger", &other, Validity::Current),
        ("expired", &ca, Validity::Expired),
        ("early", &ca, Validity::NotYet),
    ] {
        let node = ca.node(name, validity);
        std::fs::write(dir.join(format!("{name}.pem")), node.cert).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), node.key).unwrap();
    }
    dir
}

fn config(dir: &Path, node: &str) -> TlsConfig {
    TlsConfig::from_files(
        dir.join("ca.pem"),
        dir.join(format!("{node}.pem")),
        dir.join(format!("{node}.key")),
    )
    .unwrap()
}

/// A TLS echo server: each connection's handshake and echo run on a thread
/// of their own, off the accept loop; refusals go to `refused`.
fn echo_server(config: TlsConfig, refused: mpsc::Sender<TlsError>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            let refused = refused.clone();
            std::thread::spawn(move || match tls::accept(tcp, &config, HANDSHAKE) {
                Ok(stream) => {
                    assert_eq!(stream.peer().names, ["node-b"], "only node-b gets this far");
                    let mut conn = mempipe::Connection::over_tls(stream, 64 << 10);
                    let mut buf = Vec::new();
                    while conn.recv(&mut buf).is_ok() {
                        if conn.send(&buf).is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    let _ = refused.send(e);
                }
            });
        }
    });
    addr
}

/// Runs the child `entry` as if on another host (`MACHINE/BOOT`).
fn spawn_on_host(host: &str, entry: &str, arg: &str) -> common::ChildProc {
    common::spawn_child_with(entry, "child", None, arg, |cmd| {
        cmd.env(HOST_ID_ENV, host);
    })
    .unwrap()
}

/// The honest client `node-b` as a process on host `machine-b`.
fn spawn_honest(dir: &Path, addr: std::net::SocketAddr, stream: Stream) -> common::ChildProc {
    spawn_on_host(
        "machine-b/boot-b",
        "child_honest_client",
        &format!("{}|{addr}|{}", dir.display(), stream.to_arg()),
    )
}

/// Child: as host `machine-b`, the honest client `node-b`: streams
/// `seed:count:max` through the echo server at `ADDR` and checks every echo.
/// Argument: `DIR|ADDR|seed:count:max`.
#[test]
fn child_honest_client() {
    let Some(ctx) = child_context() else { return };
    let f = ctx.fields();
    println!("HOST {}", HostId::current());
    let s: Vec<u64> = f[2].split(':').map(|v| v.parse().unwrap()).collect();
    let stream = Stream {
        seed: s[0],
        count: s[1],
        max: s[2] as usize,
    };
    talk(&config(Path::new(f[0]), "node-b"), f[1], stream);
}

/// Connects to `addr` as a TLS client expecting `node-a`, and round-trips
/// the stream, checking sequence numbers and checksums.
fn talk(config: &TlsConfig, addr: &str, s: Stream) {
    let tcp = TcpStream::connect(addr).unwrap();
    let stream = tls::connect(tcp, "node-a", config, HANDSHAKE).unwrap();
    assert!(
        stream.peer().subject.contains("node-a"),
        "{}",
        stream.peer()
    );
    let mut conn = mempipe::Connection::over_tls(stream, 64 << 10);
    assert!(conn.transport().to_string().contains("node-a"));
    let mut lengths = Lengths::new(s.seed, s.max);
    let (mut msg, mut echo) = (Vec::new(), Vec::new());
    let mut worst = Duration::ZERO;
    for seq in 0..s.count {
        let len = lengths.next_len();
        fill_message(seq, len, &mut msg);
        let start = Instant::now();
        conn.send_timeout(&msg, HANG_GUARD).unwrap();
        conn.recv_timeout(&mut echo, HANG_GUARD).unwrap();
        worst = worst.max(start.elapsed());
        check_message(seq, len, &echo).unwrap_or_else(|e| panic!("{e}"));
    }
    println!("DONE {} worst round trip {worst:?}", s.count);
}

#[test]
fn round_trips_between_two_hosts() {
    let dir = cert_dir();
    let (refused, _) = mpsc::channel();
    let addr = echo_server(config(&dir, "node-a"), refused);
    let stream = Stream {
        seed: 7,
        count: 400,
        max: 60 << 10,
    };
    let mut child = spawn_honest(&dir, addr, stream);
    let host = child.wait_for_prefix("HOST", HANG_GUARD);
    assert_eq!(host, "machine-b/boot-b");
    assert_ne!(HostId::current().to_string(), host);
    child.wait_for_prefix("DONE", HANG_GUARD * 3);
    child.assert_success(HANG_GUARD);
}

/// A client that dials and then says nothing.
fn silent_client(addr: std::net::SocketAddr) -> TcpStream {
    TcpStream::connect(addr).unwrap()
}

/// A TLS client with `node`'s certificate; what its first receive says.
fn bad_client(dir: &Path, node: &str, addr: std::net::SocketAddr) -> String {
    let tcp = TcpStream::connect(addr).unwrap();
    match tls::connect(tcp, "node-a", &config(dir, node), HANDSHAKE) {
        Err(e) => format!("{e:?}"),
        Ok(stream) => {
            // TLS 1.3: the listener judges our certificate after our side
            // finished; its refusal arrives as the first receive's error.
            let mut conn = mempipe::Connection::over_tls(stream, 1024);
            let _ = conn.send(b"let me in");
            format!("{:?}", conn.recv_timeout(&mut Vec::new(), HANG_GUARD))
        }
    }
}

/// The honest client (another process) keeps its round trips going while
/// clients with bad certificates, a plaintext client and a silent one are
/// refused, each with its own typed error on the listener's side.
#[test]
fn bad_clients_refused_while_honest_keeps_talking() {
    let dir = cert_dir();
    let (refused_tx, refused) = mpsc::channel();
    let addr = echo_server(config(&dir, "node-a"), refused_tx);
    let stream = Stream {
        seed: 11,
        count: 3000,
        max: 4096,
    };
    let mut honest = spawn_honest(&dir, addr, stream);
    honest.wait_for_prefix("HOST", HANG_GUARD);
    let _silent = silent_client(addr);
    let mut client_side = Vec::new();
    for node in ["stranger", "expired", "early"] {
        client_side.push(bad_client(&dir, node, addr));
    }
    // A plaintext mempipe client to the TLS listener.
    let plaintext = mempipe::connect(
        format!("tcp://{addr}").as_str(),
        &mempipe::ConnConfig::default().connect_timeout(Duration::from_secs(3)),
    );
    assert!(plaintext.is_err(), "a plaintext client got through");
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let e = refused
            .recv_timeout(HANG_GUARD)
            .unwrap_or_else(|_| panic!("refusals so far: {seen:?}"));
        seen.push(e);
    }
    let has = |f: fn(&TlsError) -> bool| seen.iter().any(f);
    assert!(has(|e| matches!(e, TlsError::UnknownCa)), "{seen:?}");
    assert!(has(|e| matches!(e, TlsError::Expired)), "{seen:?}");
    assert!(has(|e| matches!(e, TlsError::NotYetValid)), "{seen:?}");
    assert!(has(|e| matches!(e, TlsError::NotTls { .. })), "{seen:?}");
    assert!(has(|e| matches!(e, TlsError::Stalled { .. })), "{seen:?}");
    for said in &client_side {
        assert!(
            !said.starts_with("Ok"),
            "a refused client was served: {said}"
        );
    }
    eprintln!("refused clients saw: {client_side:?}");
    let done = honest.wait_for_prefix("DONE", HANG_GUARD * 6);
    eprintln!("honest client: {done}");
    honest.assert_success(HANG_GUARD);
}

/// A listener that answers with `reply` (plaintext) or nothing.
fn fake_listener(reply: Option<&'static [u8]>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut tcp in listener.incoming().flatten() {
            let mut hello = [0u8; 64];
            let _ = tcp.read(&mut hello);
            if let Some(reply) = reply {
                let _ = tcp.write_all(reply);
            }
            held.push(tcp);
        }
    });
    addr
}

/// A TLS server with `node`'s certificate, for one handshake.
fn listener_as(dir: &Path, node: &str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = config(dir, node);
    std::thread::spawn(move || {
        if let Ok((tcp, _)) = listener.accept() {
            let _ = tls::accept(tcp, &config, HANDSHAKE);
        }
    });
    addr
}

/// The client refuses listeners it must not trust, each with a typed error.
#[test]
fn client_refuses_bad_listeners() {
    let dir = cert_dir();
    let honest = config(&dir, "node-b");
    let dial = |addr, name: &str| {
        tls::connect(TcpStream::connect(addr).unwrap(), name, &honest, HANDSHAKE).map(drop)
    };
    let wrong_name = dial(listener_as(&dir, "node-a"), "node-x");
    assert!(
        matches!(&wrong_name, Err(TlsError::WrongName { expected }) if expected == "node-x"),
        "{wrong_name:?}"
    );
    let stranger = dial(listener_as(&dir, "stranger"), "stranger");
    assert!(matches!(stranger, Err(TlsError::UnknownCa)), "{stranger:?}");
    let expired = dial(listener_as(&dir, "expired"), "expired");
    assert!(matches!(expired, Err(TlsError::Expired)), "{expired:?}");
    let plaintext = dial(fake_listener(Some(b"MEMPIPE plaintext hello\n")), "node-a");
    assert!(
        matches!(plaintext, Err(TlsError::NotTls { .. })),
        "{plaintext:?}"
    );
    let silent = dial(fake_listener(None), "node-a");
    assert!(
        matches!(silent, Err(TlsError::Stalled { .. })),
        "{silent:?}"
    );
}

/// Child: listener `node-a` on host `machine-a`: registers `cluster/node-a`
/// in etcd with its TCP address and echoes one TLS client.
/// Argument: `DIR|ENDPOINTS`.
#[test]
fn child_named_listener() {
    let Some(ctx) = child_context() else { return };
    let f = ctx.fields();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let names = EtcdNames::connect(&f[1].split(',').collect::<Vec<_>>(), HANG_GUARD).unwrap();
    let mut me = Registration::this_process();
    me.tcp = vec![listener.local_addr().unwrap()];
    let _hold = names.register("cluster/node-a", &me).unwrap();
    common::signal_ready();
    let (tcp, _) = listener.accept().unwrap();
    let stream = tls::accept(tcp, &config(Path::new(f[0]), "node-a"), HANG_GUARD).unwrap();
    let mut conn = mempipe::Connection::over_tls(stream, 64 << 10);
    let mut buf = Vec::new();
    while conn.recv(&mut buf).is_ok() {
        conn.send(&buf).unwrap();
    }
}

/// Two processes with different host identities find each other by name
/// through a real etcd: the client sees another host and talks TLS.
#[test]
fn found_by_name_through_etcd_then_tls() {
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    let dir = cert_dir();
    let mut server = spawn_on_host(
        "machine-a/boot-a",
        "child_named_listener",
        &format!("{}|{}", dir.display(), etcd.endpoints()),
    );
    let names = EtcdNames::connect(&[etcd.endpoint(0)], HANG_GUARD).unwrap();
    let found = names.resolve("cluster/node-a", HANG_GUARD).unwrap();
    assert_eq!(found.host.machine, "machine-a");
    assert_ne!(found.host, HostId::current(), "another host: TCP with TLS");
    assert_eq!(found.pid, server.pid());
    talk(
        &config(&dir, "node-b"),
        &found.tcp[0].to_string(),
        Stream {
            seed: 3,
            count: 200,
            max: 16 << 10,
        },
    );
    server.assert_success(HANG_GUARD);
}
