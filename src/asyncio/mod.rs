//! Async connections and rings on tokio (feature `tokio`).
//!
//! [`AsyncConnection`] (from [`AsyncListener::accept`] or [`connect`]) and its
//! halves, and [`AsyncConsumer`] / [`AsyncProducer`] for rings wired by hand,
//! await where the blocking forms would block a thread: a receiver waiting for
//! data and a sender waiting for room alike. Connections are also tokio
//! `AsyncRead`/`AsyncWrite` byte streams and futures `Stream`/`Sink`s of
//! messages, and [`AsyncListener::incoming`] is a `Stream` of connections, so
//! tonic, hyper and tokio-util's codecs run on them.
//!
//! # How a wait works
//!
//! A hybrid ring first spins for its budget (the latency of a spinning
//! receiver while traffic flows), a microsecond's checks per poll with the
//! thread given back to the runtime in between, so that other tasks (other
//! connections of a server) run, in turn, while it spins. Then the endpoint arms
//! its wait signal as *polled* and returns to the runtime, which waits for the
//! ring's wake descriptor to turn readable; the peer, seeing a polled waiter
//! armed, rings that descriptor instead of the futex word. A peer that finds
//! nobody armed makes no system call, as with the blocking API. Every ring in
//! an anonymous region (every connection's) carries wake descriptors; spin
//! rings yield to the runtime and poll again (they burn a core, as they do
//! blocking). While waiting, the endpoint also awaits the peer process's
//! descriptor (a pidfd), so a peer that dies is reported as `PeerDied`
//! promptly, with no thread blocked and no timer ticking while idle.
//!
//! # Cancellation
//!
//! Every future here is cancel safe, so `select!` and timeouts can drop them:
//!
//! * `recv`, `recv_into`, `recv_grant`: a message is taken out of the ring (or
//!   the socket's buffer) only in the poll that completes the future. A
//!   dropped future took nothing; the next call gets the message. Nothing is
//!   lost or read twice.
//! * `send`: the message is copied in and committed in the poll that
//!   completes the future: a dropped future sent all of it or nothing.
//! * `reserve`: a dropped future reserved nothing; a grant dropped
//!   uncommitted sends nothing.
//! * `accept` and [`Incoming`]: a client is taken only in the poll that
//!   completes.
//! * `migrate`: the connection switches transport only in the poll that
//!   completes; a dropped future leaves it on its old transport, working
//!   (see [`AsyncSendHalf::migrate`]).
//! * The byte-stream view (`AsyncRead`, `AsyncWrite`) and the message
//!   `Stream`: bytes or a message are taken only by the poll that returns
//!   them; a write that returns `Pending` sent nothing. A `Sink` holds the
//!   item `start_send` took until its next `poll_ready`, `poll_flush` or
//!   `poll_close` sends it.
//!
//! A future dropped while armed leaves the endpoint armed; the next call
//! continues that wait, and a send meanwhile costs at most one wake.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use mempipe::asyncio::{connect, AsyncListener};
//! use mempipe::ConnConfig;
//!
//! let mut listener = AsyncListener::bind("orders", &ConnConfig::default())?;
//! tokio::spawn(async move {
//!     loop {
//!         let mut conn = match listener.accept().await {
//!             Ok(conn) => conn,
//!             // One client failed its handshake or was turned away: serve on.
//!             Err(e) if e.is_per_client() => continue,
//!             Err(e) => return eprintln!("the listener failed: {e}"),
//!         };
//!         tokio::spawn(async move {
//!             let mut buf = Vec::new();
//!             while conn.recv(&mut buf).await.is_ok() {
//!                 if conn.send(&buf).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//! });
//! let mut conn = connect("orders", &ConnConfig::default()).await?;
//! conn.send(b"order #1").await?;
//! let mut buf = Vec::new();
//! conn.recv(&mut buf).await?;
//! # Ok(()) }
//! ```

mod byte_stream;
mod connection;
mod listener;
mod message_stream;
mod moving;
mod ring;
#[cfg(feature = "tls")]
pub mod tls;
mod waiter;

pub use connection::{connect, AsyncConnection, AsyncRecvHalf, AsyncSendHalf};
pub use listener::AsyncListener;
pub use message_stream::Incoming;
pub use ring::{AsyncConsumer, AsyncProducer};
pub use waiter::NotPollable;
