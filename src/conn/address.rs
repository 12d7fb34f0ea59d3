//! Connection addresses: a name on this host, or a TCP address, with the
//! transport forced or left to the library.

use super::error::{AddressError, BindError, ConnectError};
use crate::error::NameError;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// Where to connect, and whether the transport is forced.
///
/// | Form | Meaning |
/// |---|---|
/// | `NAME`, `xio://NAME` | the listener named NAME: on this host shared memory; with a name service across hosts (etcd), on another host TCP with TLS |
/// | `shm://NAME` | the same, stated explicitly |
/// | `tcp://HOST:PORT` | TCP, always |
/// | `xio://HOST:PORT`, `HOST:PORT` | TCP, picked by the library |
///
/// TCP is plaintext: it proves nothing about the listener, so a listener
/// reached over TCP is never followed to shared memory (use its NAME on this
/// host), and a HOST that is not loopback needs
/// [`ConnConfig::allow_plaintext_off_host`](crate::ConnConfig::allow_plaintext_off_host).
///
/// ```
/// use mempipe::conn::Address;
/// assert_eq!("orders".parse::<Address>()?, Address::Auto("orders".into()));
/// assert_eq!("tcp://10.0.0.1:7000".parse::<Address>()?, Address::Tcp("10.0.0.1:7000".into()));
/// assert!("udp://x".parse::<Address>().is_err());
/// # Ok::<(), mempipe::conn::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A listener's name on this host; the library picks the transport.
    Auto(String),
    /// A listener's name on this host, shared memory required.
    Shm(String),
    /// A TCP address (`host:port`), TCP required.
    Tcp(String),
    /// A TCP address; the library picks the transport (TCP: a listener
    /// reached over plaintext TCP is not trusted to name another).
    AutoTcp(String),
}

/// Checks a connection name: 1-64 bytes of `A-Z a-z 0-9 . _ -`, in one or
/// more `/`-separated segments (`app/db/primary`), none empty or starting
/// with `.`.
pub(crate) fn check_name(name: &str) -> Result<(), NameError> {
    let refuse = |why: String| NameError {
        name: name.to_owned(),
        why,
    };
    if name.is_empty() || name.len() > 64 {
        return Err(refuse(format!(
            "a connection name is 1 to 64 bytes, not {}",
            name.len()
        )));
    }
    for segment in name.split('/') {
        if segment.is_empty() {
            return Err(refuse(
                "a connection name has no empty segment (a leading, trailing or doubled '/')"
                    .into(),
            ));
        }
        if segment.starts_with('.') {
            return Err(refuse(
                "a connection name (or a segment of it) does not start with '.'".into(),
            ));
        }
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
    {
        return Err(refuse(format!(
            "character {c:?} is not allowed in a connection name (A-Z a-z 0-9 . _ - and / between segments)"
        )));
    }
    Ok(())
}

fn check_host_port(address: &str, hp: &str) -> Result<(), AddressError> {
    let bad = |why: &str| AddressError {
        address: address.to_owned(),
        why: why.to_owned(),
    };
    let (host, port) = hp
        .rsplit_once(':')
        .ok_or_else(|| bad("a TCP address is HOST:PORT"))?;
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    port.parse::<u16>()
        .map_err(|_| bad("the port is not a number from 0 to 65535"))?;
    Ok(())
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| AddressError {
            address: s.to_owned(),
            why,
        };
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, s),
        };
        let looks_tcp = rest.contains(':');
        match scheme {
            Some("tcp") => {
                check_host_port(s, rest)?;
                Ok(Address::Tcp(rest.to_owned()))
            }
            Some("shm") => {
                check_name(rest).map_err(|e| bad(e.why))?;
                Ok(Address::Shm(rest.to_owned()))
            }
            Some("xio") | None if looks_tcp => {
                check_host_port(s, rest)?;
                Ok(Address::AutoTcp(rest.to_owned()))
            }
            Some("xio") | None => {
                check_name(rest).map_err(|e| bad(e.why))?;
                Ok(Address::Auto(rest.to_owned()))
            }
            Some(other) => Err(bad(format!("unknown scheme {other:?}"))),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Auto(n) => write!(f, "xio://{n}"),
            Address::Shm(n) => write!(f, "shm://{n}"),
            Address::Tcp(a) => write!(f, "tcp://{a}"),
            Address::AutoTcp(a) => write!(f, "xio://{a}"),
        }
    }
}

/// Why a plaintext TCP address is not used.
#[derive(Debug)]
pub(crate) enum PlaintextRefusal {
    /// The address does not resolve.
    Resolve(std::io::Error),
    /// It resolves to this address, which other hosts can reach, and
    /// plaintext TCP off this host was not allowed.
    OffHost(IpAddr),
}

/// Whether only this host can reach `ip` (loopback, IPv4-mapped included).
fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Resolves a plaintext TCP address (`host:port`). Unless `off_host` is
/// allowed, every address it resolves to must be loopback: plaintext TCP has
/// no authentication, so it stays on this host unless the program opted in.
pub(crate) fn plaintext_targets(
    addr: &str,
    off_host: bool,
) -> Result<Vec<SocketAddr>, PlaintextRefusal> {
    let targets: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(PlaintextRefusal::Resolve)?
        .collect();
    if targets.is_empty() {
        return Err(PlaintextRefusal::Resolve(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host resolves to no address",
        )));
    }
    match targets.iter().find(|t| !loopback(t.ip())) {
        Some(t) if !off_host => Err(PlaintextRefusal::OffHost(t.ip())),
        _ => Ok(targets),
    }
}

impl BindError {
    pub(crate) fn from_refusal(addr: &str, refusal: PlaintextRefusal) -> Self {
        match refusal {
            PlaintextRefusal::Resolve(source) => BindError::Tcp {
                addr: addr.to_owned(),
                source,
            },
            PlaintextRefusal::OffHost(ip) => BindError::PlaintextOffHost {
                addr: addr.to_owned(),
                ip,
            },
        }
    }
}

impl ConnectError {
    pub(crate) fn from_refusal(addr: &str, refusal: PlaintextRefusal) -> Self {
        match refusal {
            PlaintextRefusal::Resolve(source) => ConnectError::Unreachable {
                addr: addr.to_owned(),
                source,
            },
            PlaintextRefusal::OffHost(ip) => ConnectError::PlaintextOffHost {
                addr: addr.to_owned(),
                ip,
            },
        }
    }
}

/// Anything [`connect`](crate::connect) accepts as an address: a string in one
/// of the [`Address`] forms, or an [`Address`].
pub trait IntoAddress {
    /// Parses or passes on the address.
    ///
    /// # Errors
    /// [`AddressError`] naming the accepted forms.
    fn into_address(self) -> Result<Address, AddressError>;
}

impl IntoAddress for Address {
    fn into_address(self) -> Result<Address, AddressError> {
        Ok(self)
    }
}

impl IntoAddress for &Address {
    fn into_address(self) -> Result<Address, AddressError> {
        Ok(self.clone())
    }
}

impl IntoAddress for &str {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl IntoAddress for &String {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}

impl IntoAddress for String {
    fn into_address(self) -> Result<Address, AddressError> {
        self.parse()
    }
}
