//! Fuzz target `tls_frames`: `tcp_frames` with the peer's bytes carried
//! inside a mutually authenticated TLS 1.3 session, so the frame reader runs
//! over the TLS byte stream exactly as a TLS connection's does.

use super::tcp_frames::{check_delivery, frames_input, loopback_pair};
use crate::conn::stream::ByteStream;
use crate::conn::tls::{accept, connect, TlsConfig};
use std::time::Duration;

// A throw-away CA and one node certificate (`fuzz-node`, valid ten years from
// when they were made with `cargo run --example make_certs`), for this
// target only.
const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBfzCCASagAwIBAgIUQuvcMT2hImxIz0TzklL2kZnxnsowCgYIKoZIzj0EAwIw\nHTEbMBkGA1UEAwwSbWVtcGlwZSBjbHVzdGVyIENBMCAXDTc1MDEwMTAwMDAwMFoY\nDzQwOTYwMTAxMDAwMDAwWjAdMRswGQYDVQQDDBJtZW1waXBlIGNsdXN0ZXIgQ0Ew\nWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARDVRT45Dmqm/Vbd8Kj4kpmv6Fufs07\ntHNqiW+txXHad6a7G5wjgfajcrXg7A08OVgzDuaIsQ62GZnNs7/A/JaFo0IwQDAO\nBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFL1LRNzeiCfHCJQ9WtpYnW1zVzmmMA8G\nA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgO9m0ewmA1DvyQi5yK+zN\np9L9PzaeHDiw3klc/lEsKmUCIHHFbeG0kHBF3Utusosg3dvojUJ63MYlIUR5Ciej\nB+RJ\n-----END CERTIFICATE-----\n";
const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBgzCCASqgAwIBAgIUdFmoAfixOVjHJ5US/VvD2ikOpJ8wCgYIKoZIzj0EAwIw\nHTEbMBkGA1UEAwwSbWVtcGlwZSBjbHVzdGVyIENBMB4XDTI2MTIwMzE1NDcwNloX\nDTM2MTIwMTE1NDcwNlowLjESMBAGA1UEAwwJZnV6ei1ub2RlMRgwFgYDVQQKDA9t\nZW1waXBlIGNsdXN0ZXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATFWwY3n+Cj\n6Eiox0Z9Y01aMPKqOze6Q+FQJkRfVcikcTtQmODLcm5l3IyhCCw+XbIuDAbJ0Cpm\nM3V/8q2WiQL8ozcwNTAUBgNVHREEDTALgglmdXp6LW5vZGUwHQYDVR0lBBYwFAYI\nKwYBBQUHAwEGCCsGAQUFBwMCMAoGCCqGSM49BAMCA0cAMEQCIEXzKRK4Pihr60SU\nkiRlUg5BfmXYLQ9jqR/5vz679Pt7AiATSM8O3qtXZfaHTnn8yaTOTOa1uwmXKbmz\n+x1C9dTs5Q==\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgofzcBJ1vxo3L+HAd\nFHkvUduHj5ZlVQYiEZRLuhBKCD6hRANCAATFWwY3n+Cj6Eiox0Z9Y01aMPKqOze6\nQ+FQJkRfVcikcTtQmODLcm5l3IyhCCw+XbIuDAbJ0CpmM3V/8q2WiQL8\n-----END PRIVATE KEY-----\n";

/// Fuzz target `tls_frames`: input as `tcp_frames` (two bytes of maximum
/// message, one of close, then what the peer writes), the peer writing it as
/// the plaintext of a TLS session.
pub fn tls_frames(data: &[u8]) {
    let Some((max, close, stream)) = frames_input(data) else {
        return;
    };
    static CONFIG: std::sync::OnceLock<TlsConfig> = std::sync::OnceLock::new();
    let config = CONFIG
        .get_or_init(|| {
            TlsConfig::from_pem(CA.as_bytes(), CERT.as_bytes(), KEY.as_bytes())
                .expect("the embedded test certificates")
        })
        .clone();
    let (ours, peer) = loopback_pair();
    let server_config = config.clone();
    let server = std::thread::spawn(move || accept(ours, &server_config, Duration::from_secs(5)));
    let client =
        connect(peer, "fuzz-node", &config, Duration::from_secs(5)).expect("client handshake");
    let ours = server
        .join()
        .expect("server thread")
        .expect("server handshake");
    let mut off = 0;
    while off < stream.len() {
        match client.send(&stream[off..]) {
            Ok(n) => off += n,
            Err(rustix::io::Errno::AGAIN) => std::thread::sleep(Duration::from_micros(100)),
            Err(e) => panic!("writing the input: {e}"),
        }
    }
    if close {
        client.shutdown_write();
    }
    check_delivery(ByteStream::Tls(Box::new(ours)), stream, max, close);
    drop(client);
}
