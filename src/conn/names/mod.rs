//! Names: where a listener says how to reach it, and where a client looks it up.
//!
//! One small interface, [`NameService`], with two implementations:
//! [`LocalNames`] (files in the rendezvous directory; this host only; the
//! default, no server) and, with the `etcd` feature, `EtcdNames` (an etcd
//! cluster, so names are seen across hosts). Which one a program uses is
//! configuration: [`ConnConfig::names`](crate::ConnConfig::names), else the
//! `MEMPIPE_ETCD` environment variable (comma-separated endpoints), else local
//! ([`open`]).
//!
//! A name is one or more `/`-separated segments of ASCII letters, digits,
//! `.`, `_` and `-` (`app/db/primary`); [`NameService::list`] takes such a
//! prefix. A registration ([`Registration`]) says which host the listener runs
//! on ([`HostId`]), its TCP addresses, its rendezvous socket, its pid and what
//! it offers. It lasts as long as the [`NameHold`] returned by
//! [`NameService::register`]: dropping the hold deletes the name; a killed
//! process's name is freed by the service (a released file lock locally, an
//! expired lease in etcd).

#[cfg(feature = "etcd")]
mod etcd;
mod local;
mod record;

pub use super::config::{Names, ETCD_ENV};
pub use super::error::NameServiceError;
#[cfg(feature = "etcd")]
pub use etcd::EtcdNames;
pub use local::LocalNames;
pub use record::{HostId, Registration, HOST_ID_ENV};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Something that happened to a registration while it was held, reported to
/// the callback given with `EtcdNames::on_event` (the library prints nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameEvent {
    /// The service stopped answering the lease keep-alives; the name may
    /// expire while it is away.
    Unreachable {
        /// The name.
        name: String,
        /// The error.
        why: String,
    },
    /// The lease expired while the service was away; the name was
    /// registered again under a new lease.
    Reregistered {
        /// The name.
        name: String,
    },
    /// The lease expired while the service was away and another listener
    /// took the name meanwhile: this registration is gone for good.
    Lost {
        /// The name.
        name: String,
        /// The new holder's pid.
        pid: u32,
    },
}

/// Receives [`NameEvent`]s.
pub type EventSink = Arc<dyn Fn(&NameEvent) + Send + Sync>;

/// A held registration: the name stays registered until this is dropped.
#[must_use = "the name is deleted when the hold is dropped"]
pub struct NameHold {
    _inner: Box<dyn Send + Sync>,
}

impl NameHold {
    pub(crate) fn new(inner: impl Send + Sync + 'static) -> Self {
        NameHold {
            _inner: Box::new(inner),
        }
    }
}

impl fmt::Debug for NameHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NameHold")
    }
}

/// Registers, resolves and lists names.
pub trait NameService: Send + Sync {
    /// Registers `name` for as long as the returned hold lives.
    ///
    /// # Errors
    /// [`NameServiceError::Taken`] while another live listener holds it;
    /// [`NameServiceError::Invalid`], [`NameServiceError::Unreachable`] (etcd),
    /// [`NameServiceError::Os`] (local).
    fn register(
        &self,
        name: &str,
        registration: &Registration,
    ) -> Result<NameHold, NameServiceError>;

    /// The registration of `name`, waiting up to `timeout` for it to appear.
    ///
    /// # Errors
    /// [`NameServiceError::NotFound`] after `timeout`; [`NameServiceError::Unreachable`]
    /// when the service could not be asked; [`NameServiceError::Malformed`].
    fn resolve(&self, name: &str, timeout: Duration) -> Result<Registration, NameServiceError>;

    /// Every live name equal to `prefix` or under it (`prefix/...`), sorted;
    /// all names for an empty prefix.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve), except `NotFound`.
    fn list(&self, prefix: &str) -> Result<Vec<(String, Registration)>, NameServiceError>;

    /// What this service is, for messages (`local /run/user/1000/mempipe`,
    /// `etcd http://...`).
    fn describe(&self) -> String;
}

/// Opens the name service `config` selects; the etcd one is tried for at
/// most the configuration's connect timeout.
///
/// # Errors
/// [`NameServiceError::Unreachable`] when etcd does not answer in time;
/// [`NameServiceError::NotBuilt`] when etcd is selected in a build without the
/// `etcd` feature; [`NameServiceError::Os`] for an unusable rendezvous directory.
///
/// # Examples
/// ```
/// use mempipe::conn::names::{self, Names};
/// use mempipe::ConnConfig;
/// let service = names::open(&ConnConfig::new().names(Names::Local))?;
/// assert!(service.describe().starts_with("local"));
/// # Ok::<(), mempipe::conn::names::NameServiceError>(())
/// ```
pub fn open(config: &crate::ConnConfig) -> Result<Box<dyn NameService>, NameServiceError> {
    match config.names.resolved() {
        Names::Etcd(endpoints) => open_etcd(endpoints, config.connect_timeout),
        _ => Ok(Box::new(LocalNames::open(
            config.rendezvous_dir.as_deref(),
        )?)),
    }
}

#[cfg(feature = "etcd")]
fn open_etcd(
    endpoints: Vec<String>,
    timeout: Duration,
) -> Result<Box<dyn NameService>, NameServiceError> {
    Ok(Box::new(EtcdNames::connect(&endpoints, timeout)?))
}

#[cfg(not(feature = "etcd"))]
fn open_etcd(
    endpoints: Vec<String>,
    _: Duration,
) -> Result<Box<dyn NameService>, NameServiceError> {
    Err(NameServiceError::NotBuilt {
        endpoints: endpoints.join(","),
    })
}

/// Longest name accepted (bytes).
const MAX_NAME: usize = 200;

/// Checks a name (or, with `prefix`, a list prefix, which may be empty).
pub(crate) fn check_name(name: &str, prefix: bool) -> Result<(), NameServiceError> {
    let invalid = |why: &str| NameServiceError::Invalid {
        name: name.to_owned(),
        why: why.to_owned(),
    };
    if name.is_empty() {
        return if prefix {
            Ok(())
        } else {
            Err(invalid("empty"))
        };
    }
    if name.len() > MAX_NAME {
        return Err(invalid(&format!("longer than {MAX_NAME} bytes")));
    }
    for segment in name.split('/') {
        if segment.is_empty() {
            return Err(invalid(
                "an empty segment (a leading, trailing or doubled '/')",
            ));
        }
        if segment == "." || segment == ".." {
            return Err(invalid("a '.' or '..' segment"));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(invalid(&format!("the character {c:?}")));
        }
    }
    Ok(())
}

/// Whether `name` is `prefix` or lies under it.
pub(crate) fn under(name: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || name == prefix
        || (name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes() {
        for good in ["orders", "app/db/primary", "a.b-c_d/9"] {
            check_name(good, false).unwrap();
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "a b",
            "ä",
            &"x".repeat(201),
        ] {
            assert!(
                matches!(
                    check_name(bad, false),
                    Err(NameServiceError::Invalid { .. })
                ),
                "{bad:?}"
            );
        }
        check_name("", true).unwrap();
        assert!(under("app/db/primary", "app/db"));
        assert!(under("app/db", "app/db"));
        assert!(!under("app/dbx", "app/db"));
        assert!(under("anything", ""));
    }

    #[test]
    fn environment_selects_etcd() {
        // Only the parsing: the variable itself is read by `resolved`.
        let names = Names::Etcd(vec!["http://a:1".into()]);
        assert_eq!(names.resolved(), names);
        assert_eq!(Names::Local.resolved(), Names::Local);
    }
}
