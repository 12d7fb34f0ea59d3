//! HTTP with hyper over mempipe connections: a server that speaks HTTP/1.1
//! and HTTP/2 (prior knowledge) on each connection, and a client for either.

use super::Io;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mempipe::asyncio::AsyncListener;
use mempipe::ConnConfig;
use std::convert::Infallible;

/// A failure of the client: connection, handshake, request or body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Largest body `/bytes/N` serves.
pub const MAX_BODY: usize = 16 << 20;

/// `GET /` greets; `GET /bytes/N` answers N bytes; anything else is 404 or 405.
pub async fn handle(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status, body: Bytes| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        Ok(response)
    };
    if request.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"GET only\n"),
        );
    }
    let path = request.uri().path();
    if path == "/" {
        let text = format!("hello over mempipe, {:?}\n", request.version());
        return reply(StatusCode::OK, Bytes::from(text));
    }
    match path.strip_prefix("/bytes/").map(str::parse::<usize>) {
        Some(Ok(n)) if n <= MAX_BODY => reply(StatusCode::OK, Bytes::from(vec![b'x'; n])),
        _ => reply(
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"try / or /bytes/N\n"),
        ),
    }
}

/// Serves every client of `listener`, each connection on its own task,
/// HTTP/1.1 or HTTP/2 as the client speaks.
///
/// # Errors
/// A failed accept of the listener itself; a client's failure only ends
/// that client's connection.
pub async fn serve(mut listener: AsyncListener) -> Result<(), mempipe::conn::AcceptError> {
    loop {
        let conn = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("a client failed: {e}");
                continue;
            }
        };
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let served = builder
                .serve_connection(TokioIo::new(Io(conn)), hyper::service::service_fn(handle))
                .await;
            if let Err(e) = served {
                eprintln!("connection ended: {e}");
            }
        });
    }
}

/// A client connection: HTTP/1.1 or HTTP/2.
pub enum Client {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    /// Connects to `address` (a name, or `tcp://host:port`) and shakes hands.
    ///
    /// # Errors
    /// The connection's or the handshake's failure.
    pub async fn connect(
        address: &str,
        config: &ConnConfig,
        http2: bool,
    ) -> Result<Self, BoxError> {
        let io = super::connect(address.to_owned(), config).await?;
        Ok(if http2 {
            let (send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Client::Http2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(conn);
            Client::Http1(send)
        })
    }

    /// `GET path`: the status and the whole body.
    ///
    /// # Errors
    /// The request's or the body's failure.
    pub async fn get(&mut self, path: &str) -> Result<(StatusCode, Bytes), BoxError> {
        // HTTP/2 carries the scheme and authority in the URI; HTTP/1.1 in Host.
        let request = match self {
            Client::Http1(_) => Request::get(path).header(hyper::header::HOST, "mempipe"),
            Client::Http2(_) => Request::get(format!("http://mempipe{path}")),
        }
        .body(Empty::new())?;
        let response = match self {
            Client::Http1(send) => {
                send.ready().await?;
                send.send_request(request).await?
            }
            Client::Http2(send) => {
                send.ready().await?;
                send.send_request(request).await?
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
