//! The name services against the real thing: the local one in a temporary
//! rendezvous directory, the etcd one against a real etcd (one member, or a
//! three-member cluster with members killed), with real child processes
//! holding names and being SIGKILLed.

mod common;

use common::etcd::{cluster_or_skip, Etcd};
use common::{child_context, serial, spawn_child, HANG_GUARD};
use mempipe::conn::names::{
    EtcdNames, HostId, LocalNames, NameEvent, NameService, NameServiceError, Names, Registration,
};
use mempipe::conn::BindError;
use mempipe::{ConnConfig, Listener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A registration that says who holds it (the pid) and where (a host id).
fn registration(machine: &str) -> Registration {
    let mut r = Registration::this_process();
    r.host = HostId {
        machine: machine.to_owned(),
        boot: "boot-1".to_owned(),
    };
    r.tcp = vec!["127.0.0.1:7000".parse().unwrap()];
    r.wakeups = vec!["futex".into(), "hybrid".into()];
    r
}

fn etcd_names(endpoints: &str) -> EtcdNames {
    let endpoints: Vec<&str> = endpoints.split(',').collect();
    EtcdNames::connect(&endpoints, Duration::from_secs(10))
        .expect("connect to the test etcd")
        .ttl(2)
}

/// Waits (bounded) until `check` holds.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + HANG_GUARD;
    while !check() {
        assert!(Instant::now() < end, "{what}: not within {HANG_GUARD:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Register, resolve, list by prefix, taken while held, gone once dropped:
/// the contract both services keep.
fn contract(names: &dyn NameService) {
    let held = ["app/db/primary", "app/db/replica", "app/web"]
        .map(|n| names.register(n, &registration("m1")).unwrap());
    let found = names
        .resolve("app/db/primary", Duration::from_secs(5))
        .unwrap();
    assert_eq!(found, registration("m1"));
    let listed: Vec<String> = names
        .list("app/db")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(listed, ["app/db/primary", "app/db/replica"]);
    assert_eq!(names.list("").unwrap().len(), 3);
    match names.register("app/web", &registration("m2")) {
        Err(NameServiceError::Taken { name, pid, host }) => {
            assert_eq!(name, "app/web");
            assert_eq!(pid, std::process::id());
            assert_eq!(host.machine, "m1");
        }
        other => panic!("a held name was claimed again: {other:?}"),
    }
    assert!(matches!(
        names.register("bad//name", &registration("m1")),
        Err(NameServiceError::Invalid { .. })
    ));
    drop(held);
    match names.resolve("app/db/primary", Duration::from_secs(2)) {
        Err(NameServiceError::NotFound { .. }) => {}
        other => panic!("a dropped name still resolves: {other:?}"),
    }
    assert!(names.list("app").unwrap().is_empty());
    // Free again: another holder takes it.
    let _again = names.register("app/web", &registration("m2")).unwrap();
}

#[test]
fn local_contract() {
    let dir = std::env::temp_dir().join(format!("mempipe-test-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    contract(&LocalNames::open(Some(&dir)).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn etcd_contract() {
    let _serial = serial();
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    contract(&etcd_names(&etcd.endpoints()));
}

/// Child: holds `NAME` in the service given (`etcd|ENDPOINTS|NAME` or
/// `local|DIR|NAME`) until killed.
#[test]
fn child_hold_name() {
    let Some(ctx) = child_context() else { return };
    let f = ctx.fields();
    let names: Box<dyn NameService> = match f[0] {
        "etcd" => Box::new(etcd_names(f[1])),
        _ => Box::new(LocalNames::open(Some(f[1].as_ref())).unwrap()),
    };
    let _hold = names.register(f[2], &registration("child")).unwrap();
    common::signal_ready();
    common::park_forever();
}

/// A killed holder's name is taken while it lives, then freed (an expired
/// lease; a released lock) and taken by a new holder.
fn killed_holder_frees(service: &str, names: &dyn NameService) {
    let mut child = spawn_child(
        "child_hold_name",
        "hold",
        None,
        &format!("{service}|svc/killed"),
    );
    child.wait_for_line(common::READY, HANG_GUARD);
    match names.register("svc/killed", &registration("m1")) {
        Err(NameServiceError::Taken { pid, host, .. }) => {
            assert_eq!(pid, child.pid());
            assert_eq!(host.machine, "child");
        }
        other => panic!("a live child's name was claimed: {other:?}"),
    }
    child.kill();
    child.reap_killed();
    let mut hold = None;
    eventually("the killed holder's name is freed", || {
        hold = names.register("svc/killed", &registration("m1")).ok();
        hold.is_some()
    });
    let now = names.resolve("svc/killed", HANG_GUARD).unwrap();
    assert_eq!(now.pid, std::process::id());
}

#[test]
fn local_killed_holder() {
    let dir = std::env::temp_dir().join(format!("mempipe-test-killed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    killed_holder_frees(
        &format!("local|{}", dir.display()),
        &LocalNames::open(Some(&dir)).unwrap(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn etcd_killed_holder_expires() {
    let _serial = serial();
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    killed_holder_frees(
        &format!("etcd|{}", etcd.endpoints()),
        &etcd_names(&etcd.endpoints()),
    );
}

/// A resolve for a name that is not there yet returns once it is registered
/// (a watch wakes it).
#[test]
fn etcd_resolve_waits_for_the_name() {
    let _serial = serial();
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    let endpoints = etcd.endpoints();
    let waiter =
        std::thread::spawn(move || etcd_names(&endpoints).resolve("late/comer", HANG_GUARD));
    std::thread::sleep(Duration::from_millis(500));
    let names = etcd_names(&etcd.endpoints());
    let _hold = names.register("late/comer", &registration("m3")).unwrap();
    let found = waiter.join().unwrap().expect("the waiting resolve");
    assert_eq!(found.host.machine, "m3");
}

/// etcd gone: each call fails within its time with a typed error naming the
/// endpoints; a service that never answered cannot be opened.
#[test]
fn etcd_unreachable_is_typed() {
    let _serial = serial();
    let Some(mut etcd) = cluster_or_skip(1) else {
        return;
    };
    let endpoint = etcd.endpoint(0);
    let names = EtcdNames::connect(&[&endpoint], Duration::from_secs(2)).unwrap();
    etcd.kill(0);
    let is_unreachable = |r: Result<_, NameServiceError>| match r {
        Err(NameServiceError::Unreachable { endpoints, .. }) => {
            assert_eq!(endpoints, std::slice::from_ref(&endpoint))
        }
        other => panic!("expected Unreachable, got {other:?}"),
    };
    is_unreachable(names.resolve("x", Duration::from_secs(1)).map(drop));
    is_unreachable(names.register("x", &registration("m1")).map(drop));
    is_unreachable(names.list("").map(drop));
    is_unreachable(EtcdNames::connect(&[&endpoint], Duration::from_secs(1)).map(drop));
}

fn collect_events() -> (Arc<Mutex<Vec<NameEvent>>>, mempipe::conn::names::EventSink) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (
        seen,
        Arc::new(move |e: &NameEvent| sink.lock().unwrap().push(e.clone())),
    )
}

/// The listener's only etcd member goes away long enough for its lease to
/// expire on the rest of the cluster; when the member is back, the name is
/// registered again and the holder is told (and was told it was away).
#[test]
fn etcd_lease_lost_reregisters() {
    let _serial = serial();
    let Some(mut etcd) = cluster_or_skip(3) else {
        return;
    };
    let (seen, sink) = collect_events();
    let holder = EtcdNames::connect(&[etcd.endpoint(0)], Duration::from_secs(10))
        .unwrap()
        .ttl(2)
        .on_event(sink);
    let _hold = holder.register("svc/away", &registration("m1")).unwrap();
    let others = EtcdNames::connect(
        &[etcd.endpoint(1), etcd.endpoint(2)],
        Duration::from_secs(10),
    )
    .unwrap();
    others.resolve("svc/away", HANG_GUARD).unwrap();
    etcd.kill(0);
    eventually(
        "the lease expires while its holder cannot reach etcd",
        || {
            matches!(
                others.resolve("svc/away", Duration::from_millis(500)),
                Err(NameServiceError::NotFound { .. })
            )
        },
    );
    etcd.restart(0);
    eventually("the holder registers again", || {
        seen.lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, NameEvent::Reregistered { .. }))
    });
    assert_eq!(
        others.resolve("svc/away", HANG_GUARD).unwrap().pid,
        std::process::id()
    );
    let events = seen.lock().unwrap().clone();
    assert!(
        matches!(events.first(), Some(NameEvent::Unreachable { name, .. }) if name == "svc/away"),
        "events: {events:?}"
    );
}

/// Registering and resolving go on while one of three members is killed
/// (and come back): nothing is refused, nothing is lost.
#[test]
fn etcd_cluster_survives_a_member() {
    let _serial = serial();
    let Some(mut etcd) = cluster_or_skip(3) else {
        return;
    };
    let names = etcd_names(&etcd.endpoints());
    let mut holds = Vec::new();
    let mut worst = Duration::ZERO;
    for i in 0..30 {
        if i == 10 {
            etcd.kill(1);
        }
        if i == 20 {
            etcd.restart(1);
        }
        let name = format!("cluster/n{i}");
        let start = Instant::now();
        holds.push(
            names
                .register(&name, &registration("m1"))
                .unwrap_or_else(|e| panic!("register {name}: {e}")),
        );
        names
            .resolve(&name, HANG_GUARD)
            .unwrap_or_else(|e| panic!("resolve {name}: {e}"));
        worst = worst.max(start.elapsed());
    }
    assert_eq!(names.list("cluster").unwrap().len(), 30);
    eprintln!("worst register+resolve with a member killed: {worst:?}");
    drop(holds);
    let _keep: &Etcd = &etcd;
}

/// A listener configured with etcd registers its name there with its
/// rendezvous socket and pid for as long as it lives; the name is unique
/// across the cluster, not only in one rendezvous directory.
#[test]
fn listener_registers_in_etcd() {
    let _serial = serial();
    let Some(etcd) = cluster_or_skip(1) else {
        return;
    };
    let endpoints: Vec<String> = etcd.endpoints().split(',').map(str::to_owned).collect();
    let dirs = ["a", "b"].map(|d| {
        let dir = std::env::temp_dir().join(format!("mempipe-test-ln-{}-{d}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    let config = |dir: &std::path::Path| {
        ConnConfig::default()
            .names(Names::Etcd(endpoints.clone()))
            .rendezvous_dir(dir)
    };
    let name = common::unique_listener_name("etcd");
    let listener = Listener::bind(&name, &config(&dirs[0])).unwrap();
    let names = etcd_names(&etcd.endpoints());
    let found = names.resolve(&name, HANG_GUARD).unwrap();
    assert_eq!(found.pid, std::process::id());
    assert_eq!(found.rendezvous.as_deref(), Some(listener.path()));
    assert_eq!(found.host, HostId::current());
    match Listener::bind(&name, &config(&dirs[1])) {
        Err(BindError::Names(NameServiceError::Taken { pid, .. })) => {
            assert_eq!(pid, std::process::id())
        }
        other => panic!("a second listener took a held cluster name: {other:?}"),
    }
    drop(listener);
    assert!(matches!(
        names.resolve(&name, Duration::from_secs(1)),
        Err(NameServiceError::NotFound { .. })
    ));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
