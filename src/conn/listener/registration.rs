//! What a [`Listener`](crate::Listener) registers when a cluster name service
//! is configured (the local service is its rendezvous socket itself).

use crate::config::WakeupKind;
use crate::conn::config::Names;
use crate::conn::config::{Choice, ConnConfig};
use crate::conn::error::NameServiceError;
use crate::conn::names::{open, NameHold, Registration};
use std::net::SocketAddr;
use std::path::Path;

/// Registers the bound listener `name` with the cluster service `config`
/// selects; `None` when that is the local service. `tls` is the name its TLS
/// certificate carries, when its TCP address speaks TLS.
pub(crate) fn register_listener(
    name: &str,
    config: &ConnConfig,
    tcp: Option<SocketAddr>,
    tls: Option<&str>,
    rendezvous: &Path,
    choice: &Choice,
) -> Result<Option<NameHold>, NameServiceError> {
    if !matches!(config.names.resolved(), Names::Etcd(_)) {
        return Ok(None);
    }
    let mut me = Registration::this_process();
    me.tcp = tcp.into_iter().collect();
    me.tls = tls.map(str::to_owned);
    me.rendezvous = Some(rendezvous.to_owned());
    me.wakeups = match config.wakeup {
        Some(forced) => vec![forced.name().to_owned()],
        None => WakeupKind::ALL.map(|w| w.name().to_owned()).to_vec(),
    };
    me.max_message = choice.max_message;
    me.ring_capacity = choice.capacity;
    open(config)?.register(name, &me).map(Some)
}
