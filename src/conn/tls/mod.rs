//! Mutual TLS 1.3 on TCP connections (feature `tls`): both sides show a
//! certificate from one cluster CA, both verify the other's, and each learns
//! the other's verified identity ([`PeerIdentity`]), as the shared-memory side
//! learns the peer's uid and pid from the kernel.
//!
//! [`TlsConfig`] holds the CA and this node's certificate and key (PEM, from
//! files or memory). [`accept`] and [`connect`] run the handshake on a
//! connected [`TcpStream`](std::net::TcpStream) within a deadline, so a silent
//! or slow peer costs at most that;
//! [`Connection::over_tls`](crate::Connection::over_tls) turns the resulting
//! [`TlsStream`] into a [`Connection`](crate::Connection) with the same
//! message contract as every other transport. Every refusal is a typed
//! [`TlsError`]. `examples/make_certs.rs` makes a test CA and node
//! certificates.

mod identity;
pub(crate) mod session;
mod stream;

pub use identity::PeerIdentity;
pub use stream::{accept, connect, TlsStream};
#[cfg(feature = "tokio")]
pub(crate) use stream::{Handshake, Want};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

/// Why a TLS connection was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The peer's certificate is not signed by the configured CA.
    #[error("the peer's certificate is not signed by this cluster's CA: give it a certificate from the CA in the configuration")]
    UnknownCa,
    /// The peer's certificate has expired.
    #[error("the peer's certificate has expired: issue it a new one")]
    Expired,
    /// The peer's certificate is not valid yet (or the clocks disagree).
    #[error("the peer's certificate is not valid yet: check both hosts' clocks")]
    NotYetValid,
    /// The listener's certificate does not name the host the client asked for.
    #[error("the listener's certificate is not for {expected:?}: connect by a name its certificate carries")]
    WrongName {
        /// The name the client expected.
        expected: String,
    },
    /// The client presented no certificate (mutual TLS requires one).
    #[error("the peer presented no certificate; every node needs one from the cluster CA")]
    NoCertificate,
    /// The certificate was refused for another reason.
    #[error("the peer's certificate was refused: {0}")]
    BadCertificate(String),
    /// The peer refused this side (its alert says why, for example our certificate).
    #[error(
        "the peer refused the TLS session (alert {alert}): check this side's certificate and CA"
    )]
    RefusedByPeer {
        /// The alert the peer sent.
        alert: String,
    },
    /// The peer does not speak TLS (a plaintext side on the other end).
    #[error("the peer does not speak TLS ({why}): both sides must enable TLS, or neither")]
    NotTls {
        /// What arrived instead.
        why: String,
    },
    /// The handshake did not finish by its deadline.
    #[error("the TLS handshake did not finish within {waited:?}: the peer is silent or too slow")]
    Stalled {
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// The peer closed the connection during the handshake.
    #[error("the peer closed the connection during the TLS handshake")]
    Closed,
    /// The configuration (CA, certificate, key, name) is unusable.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// A socket call failed.
    #[error("TLS socket: {0}")]
    Io(#[from] std::io::Error),
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        use rustls::{CertificateError as C, Error as E};
        match e {
            E::InvalidCertificate(c) => match c {
                C::UnknownIssuer | C::BadSignature => TlsError::UnknownCa,
                C::Expired | C::ExpiredContext { .. } => TlsError::Expired,
                C::NotValidYet | C::NotValidYetContext { .. } => TlsError::NotYetValid,
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsError::WrongName {
                    expected: String::new(),
                },
                other => TlsError::BadCertificate(format!("{other:?}")),
            },
            E::NoCertificatesPresented => TlsError::NoCertificate,
            E::AlertReceived(alert) => TlsError::RefusedByPeer {
                alert: format!("{alert:?}"),
            },
            E::InvalidMessage(m) => TlsError::NotTls {
                why: format!("{m:?}"),
            },
            other => TlsError::NotTls {
                why: other.to_string(),
            },
        }
    }
}

/// The cluster CA and this node's certificate and key, as both a listener
/// and a connecting side use them (TLS 1.3 only, the ring provider).
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    /// The first DNS name of this node's certificate.
    name: Option<String>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsConfig({:?})", self.name)
    }
}

fn config_error(what: &str) -> impl Fn(String) -> TlsError + '_ {
    move |why| TlsError::Config(format!("{what}: {why}"))
}

impl TlsConfig {
    /// From PEM text: the CA certificate(s), this node's certificate chain
    /// (leaf first) and its private key.
    ///
    /// # Errors
    /// [`TlsError::Config`] naming what is missing or malformed.
    pub fn from_pem(ca: &[u8], chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let certs = |pem: &[u8], what: &str| -> Result<Vec<CertificateDer<'static>>, TlsError> {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config_error(what)(e.to_string()))?;
            if certs.is_empty() {
                return Err(config_error(what)("no certificate in the PEM".into()));
            }
            Ok(certs)
        };
        let ca = certs(ca, "CA")?;
        let chain = certs(chain, "certificate")?;
        let name = PeerIdentity::from_der(&chain[0])
            .names
            .into_iter()
            .find(|n| !n.contains(':'));
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|e| config_error("private key")(e.to_string()))?;
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots
                .add(cert)
                .map_err(|e| config_error("CA")(e.to_string()))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls13 = &[&rustls::version::TLS13];
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            roots.clone(),
            provider.clone(),
        )
        .build()
        .map_err(|e| config_error("client verifier")(e.to_string()))?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(tls13)
            .map_err(|e| config_error("TLS 1.3")(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| config_error("certificate and key")(e.to_string()))?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(tls13)
            .map_err(|e| config_error("TLS 1.3")(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| config_error("certificate and key")(e.to_string()))?;
        Ok(TlsConfig {
            server: Arc::new(server),
            client: Arc::new(client),
            name,
        })
    }

    /// From PEM files: the CA, this node's certificate chain, its key.
    ///
    /// # Errors
    /// [`TlsError::Config`] naming the file that cannot be read, or as
    /// [`from_pem`](Self::from_pem).
    ///
    /// # Examples
    /// ```no_run
    /// use mempipe::conn::tls::TlsConfig;
    /// let tls = TlsConfig::from_files("certs/ca.pem", "certs/node-a.pem", "certs/node-a.key")?;
    /// # Ok::<(), mempipe::conn::tls::TlsError>(())
    /// ```
    pub fn from_files(
        ca: impl AsRef<Path>,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| TlsError::Config(format!("{}: {e}", p.display())))
        };
        Self::from_pem(
            &read(ca.as_ref())?,
            &read(chain.as_ref())?,
            &read(key.as_ref())?,
        )
    }

    /// The first DNS name this node's certificate carries: what a listener
    /// registers, so that clients expect its certificate to carry it.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// From the files named by [`TLS_CA_ENV`], [`TLS_CERT_ENV`] and
    /// [`TLS_KEY_ENV`]; `None` when none of the three is set, so that a
    /// program configures TLS without a change to its code.
    ///
    /// # Errors
    /// [`TlsError::Config`] when only some are set, or as
    /// [`from_files`](Self::from_files).
    pub fn from_environment() -> Result<Option<Self>, TlsError> {
        let vars = [TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV]
            .map(|v| std::env::var_os(v).filter(|s| !s.is_empty()));
        match vars {
            [None, None, None] => Ok(None),
            [Some(ca), Some(cert), Some(key)] => Self::from_files(ca, cert, key).map(Some),
            _ => Err(TlsError::Config(format!(
                "set all three of {TLS_CA_ENV}, {TLS_CERT_ENV} and {TLS_KEY_ENV}, or none"
            ))),
        }
    }
}

/// The environment variable naming the cluster CA's PEM file.
pub const TLS_CA_ENV: &str = "MEMPIPE_TLS_CA";
/// The environment variable naming this node's certificate (PEM chain, leaf first).
pub const TLS_CERT_ENV: &str = "MEMPIPE_TLS_CERT";
/// The environment variable naming this node's private key (PEM).
pub const TLS_KEY_ENV: &str = "MEMPIPE_TLS_KEY";
/// The environment variable giving a listener's TLS address (`host:port`)
/// when its configuration names none
/// ([`ConnConfig::tls_tcp`](crate::ConnConfig::tls_tcp)).
pub const TLS_LISTEN_ENV: &str = "MEMPIPE_TLS_LISTEN";
