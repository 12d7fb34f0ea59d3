//! tonic and hyper over mempipe, with the examples' own code
//! (`examples/net`): a gRPC server and an HTTP server each run in a child
//! process; this process calls them over shared memory by name and over
//! loopback TCP. Unary gRPC with 64 B and 64 KiB payloads from one caller
//! and from 64 concurrent callers; HTTP/1.1 and HTTP/2 GETs of small and
//! large bodies. Every bound is a hang guard, never a performance figure.
#![cfg(feature = "tokio")]

mod common;
#[path = "../examples/net/mod.rs"]
mod net;

use common::{spawn_child, unique_listener_name, ChildProc, HANG_GUARD, READY};
use mempipe::ConnConfig;

fn config() -> ConnConfig {
    ConnConfig::new().connect_timeout(HANG_GUARD)
}

/// Starts a server child (`grpc` or `http`) and gives its address.
fn server(kind: &str, tcp: bool) -> (ChildProc, String) {
    let name = unique_listener_name(kind);
    let mode = if tcp { "tcp" } else { "local" };
    let mut child = spawn_child("child_entry", kind, None, &format!("{name}|{mode}"));
    let address = if tcp {
        format!(
            "tcp://127.0.0.1:{}",
            child.wait_for_prefix("PORT", HANG_GUARD)
        )
    } else {
        name
    };
    child.wait_for_line(READY, HANG_GUARD);
    (child, address)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn grpc(tcp: bool) {
    let _serial = common::serial();
    let (_server, address) = server("grpc", tcp);
    runtime().block_on(async {
        let channel = tokio::time::timeout(HANG_GUARD, net::grpc::channel(&address, &config()))
            .await
            .expect("channel within the hang guard")
            .expect("channel");
        let mut client = net::grpc::client(channel);
        for (size, calls) in [(64, 200), (64 << 10, 20)] {
            for i in 0..calls {
                net::grpc::call(&mut client, vec![i as u8; size])
                    .await
                    .expect("unary call");
            }
        }
        // 64 callers at once on one channel (HTTP/2 streams on one connection):
        // both peers write more than TCP's socket buffers hold at once.
        let large = 64 << 10;
        let callers: Vec<_> = (0..64u8)
            .map(|caller| {
                let mut client = client.clone();
                tokio::spawn(async move {
                    for i in 0..10u8 {
                        let size = if i % 2 == 0 { 64 } else { large };
                        net::grpc::call(&mut client, vec![caller ^ i; size])
                            .await
                            .expect("concurrent unary call");
                    }
                })
            })
            .collect();
        for caller in callers {
            tokio::time::timeout(HANG_GUARD, caller)
                .await
                .expect("caller within the hang guard")
                .expect("caller");
        }
    });
}

#[test]
fn grpc_over_shared_memory() {
    grpc(false);
}

#[test]
fn grpc_over_tcp() {
    grpc(true);
}

fn http(tcp: bool) {
    let _serial = common::serial();
    let (_server, address) = server("http", tcp);
    runtime().block_on(async {
        for http2 in [false, true] {
            let mut client = net::http::Client::connect(&address, &config(), http2)
                .await
                .expect("HTTP connection");
            for _ in 0..50 {
                let (status, body) = client.get("/").await.expect("GET /");
                assert_eq!(status, 200);
                let version = if http2 { "HTTP/2.0" } else { "HTTP/1.1" };
                assert_eq!(body, format!("hello over mempipe, {version}\n"));
            }
            let (status, body) = client.get("/bytes/1000000").await.expect("GET /bytes");
            assert_eq!(status, 200);
            assert!(body.len() == 1_000_000 && body.iter().all(|&b| b == b'x'));
            let (status, _) = client.get("/nowhere").await.expect("GET /nowhere");
            assert_eq!(status, 404);
        }
    });
}

#[test]
fn http_over_shared_memory() {
    http(false);
}

#[test]
fn http_over_tcp() {
    http(true);
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    let f = ctx.fields();
    let (name, tcp) = (f[0].to_owned(), f[1] == "tcp");
    let role = ctx.role.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let listen = if tcp {
            ConnConfig::new().plaintext_tcp("127.0.0.1:0")
        } else {
            ConnConfig::new()
        };
        let listener = net::bind(&name, &listen).expect("bind");
        if let Some(addr) = listener.get_ref().tcp_addr() {
            println!("PORT {}", addr.port());
        }
        common::signal_ready();
        match role.as_str() {
            "grpc" => net::grpc::serve(listener).await.expect("gRPC server"),
            "http" => net::http::serve(listener).await.expect("HTTP server"),
            other => panic!("unknown role {other}"),
        }
    });
}
