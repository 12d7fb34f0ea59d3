//! A unary gRPC echo service with tonic, served on a mempipe listener and
//! called through a channel that connects by name.

use super::incoming;
use mempipe::asyncio::AsyncListener;
use mempipe::ConnConfig;
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Request, Response, Status};

#[allow(clippy::all, clippy::pedantic)]
pub mod proto {
    include!("echo_proto.rs");
}

pub use proto::echo_client::EchoClient;
use proto::echo_server::{Echo, EchoServer};
use proto::{EchoReply, EchoRequest};

/// Largest payload the service and its clients accept (tonic's default is 4 MiB).
pub const MAX_PAYLOAD: usize = 16 << 20;

/// Answers each call with its own payload.
#[derive(Debug, Default)]
pub struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let payload = request.into_inner().payload;
        Ok(Response::new(EchoReply { payload }))
    }
}

/// Serves the echo service to every client of `listener` until it fails.
///
/// # Errors
/// What tonic's server reports.
pub async fn serve(listener: AsyncListener) -> Result<(), tonic::transport::Error> {
    let service = EchoServer::new(EchoService)
        .max_decoding_message_size(MAX_PAYLOAD)
        .max_encoding_message_size(MAX_PAYLOAD);
    Server::builder()
        .add_service(service)
        .serve_with_incoming(incoming(listener))
        .await
}

/// A channel to the echo service at `address` (a name, or
/// `tcp://host:port`): each connection tonic opens is a mempipe connection.
///
/// # Errors
/// What tonic reports when the first connection fails.
pub async fn channel(
    address: &str,
    config: &ConnConfig,
) -> Result<Channel, tonic::transport::Error> {
    let (address, config) = (address.to_owned(), config.clone());
    // The URI only names the service for HTTP/2; the connector decides where it goes.
    Endpoint::from_static("http://mempipe.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let (address, config) = (address.clone(), config.clone());
            async move { super::connect(address, &config).await }
        }))
        .await
}

/// An echo client on `channel` that accepts large replies.
pub fn client(channel: Channel) -> EchoClient<Channel> {
    EchoClient::new(channel)
        .max_decoding_message_size(MAX_PAYLOAD)
        .max_encoding_message_size(MAX_PAYLOAD)
}

/// One unary call: sends `payload`, checks that it came back.
///
/// # Errors
/// The call's status, or a mismatch as `Status::data_loss`.
pub async fn call(client: &mut EchoClient<Channel>, payload: Vec<u8>) -> Result<(), Status> {
    let sent = payload.clone();
    let reply = client.unary(EchoRequest { payload }).await?.into_inner();
    if reply.payload != sent {
        return Err(Status::data_loss("the echo differs from the request"));
    }
    Ok(())
}
