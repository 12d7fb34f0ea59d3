//! How flows are shown: the JSON objects (stable field names, see
//! docs/flows.md) and the text columns.

use mempipe::conn::flows::{Flow, FlowKind, ProcessFlows, Role, SideStats};
use serde_json::{json, Value};

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn kind(f: &Flow) -> &'static str {
    match (f.kind, f.role) {
        (FlowKind::Listener, _) => "listener",
        (FlowKind::Connection, Some(Role::Client)) => "client",
        (FlowKind::Connection, Some(Role::Server)) => "server",
        (FlowKind::Connection, None) => "connection",
    }
}

pub fn transport(f: &Flow) -> String {
    match (f.transport, f.wakeup) {
        (Some(t), Some(w)) => format!("{}/{}", t.as_str(), w.name()),
        (Some(t), None) => t.as_str().to_owned(),
        (None, _) => "-".to_owned(),
    }
}

fn side_json(s: &SideStats) -> Value {
    json!({
        "messages": s.messages,
        "bytes": s.bytes,
        "waits": s.waits,
        "wait_ns": s.wait_ns,
        "wakes": s.wakes,
        "errors": s.errors,
        "last_unix_ns": s.last_unix_ns,
        "ring_fill_bytes": s.ring_fill_bytes,
    })
}

/// One flow as JSON.
pub fn flow_json(p: &ProcessFlows, f: &Flow) -> Value {
    let now = now_ns();
    json!({
        "pid": p.pid,
        "program": p.program,
        "alive": p.alive,
        "slot": f.slot,
        "kind": kind(f),
        "name": f.name,
        "transport": f.transport.map(|t| t.as_str()),
        "wakeup": f.wakeup.map(|w| w.name()),
        "peer": f.peer,
        "peer_pid": (f.peer_pid != 0).then_some(f.peer_pid),
        "peer_uid": f.peer_uid,
        "ring_capacity": f.ring_capacity,
        "max_message": f.max_message,
        "started_unix_ns": f.started_unix_ns,
        "age_s": now.saturating_sub(f.started_unix_ns) as f64 / 1e9,
        "last_activity_unix_ns": f.tx.last_unix_ns.max(f.rx.last_unix_ns),
        "moves": f.moves,
        "can_move": f.can_move,
        "tx": side_json(&f.tx),
        "rx": side_json(&f.rx),
    })
}

pub fn bytes(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.1}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

pub fn age(ns: u64) -> String {
    let s = now_ns().saturating_sub(ns) / 1_000_000_000;
    match s {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// One flow's counters as text (`mempipe stat`).
pub fn flow_text(p: &ProcessFlows, f: &Flow) -> String {
    let mut out = format!(
        "{} {} in pid {} ({}), slot {}\n  transport: {}  peer: {}{}\n  started {} ago, moves {}, can move: {}\n",
        kind(f),
        f.name,
        p.pid,
        p.program,
        f.slot,
        transport(f),
        if f.peer.is_empty() { "-" } else { &f.peer },
        f.peer_uid.map(|u| format!(" (uid {u})")).unwrap_or_default(),
        age(f.started_unix_ns),
        f.moves,
        if f.can_move { "yes" } else { "no" },
    );
    if f.ring_capacity > 0 {
        out += &format!(
            "  ring {} B each way, messages up to {} B\n",
            f.ring_capacity, f.max_message
        );
    }
    for (dir, s) in [("sent", &f.tx), ("received", &f.rx)] {
        out += &format!(
            "  {dir:>8}: {} messages, {} bytes, {} waits ({:.3} ms), {} wakes, {} errors, last activity {} ago{}\n",
            s.messages,
            s.bytes,
            s.waits,
            s.wait_ns as f64 / 1e6,
            s.wakes,
            s.errors,
            age(s.last_unix_ns),
            if dir == "sent" && f.ring_capacity > 0 {
                format!(", ring fill {} B", s.ring_fill_bytes)
            } else {
                String::new()
            },
        );
    }
    out
}
