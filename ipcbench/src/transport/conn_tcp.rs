//! `conn-tcp`: a mempipe connection forced onto TCP over loopback
//! (length-prefixed frames, TCP_NODELAY), to compare with `tcp-nodelay`.

use super::conn_shm::{config, listener_name, ConnEndpoint};
use super::{CellParams, Endpoint, Handoff, Transport};
use mempipe::Listener;

/// The TCP connection transport.
pub(crate) struct ConnTcp;

impl Transport for ConnTcp {
    fn name(&self) -> &'static str {
        "conn-tcp"
    }

    fn description(&self) -> &'static str {
        "mempipe connection forced onto TCP over loopback (framed, TCP_NODELAY)"
    }

    fn max_size(&self) -> usize {
        32 << 20
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        let len = p.buffer_len();
        let listener =
            Listener::bind(&listener_name(p), &config(len).plaintext_tcp("127.0.0.1:0"))?;
        let addr = listener
            .tcp_addr()
            .ok_or_else(|| anyhow::anyhow!("conn-tcp: the listener has no TCP address"))?;
        Ok((
            Box::new(ConnEndpoint::listening(listener, len)),
            Handoff {
                fds: vec![],
                args: vec![format!("tcp://{addr}")],
            },
        ))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        let address = h
            .args
            .first()
            .ok_or_else(|| anyhow::anyhow!("conn-tcp: no address handed over"))?;
        let len = p.buffer_len();
        let conn = mempipe::connect(address.as_str(), &config(len))?;
        Ok(Box::new(ConnEndpoint::connected(conn, len)))
    }
}
