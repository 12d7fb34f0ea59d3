//! Test certificate authorities and node certificates (rcgen): a cluster CA
//! and, per node, a certificate for both TLS roles whose subject is
//! `CN=NAME` and whose DNS name is `NAME`. Also used by `examples/make_certs.rs`.

#![allow(dead_code)] // the example uses a part

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// From yesterday for ten years.
    Current,
    /// Ended yesterday.
    Expired,
    /// Starts in a year.
    NotYet,
}

/// A certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A node's certificate and key, PEM.
pub struct Node {
    pub cert: String,
    pub key: String,
}

impl Ca {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-sign the CA"),
        }
    }

    /// The CA's certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for node `name`, signed by this CA.
    pub fn node(&self, name: &str, validity: Validity) -> Node {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("node parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "mempipe cluster");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let day = 86_400;
        let (from, to) = match validity {
            Validity::Current => (now - day, now + 3650 * day),
            Validity::Expired => (now - 30 * day, now - day),
            Validity::NotYet => (now + 365 * day, now + 730 * day),
        };
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        params.not_before = epoch + std::time::Duration::from_secs(from);
        params.not_after = epoch + std::time::Duration::from_secs(to);
        let key = KeyPair::generate().expect("node key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign the node");
        Node {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// Writes `ca.pem` and, per node, `NAME.pem` and `NAME.key` into `dir`.
pub fn write_set(dir: &std::path::Path, nodes: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let ca = Ca::new("mempipe cluster CA");
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    for name in nodes {
        let node = ca.node(name, Validity::Current);
        std::fs::write(dir.join(format!("{name}.pem")), node.cert)?;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(format!("{name}.key")))?
            .write_all(node.key.as_bytes())?;
    }
    Ok(())
}
