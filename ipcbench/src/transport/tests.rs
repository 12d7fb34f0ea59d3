//! Every transport, in one process (the "child" is a thread), both kinds, a
//! few sizes, with `--verify` framing: the protocol must complete and the
//! receiver must confirm every message.

use super::{registry, CellParams, Kind};
use crate::measure::Ended;
use std::time::Duration;

fn exercise(kind: Kind, size: usize) {
    let _guard = crate::stop::TEST_LOCK
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    for t in registry() {
        if size > t.max_size() {
            continue;
        }
        let params = CellParams {
            kind,
            size,
            name_prefix: format!("ipcbench-test-{}", t.name()),
        };
        let (mut ep, handoff) = t.create(&params).unwrap();
        let window = t.flow_window(&params);
        let p2 = params.clone();
        let child = std::thread::spawn(move || {
            let mut ep = t.attach(&p2, handoff).unwrap();
            match kind {
                Kind::Latency => ep.echo(size, true).ended,
                Kind::Throughput => ep.sink(size, true, window).ended,
            }
        });
        let (w, d) = (Duration::from_millis(1), Duration::from_millis(5));
        match kind {
            Kind::Latency => {
                let r = ep.ping(size, w, d, true);
                assert_eq!(r.ended, Ended::Done, "{} {size}", t.name());
                assert!(!r.hist.is_empty(), "{} {size}", t.name());
            }
            Kind::Throughput => {
                let r = ep.stream(size, w, d, true, window);
                assert_eq!(r.ended, Ended::Done, "{} {size}", t.name());
                assert!(r.confirmed, "{} {size}: not confirmed", t.name());
            }
        }
        assert_eq!(
            child.join().unwrap(),
            Ended::Done,
            "{} {size} child",
            t.name()
        );
    }
}

#[test]
fn latency_protocol_completes_on_every_transport() {
    for size in [1, 8, 57, 4096] {
        exercise(Kind::Latency, size);
    }
}

#[test]
fn throughput_protocol_completes_on_every_transport() {
    for size in [1, 100, 70_000] {
        exercise(Kind::Throughput, size);
    }
}
