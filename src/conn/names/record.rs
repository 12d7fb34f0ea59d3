//! What a registration says, and its text form in the name service: one
//! `key=value` line per field. The text comes from the service, which others
//! write to, so it is parsed as untrusted: bounded, every field checked,
//! unknown keys ignored (a newer writer may add some).

use super::NameServiceError;
pub use crate::conn::host::{HostId, HOST_ID_ENV};
use std::net::SocketAddr;
use std::path::PathBuf;

/// What a listener registers under its name: what a client needs to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The host it runs on.
    pub host: HostId,
    /// The TCP addresses it accepts on (none: this host only).
    pub tcp: Vec<SocketAddr>,
    /// When its TCP addresses speak mutual TLS: the name its certificate
    /// carries, which clients expect (`None`: plaintext TCP).
    pub tls: Option<String>,
    /// Its rendezvous socket, for clients on the same host.
    pub rendezvous: Option<PathBuf>,
    /// Its pid.
    pub pid: u32,
    /// The wakeups it offers (`spin`, `futex`, `eventfd`, `hybrid`).
    pub wakeups: Vec<String>,
    /// The largest message it accepts (bytes).
    pub max_message: usize,
    /// The ring size it offers each way (bytes; 0: chosen per connection).
    pub ring_capacity: usize,
}

impl Registration {
    /// A registration for this process on this host, with no address yet.
    pub fn this_process() -> Registration {
        Registration {
            host: HostId::current(),
            tcp: Vec::new(),
            tls: None,
            rendezvous: None,
            pid: std::process::id(),
            wakeups: Vec::new(),
            max_message: 64 << 10,
            ring_capacity: 0,
        }
    }
}

/// The most bytes a registration's text may take (a bound on what a reader
/// accepts from the service).
pub(crate) const MAX_RECORD: usize = 16 << 10;

/// The text form.
pub(crate) fn encode(r: &Registration) -> String {
    let join = |items: Vec<String>| items.join(",");
    let mut out = String::new();
    out.push_str(&format!("machine={}\n", r.host.machine));
    out.push_str(&format!("boot={}\n", r.host.boot));
    out.push_str(&format!(
        "tcp={}\n",
        join(r.tcp.iter().map(|a| a.to_string()).collect())
    ));
    if let Some(name) = &r.tls {
        out.push_str(&format!("tls={name}\n"));
    }
    if let Some(path) = &r.rendezvous {
        out.push_str(&format!("rendezvous={}\n", path.display()));
    }
    out.push_str(&format!("pid={}\n", r.pid));
    out.push_str(&format!("wakeups={}\n", join(r.wakeups.clone())));
    out.push_str(&format!("max_message={}\n", r.max_message));
    out.push_str(&format!("ring_capacity={}\n", r.ring_capacity));
    out
}

/// Parses the text form of `name`'s registration.
pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<Registration, NameServiceError> {
    let bad = |why: String| NameServiceError::Malformed {
        name: name.to_owned(),
        why,
    };
    if bytes.len() > MAX_RECORD {
        return Err(bad(format!(
            "{} bytes, more than {MAX_RECORD}",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8: {e}")))?;
    let mut r = Registration {
        host: HostId {
            machine: String::new(),
            boot: String::new(),
        },
        tcp: Vec::new(),
        tls: None,
        rendezvous: None,
        pid: 0,
        wakeups: Vec::new(),
        max_message: 0,
        ring_capacity: 0,
    };
    let number = |key: &str, v: &str| {
        v.parse::<usize>()
            .map_err(|_| bad(format!("{key}={v:?} is not a number")))
    };
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for line in text.lines().filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad(format!("line {line:?} is not key=value")));
        };
        match key {
            "machine" => r.host.machine = value.to_owned(),
            "boot" => r.host.boot = value.to_owned(),
            "tcp" => {
                r.tcp = list(value)
                    .iter()
                    .map(|a| a.parse().map_err(|_| bad(format!("tcp address {a:?}"))))
                    .collect::<Result<_, _>>()?
            }
            "tls" if !value.is_empty() => {
                if value.len() > 253
                    || !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*'))
                {
                    return Err(bad(format!("tls name {value:?} is not a DNS name")));
                }
                r.tls = Some(value.to_owned())
            }
            "rendezvous" if !value.is_empty() => r.rendezvous = Some(PathBuf::from(value)),
            "pid" => {
                r.pid = u32::try_from(number(key, value)?)
                    .map_err(|_| bad(format!("pid {value} out of range")))?
            }
            "wakeups" => r.wakeups = list(value),
            "max_message" => r.max_message = number(key, value)?,
            "ring_capacity" => r.ring_capacity = number(key, value)?,
            _ => {}
        }
    }
    if r.host.machine.is_empty() || r.pid == 0 {
        return Err(bad("no machine id or pid".to_owned()));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let r = Registration {
            host: HostId {
                machine: "m1".into(),
                boot: "b1".into(),
            },
            tcp: vec![
                "127.0.0.1:7000".parse().unwrap(),
                "[::1]:7001".parse().unwrap(),
            ],
            tls: Some("node-a".into()),
            rendezvous: Some("/run/user/1/mempipe/x.sock".into()),
            pid: 42,
            wakeups: vec!["futex".into(), "hybrid".into()],
            max_message: 65536,
            ring_capacity: 1 << 20,
        };
        assert_eq!(decode("x", encode(&r).as_bytes()).unwrap(), r);
        for bad in [
            &b"\xff\xfe"[..],
            b"machine=m\npid=x\n",
            b"machine=m\npid=1\ntcp=nowhere\n",
            b"machine=m\npid=1\ntls=a b\n",
            b"pid=3\n",
            b"garbage",
            &vec![b'a'; MAX_RECORD + 1],
        ] {
            assert!(
                matches!(decode("x", bad), Err(NameServiceError::Malformed { .. })),
                "{bad:?}"
            );
        }
        // Unknown keys are ignored.
        let newer = format!("{}future=1\n", encode(&r));
        assert_eq!(decode("x", newer.as_bytes()).unwrap(), r);
    }
}
