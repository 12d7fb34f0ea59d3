//! HTTP/1.1 GET with hyper: the examples' handler (`GET /bytes/N` answers N
//! bytes) on any transport, and one connection per caller (HTTP/1.1 carries
//! one request at a time).

use super::load::{combine, Recorder, Window};
use super::net::http::{handle, Client};
use super::via::{self, Listening, Via};
use crate::results::rpc::RpcRepeat;
use anyhow::{anyhow, ensure};
use hyper_util::rt::TokioIo;
use std::time::Instant;

/// Serves every client, each connection on its own task, until a listener failure.
pub(crate) async fn serve(mut listening: Listening) -> anyhow::Result<()> {
    loop {
        let stream = listening.accept().await?;
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                .await;
            if let Err(e) = served {
                eprintln!("ipcbench rpc server: an HTTP connection ended: {e}");
            }
        });
    }
}

/// `callers` connections to `address`, each getting `size` bytes back to
/// back through `window`.
pub(crate) async fn measure(
    via: Via,
    address: &str,
    size: usize,
    callers: usize,
    window: Window,
    spin_us: Option<u64>,
) -> anyhow::Result<Option<RpcRepeat>> {
    let path = format!("/bytes/{size}");
    let mut clients = Vec::with_capacity(callers);
    for _ in 0..callers {
        let stream = via::connect(via, address, spin_us).await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        clients.push(Client::Http1(send));
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let path = path.clone();
            tokio::spawn(async move {
                let mut recorder = Recorder::new(window);
                while recorder.going() {
                    let started = Instant::now();
                    let (status, body) = client.get(&path).await.map_err(|e| anyhow!(e))?;
                    ensure!(
                        status.is_success() && body.len() == size,
                        "GET {path}: {status} with {} bytes",
                        body.len()
                    );
                    recorder.record(started);
                }
                Ok(recorder)
            })
        })
        .collect();
    let mut recorders = Vec::with_capacity(callers);
    for task in tasks {
        recorders.push(task.await??);
    }
    Ok(combine(recorders))
}
