//! `conn-tls`: a mempipe connection over mutual TLS 1.3 on loopback TCP
//! (`Connection::over_tls`: the `conn-tcp` frames inside TLS records), to
//! compare with `conn-tcp` (the same frames in plaintext) and `tcp-nodelay`.
//!
//! Each cell makes a test CA in memory and a certificate for each side
//! (rcgen); the child gets its certificate, key and the CA in the handoff.
//! The parent accepts and runs the handshake on a thread of its own, as
//! `conn-tcp`'s listener does.

use super::conn_shm::{Accepting, ConnEndpoint, SLICE};
use super::{CellParams, Endpoint, Handoff, Transport, XferError};
use crate::stop::should_stop;
use mempipe::conn::tls::{self, TlsConfig};
use mempipe::Connection;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustix::event::{PollFd, PollFlags};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The TLS connection transport.
pub(crate) struct ConnTls;

/// Handshake deadline on both sides.
const HANDSHAKE: Duration = Duration::from_secs(30);

/// The name in the listener's certificate the child expects.
const LISTENER_NAME: &str = "ipcbench-listener";

/// A node's certificate and key, PEM.
struct Node {
    cert: String,
    key: String,
}

/// A certificate and key for `name` (both TLS roles), signed by `ca`.
fn node(ca: &CertifiedIssuer<'static, KeyPair>, name: &str) -> anyhow::Result<Node> {
    let mut params = CertificateParams::new(vec![name.to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(Node {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// A fresh CA's certificate (PEM), and a node certificate and key for the
/// listener and for the child.
fn test_pki() -> anyhow::Result<(String, Node, Node)> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "ipcbench test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let listener = node(&ca, LISTENER_NAME)?;
    let child = node(&ca, "ipcbench-child")?;
    Ok((ca.pem(), listener, child))
}

/// Accepts one client on `listener` in slices (so the stop flag is seen),
/// then runs the server handshake.
fn accept(listener: TcpListener, config: TlsConfig, len: usize) -> Result<Connection, XferError> {
    listener.set_nonblocking(true)?;
    let tcp = loop {
        match listener.accept() {
            Ok((tcp, _)) => break tcp,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if should_stop() {
                    return Err(XferError::Stopped);
                }
                let mut fds = [PollFd::new(&listener, PollFlags::IN)];
                let slice = rustix::time::Timespec {
                    tv_sec: 0,
                    tv_nsec: SLICE.as_nanos() as i64,
                };
                let _ = rustix::event::poll(&mut fds, Some(&slice));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    };
    let stream = tls::accept(tcp, &config, HANDSHAKE)
        .map_err(|e| XferError::Protocol(format!("conn-tls: the handshake failed: {e}")))?;
    Ok(Connection::over_tls(stream, len))
}

impl Transport for ConnTls {
    fn name(&self) -> &'static str {
        "conn-tls"
    }

    fn description(&self) -> &'static str {
        "mempipe connection over mutual TLS 1.3 on loopback TCP (conn-tcp's frames in TLS records)"
    }

    fn max_size(&self) -> usize {
        32 << 20
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let len = p.buffer_len();
        let (ca, listener_node, child) = test_pki()?;
        let config = TlsConfig::from_pem(
            ca.as_bytes(),
            listener_node.cert.as_bytes(),
            listener_node.key.as_bytes(),
        )?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let accepting = Accepting::on_thread(move || accept(listener, config, len));
        Ok((
            Box::new(ConnEndpoint::accepting(accepting, len)),
            Handoff {
                fds: vec![],
                args: vec![addr.to_string(), ca, child.cert, child.key],
            },
        ))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let [addr, ca, cert, key] = <[String; 4]>::try_from(h.args).map_err(|a| {
            anyhow::anyhow!("conn-tls: expected 4 handoff strings, got {}", a.len())
        })?;
        let config = TlsConfig::from_pem(ca.as_bytes(), cert.as_bytes(), key.as_bytes())?;
        let tcp = TcpStream::connect(addr.as_str())?;
        let stream = tls::connect(tcp, LISTENER_NAME, &config, HANDSHAKE)?;
        let len = p.buffer_len();
        Ok(Box::new(ConnEndpoint::connected(
            Connection::over_tls(stream, len),
            len,
        )))
    }
}
