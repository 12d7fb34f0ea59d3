//! Unary gRPC with tonic: the examples' echo service, served on any
//! transport, and callers on one channel (HTTP/2 streams on one connection).

use super::load::{combine, Recorder, Window};
use super::net::grpc::proto::echo_server::EchoServer;
use super::net::grpc::{call, client, EchoService, MAX_PAYLOAD};
use super::via::{self, Listening, Via};
use crate::results::rpc::RpcRepeat;
use hyper_util::rt::TokioIo;
use std::time::Instant;
use tonic::transport::{Endpoint, Server, Uri};

/// Serves the echo service to every client until a listener failure.
pub(crate) async fn serve(listening: Listening) -> anyhow::Result<()> {
    let incoming = futures_util::stream::unfold(listening, |mut l| async move {
        let next = l.accept().await;
        Some((next, l))
    });
    let service = EchoServer::new(EchoService)
        .max_decoding_message_size(MAX_PAYLOAD)
        .max_encoding_message_size(MAX_PAYLOAD);
    Server::builder()
        .add_service(service)
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

/// `callers` tasks on one channel to `address`, each calling with `size`
/// bytes back to back through `window`.
pub(crate) async fn measure(
    via: Via,
    address: &str,
    size: usize,
    callers: usize,
    window: Window,
    spin_us: Option<u64>,
) -> anyhow::Result<Option<RpcRepeat>> {
    let address = address.to_owned();
    // The URI only names the service for HTTP/2; the connector decides where it goes.
    let channel = Endpoint::from_static("http://ipcbench.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let address = address.clone();
            async move { via::connect(via, &address, spin_us).await.map(TokioIo::new) }
        }))
        .await?;
    let echo = client(channel);
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let mut echo = echo.clone();
            tokio::spawn(async move {
                let mut recorder = Recorder::new(window);
                while recorder.going() {
                    let started = Instant::now();
                    call(&mut echo, vec![7u8; size]).await?;
                    recorder.record(started);
                }
                Ok::<_, tonic::Status>(recorder)
            })
        })
        .collect();
    let mut recorders = Vec::with_capacity(callers);
    for task in tasks {
        recorders.push(task.await??);
    }
    Ok(combine(recorders))
}
