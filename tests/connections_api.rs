//! The connection API within one process: addresses, names, transport choice
//! and its description, splitting, event-loop readiness. Cross-process
//! behaviour is in tests/connections.rs.

mod common;

use common::{unique_listener_name, HANG_GUARD};
use mempipe::conn::{
    AcceptError, Address, BindError, ConnConfigError, ConnectError, Intent, MachineProfile,
    TransportKind,
};
use mempipe::{connect, ConnConfig, Connection, Listener, RecvError, WakeupKind};
use std::os::fd::AsFd;
use std::time::Duration;

/// Connects `address` from a thread and accepts on `listener`: (server, client).
fn pair(listener: &Listener, address: String, config: ConnConfig) -> (Connection, Connection) {
    let client = std::thread::spawn(move || connect(address.as_str(), &config).expect("connect"));
    let server = listener.accept().expect("accept");
    (server, client.join().unwrap())
}

#[test]
fn addresses_parse_and_bad_ones_name_the_accepted_forms() {
    assert_eq!("x".parse::<Address>().unwrap(), Address::Auto("x".into()));
    assert_eq!(
        "xio://x".parse::<Address>().unwrap(),
        Address::Auto("x".into())
    );
    assert_eq!(
        "shm://x".parse::<Address>().unwrap(),
        Address::Shm("x".into())
    );
    assert_eq!(
        "tcp://h:1".parse::<Address>().unwrap(),
        Address::Tcp("h:1".into())
    );
    assert_eq!(
        "h:1".parse::<Address>().unwrap(),
        Address::AutoTcp("h:1".into())
    );
    for bad in [
        "",
        "udp://x",
        "tcp://nohost",
        "tcp://h:99999",
        "shm://a//b",
        "app/.hidden",
        ".hidden",
        "a b",
    ] {
        let e = bad.parse::<Address>().unwrap_err().to_string();
        assert!(
            e.contains("shm://NAME") && e.contains("tcp://HOST:PORT"),
            "{e}"
        );
        match connect(bad, &ConnConfig::new()) {
            Err(ConnectError::Address(_)) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn a_live_listeners_name_is_never_taken() {
    let name = unique_listener_name("taken");
    let first = Listener::bind(&name, &ConnConfig::new()).expect("bind");
    match Listener::bind(&name, &ConnConfig::new()) {
        Err(BindError::InUse { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
        other => panic!("expected InUse, got {other:?}"),
    }
    drop(first);
    let again = Listener::bind(&name, &ConnConfig::new()).expect("bind after the first closed");
    let path = again.path().to_owned();
    assert!(path.exists());
    drop(again);
    assert!(!path.exists(), "a closed listener removes its socket");
}

#[test]
fn invalid_names_are_refused() {
    for bad in ["", "a//b", "/a", "a/", "a/.b", "..", "a b", &"x".repeat(65)] {
        match Listener::bind(bad, &ConnConfig::new()) {
            Err(BindError::InvalidName(e)) => {
                assert_eq!(e.name, bad);
                assert!(e.to_string().contains("connection name"), "{e}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let e = Listener::bind("a:b", &ConnConfig::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid name \"a:b\": character ':' is not allowed in a connection name (A-Z a-z 0-9 . _ - and / between segments)"
    );
}

/// A hierarchical name binds on this host (its files flattened, `/` as `~`)
/// and clients connect by it.
#[test]
fn hierarchical_names_bind_and_connect() {
    let name = format!("app/db/{}", unique_listener_name("tree"));
    let listener = Listener::bind(&name, &ConnConfig::new()).expect("bind a hierarchical name");
    let file = listener
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        file.starts_with("app~db~") && file.ends_with(".sock"),
        "{file}"
    );
    let client = std::thread::spawn({
        let name = name.clone();
        move || {
            let mut conn = connect(name.as_str(), &ConnConfig::new()).expect("connect by the name");
            conn.send(b"hello").unwrap();
        }
    });
    let mut conn = listener.accept().expect("accept");
    let mut buf = Vec::new();
    conn.recv(&mut buf).unwrap();
    assert_eq!(buf, b"hello");
    client.join().unwrap();
}

#[test]
fn unusable_sizes_are_refused_before_anything_is_bound() {
    let too_large = "ConnConfig::max_message(1099511627776) is out of range: a connection's \
                     messages are 1 to 536870904 bytes";
    for (bytes, text) in [
        (0, "ConnConfig::max_message(0) is out of range: a connection's messages are 1 to 536870904 bytes"),
        (1 << 40, too_large),
    ] {
        let config = ConnConfig::new().max_message(bytes);
        match Listener::bind(&unique_listener_name("size"), &config) {
            Err(e @ BindError::Config(ConnConfigError::MaxMessage { .. })) => {
                assert_eq!(e.to_string(), text)
            }
            other => panic!("{bytes}: expected Config, got {other:?}"),
        }
        match connect(unique_listener_name("size").as_str(), &config) {
            Err(e @ ConnectError::Config(ConnConfigError::MaxMessage { .. })) => {
                assert_eq!(e.to_string(), text)
            }
            other => panic!("{bytes}: expected Config, got {other:?}"),
        }
    }
    let ring = ConnConfig::new().ring_capacity(1 << 31);
    match Listener::bind(&unique_listener_name("ring"), &ring) {
        Err(e @ BindError::Config(ConnConfigError::RingCapacity { .. })) => assert_eq!(
            e.to_string(),
            "ConnConfig::ring_capacity(2147483648) is out of range: a connection's rings hold \
             at most 1073741824 bytes each"
        ),
        other => panic!("expected Config, got {other:?}"),
    }
}

#[test]
fn error_helpers_answer_without_matching_variants() {
    use mempipe::conn::AcceptError;
    use mempipe::SendError;
    let config = ConnConfig::new().connect_timeout(Duration::from_millis(50));
    let e = connect(unique_listener_name("absent").as_str(), &config).unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert!(!ConnectError::from(ConnConfigError::MaxMessage { value: 0, max: 1 }).is_not_found());
    let listener = Listener::bind(&unique_listener_name("helpers"), &ConnConfig::new()).unwrap();
    assert!(matches!(listener.try_accept(), Err(e) if e.is_timeout()));
    assert!(matches!(
        listener.accept_timeout(Duration::from_millis(1)),
        Err(AcceptError::Timeout)
    ));
    let e = SendError::PeerDied { pid: 7 };
    assert!(e.is_peer_died() && !e.is_disconnected() && !e.is_full());
    let e = RecvError::Disconnected;
    assert!(e.is_disconnected() && !e.is_peer_died() && !e.is_empty());
    assert!(RecvError::Timeout.is_timeout() && SendError::Timeout.is_timeout());
}

#[test]
fn nobody_listening_is_not_found_after_the_timeout() {
    let config = ConnConfig::new().connect_timeout(Duration::from_millis(50));
    match connect(unique_listener_name("absent").as_str(), &config) {
        Err(ConnectError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn a_tcp_address_stays_on_tcp_even_on_this_host() {
    let _serial = common::serial();
    let name = unique_listener_name("no-upgrade");
    let listener =
        Listener::bind(&name, &ConnConfig::new().plaintext_tcp("127.0.0.1:0")).expect("bind");
    let addr = listener.tcp_addr().unwrap();
    // Plaintext TCP proves nothing about the listener: no switch to shared memory.
    let (mut server, mut client) = pair(&listener, format!("xio://{addr}"), ConnConfig::new());
    assert_eq!(
        client.transport().kind(),
        TransportKind::Tcp,
        "{}",
        client.transport()
    );
    assert_eq!(server.transport().kind(), TransportKind::Tcp);
    client.send(b"hi").unwrap();
    let mut buf = Vec::new();
    server.recv(&mut buf).unwrap();
    assert_eq!(buf, b"hi");

    let (_server, client) = pair(&listener, format!("tcp://{addr}"), ConnConfig::new());
    assert_eq!(client.transport().kind(), TransportKind::Tcp);
    let line = client.transport().to_string();
    assert!(
        line.starts_with("TCP to ") && !line.contains('\n'),
        "{line}"
    );
}

#[test]
fn intents_choose_the_wakeup_and_the_description_says_why() {
    let _serial = common::serial();
    let name = unique_listener_name("intent");
    let listener = Listener::bind(&name, &ConnConfig::new()).expect("bind");
    let cases = [
        (Intent::Pollable, WakeupKind::EventFd),
        (Intent::IdleFriendly, WakeupKind::Futex),
        (Intent::Balanced, WakeupKind::Hybrid),
    ];
    for (intent, wakeup) in cases {
        let config = ConnConfig::new().intent(intent).without_machine_profile();
        let (server, client) = pair(&listener, name.clone(), config);
        assert_eq!(client.transport().wakeup(), Some(wakeup));
        assert_eq!(server.transport().wakeup(), Some(wakeup));
        let line = client.transport().to_string();
        assert!(line.starts_with("shared memory, "), "{line}");
        assert!(
            line.contains(intent.name()) && line.contains("defaults"),
            "{line}"
        );
    }
    let profile = MachineProfile {
        wake_cost: Some(Duration::from_micros(9)),
        stream_peak_ring: Some(256 << 10),
        spin_viable: Some(true),
        measured: Some("a test's figures".into()),
    };
    let (_server, client) = pair(
        &listener,
        name.clone(),
        ConnConfig::new().machine_profile(profile),
    );
    let t = client.transport();
    assert_eq!(
        (t.wakeup(), t.ring_capacity()),
        (Some(WakeupKind::Hybrid), Some(256 << 10))
    );
    assert!(
        t.to_string().contains("spin 18 µs") && t.why().contains("a test's figures"),
        "{t}"
    );
}

#[test]
fn a_pollable_connection_and_listener_wake_an_event_loop() {
    let _serial = common::serial();
    let name = unique_listener_name("poll");
    let listener = Listener::bind(&name, &ConnConfig::new()).expect("bind");
    let readable = |fd: std::os::fd::BorrowedFd<'_>, ms: i32| {
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let ts = rustix::time::Timespec {
            tv_sec: i64::from(ms / 1000),
            tv_nsec: i64::from(ms % 1000) * 1_000_000,
        };
        rustix::event::poll(&mut fds, Some(&ts)).unwrap() > 0
    };
    assert!(!readable(listener.as_fd(), 0), "nobody waits yet");
    let client = std::thread::spawn({
        let name = name.clone();
        move || connect(name.as_str(), &ConnConfig::new().intent(Intent::Pollable)).unwrap()
    });
    // Readable whenever the handshake can move; it takes a few steps.
    let server = loop {
        assert!(
            readable(listener.as_fd(), 20_000),
            "a client with a handshake to move makes the listener readable"
        );
        match listener.try_accept() {
            Err(AcceptError::NoPending) => continue,
            done => break done.expect("try_accept after readiness"),
        }
    };
    let mut client = client.join().unwrap();
    let (_tx, mut rx) = server.split();
    assert!(!rx.arm_notify().unwrap(), "nothing sent yet");
    let fd = rx.notify_fd().expect("eventfd");
    assert!(!readable(fd, 0));
    client.send(b"wake").unwrap();
    assert!(readable(rx.notify_fd().unwrap(), 20_000));
    let mut buf = Vec::new();
    rx.try_recv(&mut buf).unwrap();
    assert_eq!(buf, b"wake");
}

#[test]
fn split_halves_work_from_two_threads_and_close_in_order() {
    let _serial = common::serial();
    for tcp in [false, true] {
        let name = unique_listener_name("split");
        let mut config = ConnConfig::new();
        if tcp {
            config = config.plaintext_tcp("127.0.0.1:0");
        }
        let listener = Listener::bind(&name, &config).expect("bind");
        let address = match listener.tcp_addr() {
            Some(a) if tcp => format!("tcp://{a}"),
            _ => name.clone(),
        };
        let (server, client) = pair(&listener, address, ConnConfig::new());
        let (mut tx, mut rx) = client.split();
        let sender = std::thread::spawn(move || {
            for i in 0u32..10_000 {
                tx.send(&i.to_le_bytes()).unwrap();
            }
            // Dropping the sending half closes this direction.
        });
        let (mut stx, mut srx) = server.split();
        let echo = std::thread::spawn(move || {
            let mut buf = Vec::new();
            loop {
                match srx.recv_timeout(&mut buf, HANG_GUARD) {
                    Ok(_) => stx.send(&buf).unwrap(),
                    Err(e) if e.is_disconnected() => return,
                    Err(e) => panic!("server: {e}"),
                }
            }
        });
        let mut buf = [0u8; 4];
        for i in 0u32..10_000 {
            assert_eq!(rx.recv_into_timeout(&mut buf, HANG_GUARD).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(buf), i);
        }
        sender.join().unwrap();
        echo.join().unwrap();
        match rx.recv_timeout(&mut Vec::new(), HANG_GUARD) {
            // A connection's user reads of the peer, not of a ring's producer.
            Err(e) if e.is_disconnected() => assert_eq!(
                e.to_string(),
                "the peer has closed its end and every message it sent was read"
            ),
            other => panic!("tcp={tcp}: expected Disconnected, got {other:?}"),
        }
    }
}

#[test]
fn sizes_above_the_maximum_are_refused_on_both_transports() {
    let _serial = common::serial();
    let name = unique_listener_name("max");
    let listener = Listener::bind(
        &name,
        &ConnConfig::new()
            .max_message(1000)
            .plaintext_tcp("127.0.0.1:0"),
    )
    .unwrap();
    let tcp = format!("tcp://{}", listener.tcp_addr().unwrap());
    for address in [name.clone(), tcp] {
        let (_server, mut client) = pair(&listener, address, ConnConfig::new());
        assert_eq!(
            client.max_message(),
            1000,
            "the smaller side's maximum applies"
        );
        match client.send(&[0; 1001]) {
            Err(
                e @ mempipe::SendError::TooLarge {
                    len: 1001,
                    max: 1000,
                    limit: mempipe::MessageLimit::Connection,
                },
            ) => assert_eq!(
                e.to_string(),
                "message of 1001 bytes exceeds the maximum of 1000 bytes; raise \
                 ConnConfig::max_message on both sides (the smaller of the two applies)"
            ),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(client.try_reserve(1001).is_err());
    }
}
