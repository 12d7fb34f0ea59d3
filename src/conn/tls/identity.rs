//! Who the peer is, as its verified certificate says.

use std::fmt;

/// The peer's verified identity: its certificate's subject and the names
/// (DNS and URI subject alternative names) it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject's distinguished name (`CN=node-a, O=cluster`).
    pub subject: String,
    /// The DNS names and URIs the certificate is valid for.
    pub names: Vec<String>,
}

impl PeerIdentity {
    /// Reads the identity from a DER certificate that rustls has verified.
    pub(crate) fn from_der(der: &[u8]) -> PeerIdentity {
        use x509_parser::extensions::GeneralName;
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            // Verified by rustls, so parseable; say so rather than panic.
            return PeerIdentity {
                subject: "(unparsed certificate)".to_owned(),
                names: Vec::new(),
            };
        };
        let names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(s) | GeneralName::URI(s) => Some((*s).to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        PeerIdentity {
            subject: cert.subject().to_string(),
            names,
        }
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.subject)?;
        if !self.names.is_empty() {
            write!(f, " [{}]", self.names.join(", "))?;
        }
        Ok(())
    }
}
