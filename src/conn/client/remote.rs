//! Connecting by name through a name service across hosts (etcd): the name
//! resolves to its registration (waiting for it to appear, by watching, not
//! polling); a listener on this host is reached over shared memory, one on
//! another host over TCP with mutual TLS, the mempipe handshake running
//! inside the session.

use super::{connect_local, connect_tcp, Choice};
use crate::conn::config::{ConnConfig, Names};
use crate::conn::connection::Connection;
use crate::conn::error::ConnectError;
use crate::conn::host::HostId;
use crate::conn::names::{self, Registration};
use crate::conn::rendezvous;
use crate::deadline::Deadline;

/// Whether names resolve through a service that spans hosts.
pub(super) fn across_hosts(config: &ConnConfig) -> bool {
    matches!(config.names.resolved(), Names::Etcd(_))
}

/// Resolves `name` and connects to its listener: shared memory on this
/// host, TCP (with TLS) on another; `shm_only` refuses the latter.
pub(super) fn connect_by_name(
    name: &str,
    shm_only: bool,
    config: &ConnConfig,
    choice: &Choice,
    deadline: Deadline,
) -> Result<Connection, ConnectError> {
    let left = || deadline.left().unwrap_or(config.connect_timeout);
    let service = names::open(&config.clone().connect_timeout(left()))?;
    let found = service.resolve(name, left())?;
    drop(service);
    if found.host == HostId::current() {
        // The per-user directory's listener must be this user, as on a
        // plain local connect; an explicit directory may hold another's.
        let (path, owner) = match (&config.rendezvous_dir, &found.rendezvous) {
            (Some(dir), _) => (rendezvous::socket_path(dir, name), None),
            (None, Some(path)) => (path.clone(), Some(rustix::process::getuid().as_raw())),
            (None, None) => (
                rendezvous::socket_path(&rendezvous::default_dir(), name),
                Some(rustix::process::getuid().as_raw()),
            ),
        };
        return connect_local(&path, name, config, choice, deadline, owner);
    }
    let other_host = |why: String| ConnectError::OtherHost {
        name: name.to_owned(),
        host: found.host.clone(),
        addrs: found.tcp.clone(),
        why,
    };
    if shm_only {
        return Err(other_host(
            "shared memory (shm://) was required, which reaches this host only".into(),
        ));
    }
    if found.tcp.is_empty() {
        return Err(other_host(
            "it registered no TCP address: give it one (ConnConfig::tls_tcp)".into(),
        ));
    }
    match &found.tls {
        Some(server_name) => tls(name, &found, server_name, config, choice, deadline)
            .map_err(|why| why.unwrap_or_else(|| other_host(no_tls(true)))),
        None if config.plaintext_off_host => {
            let addr = found.tcp[0].to_string();
            connect_tcp(
                &addr,
                config,
                choice,
                deadline,
                &format!(
                    "listener {name:?} on host {}, plaintext TCP as allowed",
                    found.host
                ),
            )
        }
        None => Err(other_host(no_tls(false))),
    }
}

/// What to do when TLS is missing: on this side, or on the listener's.
fn no_tls(listener_has_tls: bool) -> String {
    if listener_has_tls {
        "it speaks TLS and this side has no TLS configuration: give ConnConfig::tls, or set \
         MEMPIPE_TLS_CA, MEMPIPE_TLS_CERT and MEMPIPE_TLS_KEY (with the `tls` feature)"
            .into()
    } else {
        "it listens on plaintext TCP: configure TLS on both sides (ConnConfig::tls and tls_tcp, \
         or MEMPIPE_TLS_*), or allow plaintext explicitly (ConnConfig::allow_plaintext_off_host) \
         on a network you trust"
            .into()
    }
}

/// Connects with TLS; `Err(None)` when this side has no TLS configuration.
#[cfg(feature = "tls")]
fn tls(
    name: &str,
    found: &Registration,
    server_name: &str,
    config: &ConnConfig,
    choice: &Choice,
    deadline: Deadline,
) -> Result<Connection, Option<ConnectError>> {
    let tls = config
        .tls_config()
        .map_err(|source| ConnectError::Tls {
            addr: found.tcp[0].to_string(),
            source,
        })?
        .ok_or(None)?;
    let label = found
        .tcp
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let stream = super::tcp_to(&label, &found.tcp, deadline)?;
    let (handshake, budget) = super::handshake_deadline(config, deadline);
    super::tls::connect_tls(
        stream,
        server_name,
        &tls,
        choice,
        handshake,
        budget,
        &format!("listener {name:?} on host {}", found.host),
    )
    .map_err(Some)
}

#[cfg(not(feature = "tls"))]
fn tls(
    _: &str,
    _: &Registration,
    _: &str,
    _: &ConnConfig,
    _: &Choice,
    _: Deadline,
) -> Result<Connection, Option<ConnectError>> {
    Err(None)
}
