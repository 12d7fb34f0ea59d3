//! Unary gRPC (tonic, the examples' echo service) over three transports side
//! by side: a mempipe connection by name (shared memory), a UNIX socket and
//! loopback TCP; 64 B and 64 KiB payloads, 1 and 64 concurrent callers on
//! one channel. Server and client run in this process on one tokio runtime
//! (two worker threads); rounds interleave the transports. Prints p50 and
//! p99 call times and calls per second, each the median over the rounds.
//!
//! Run: `cargo bench --features tokio --bench grpc`; to profile one cell,
//! name a transport, a payload size and a caller count:
//! `cargo bench --features tokio --bench grpc -- mempipe 64 1`.

#[path = "../examples/net/mod.rs"]
mod net;

use futures_util::stream;
use hyper_util::rt::TokioIo;
use mempipe::asyncio::AsyncListener;
use mempipe::ConnConfig;
use net::grpc::{call, client, EchoClient, EchoService};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Server, Uri};

const ROUNDS: usize = 5;

/// Starts the echo service on `transport`; a channel to it.
async fn start(transport: &str) -> Channel {
    let service = || {
        net::grpc::proto::echo_server::EchoServer::new(EchoService)
            .max_decoding_message_size(net::grpc::MAX_PAYLOAD)
    };
    let tag = format!("{}-{}", transport, std::process::id());
    match transport {
        "mempipe" => {
            let listener = AsyncListener::bind(&tag, &ConnConfig::new()).expect("bind");
            tokio::spawn(net::grpc::serve(listener));
            net::grpc::channel(&tag, &ConnConfig::new())
                .await
                .expect("channel")
        }
        "unix" => {
            let path = std::env::temp_dir().join(format!("grpc-bench-{tag}.sock"));
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path).expect("bind unix");
            let incoming = stream::unfold(listener, |l| async move {
                let accepted = l.accept().await.map(|(s, _)| s);
                Some((accepted, l))
            });
            let server = Server::builder().add_service(service());
            tokio::spawn(server.serve_with_incoming(incoming));
            Endpoint::from_static("http://unix.invalid")
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        tokio::net::UnixStream::connect(path)
                            .await
                            .map(TokioIo::new)
                    }
                }))
                .await
                .expect("channel")
        }
        _ => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind tcp");
            let addr = listener.local_addr().expect("address");
            let incoming = stream::unfold(listener, |l| async move {
                let accepted = l.accept().await.map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    s
                });
                Some((accepted, l))
            });
            let server = Server::builder().add_service(service());
            tokio::spawn(server.serve_with_incoming(incoming));
            Endpoint::from_shared(format!("http://{addr}"))
                .expect("uri")
                .tcp_nodelay(true)
                .connect()
                .await
                .expect("channel")
        }
    }
}

/// `callers` tasks making `calls` calls each: all call times, and calls per second.
async fn cell(
    client: &EchoClient<Channel>,
    size: usize,
    callers: usize,
    calls: usize,
) -> (Vec<Duration>, f64) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(calls);
                for _ in 0..calls {
                    let t = Instant::now();
                    call(&mut client, vec![7u8; size]).await.expect("call");
                    times.push(t.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("caller"));
    }
    let rate = (callers * calls) as f64 / start.elapsed().as_secs_f64();
    times.sort();
    (times, rate)
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Optional filter: transport, payload size, callers (`--` flags are cargo's).
        let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
        let wanted = |i: usize, value: String| only.get(i).map_or(true, |w| *w == value);
        let transports: Vec<&str> = ["mempipe", "unix", "tcp"]
            .into_iter()
            .filter(|t| wanted(0, t.to_string()))
            .collect();
        let mut clients = Vec::new();
        for &t in &transports {
            clients.push(client(start(t).await));
        }
        let cells = [(64, 1, 2000), (64 << 10, 1, 300), (64, 64, 60), (64 << 10, 64, 8)];
        let cells = cells.into_iter().filter(|&(size, callers, _)| {
            wanted(1, size.to_string()) && wanted(2, callers.to_string())
        });
        for (size, callers, calls) in cells {
            println!("unary {size} B, {callers} caller(s), {ROUNDS} rounds interleaved:");
            let mut results: Vec<[Vec<f64>; 3]> = vec![Default::default(); transports.len()];
            for _ in 0..ROUNDS {
                for (i, c) in clients.iter().enumerate() {
                    let (times, rate) = cell(c, size, callers, calls).await;
                    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
                    results[i][0].push(at(0.5));
                    results[i][1].push(at(0.99));
                    results[i][2].push(rate);
                }
            }
            for (t, [p50, p99, rate]) in transports.iter().zip(results) {
                let (p50, p50_lo, p50_hi) = median(p50);
                let (p99, ..) = median(p99);
                let (rate, rate_lo, rate_hi) = median(rate);
                println!(
                    "  {t:<8} p50 {p50:>8.1} µs ({p50_lo:.1}-{p50_hi:.1})  p99 {p99:>8.1} µs  {rate:>8.0} calls/s ({rate_lo:.0}-{rate_hi:.0})"
                );
            }
        }
    });
}
