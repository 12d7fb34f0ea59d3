//! What the byte-stream view of a connection costs against its message API,
//! side by side on one connection kind (shared memory, hybrid wakeup, two
//! threads of this process), batches interleaved:
//!
//! * 8 B round trips: `send` + `recv` against `write` + `read_exact`, the
//!   peer echoing with the same API.
//! * 64 KiB streaming: `send` of 64 KiB messages against `write` of 64 KiB,
//!   the peer receiving with the same API (`recv` into a vector against
//!   `read` into a 64 KiB buffer) and acknowledging each batch.
//!
//! Run: `cargo bench --bench byte_stream` (prints medians of 21 batches with
//! quartiles and extremes; times on a shared machine vary).

use mempipe::{connect, ConnConfig, Connection, Listener};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const BATCHES: usize = 21;
const ROUND_TRIPS: u32 = 20_000;
const STREAM_MESSAGES: usize = 4_000;
const BIG: usize = 64 << 10;

fn pair(name: &str) -> (Connection, Connection) {
    let name = format!("{name}-{}", std::process::id());
    let config = ConnConfig::new().connect_timeout(Duration::from_secs(20));
    let listener = Listener::bind(&name, &config).expect("bind");
    let client = std::thread::spawn(move || connect(name.as_str(), &config).expect("connect"));
    let server = listener.accept().expect("accept");
    (client.join().expect("connect thread"), server)
}

/// The peer: echoes (latency) or counts and acknowledges (streaming), with
/// the message API or the byte view.
fn peer(mut conn: Connection, bytes: bool, streaming: bool) {
    std::thread::spawn(move || {
        let mut msg = Vec::new();
        let mut buf = vec![0u8; BIG];
        let mut counted = 0usize;
        loop {
            let n = if bytes {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                }
            } else {
                match conn.recv(&mut msg) {
                    Ok(n) => n,
                    Err(_) => return,
                }
            };
            if !streaming {
                let echoed = if bytes {
                    conn.write_all(&buf[..n]).is_ok()
                } else {
                    conn.send(&msg).is_ok()
                };
                if !echoed {
                    return;
                }
                continue;
            }
            counted += n;
            if counted == STREAM_MESSAGES * BIG {
                counted = 0;
                if conn.send(b"k").is_err() {
                    return;
                }
            }
        }
    });
}

/// Median, quartiles and extremes of `samples`.
fn report(name: &str, unit: &str, mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    println!(
        "{name:<40} median {:>8.2} {unit}  (min {:.2}, quartiles {:.2}-{:.2}, max {:.2})",
        samples[n / 2],
        samples[0],
        samples[n / 4],
        samples[3 * n / 4],
        samples[n - 1]
    );
    samples[n / 2]
}

fn round_trips_ns(conn: &mut Connection, bytes: bool) -> f64 {
    let mut msg = Vec::new();
    let mut buf = [0u8; 8];
    let start = Instant::now();
    for i in 0..ROUND_TRIPS {
        let out = u64::from(i).to_le_bytes();
        if bytes {
            conn.write_all(&out).expect("write");
            conn.read_exact(&mut buf).expect("read");
        } else {
            conn.send(&out).expect("send");
            conn.recv(&mut msg).expect("recv");
        }
    }
    start.elapsed().as_nanos() as f64 / f64::from(ROUND_TRIPS)
}

fn stream_gib_s(conn: &mut Connection, bytes: bool) -> f64 {
    let chunk = vec![0x5au8; BIG];
    let mut ack = Vec::new();
    let start = Instant::now();
    for _ in 0..STREAM_MESSAGES {
        if bytes {
            conn.write_all(&chunk).expect("write");
        } else {
            conn.send(&chunk).expect("send");
        }
    }
    conn.recv(&mut ack).expect("ack");
    (STREAM_MESSAGES * BIG) as f64 / start.elapsed().as_secs_f64() / f64::from(1u32 << 30)
}

fn main() {
    let (mut msg_lat, srv) = pair("bench-msg-lat");
    peer(srv, false, false);
    let (mut byte_lat, srv) = pair("bench-byte-lat");
    peer(srv, true, false);
    let (mut msg_tput, srv) = pair("bench-msg-tput");
    peer(srv, false, true);
    let (mut byte_tput, srv) = pair("bench-byte-tput");
    peer(srv, true, true);

    let (mut lat, mut tput) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for _ in 0..BATCHES {
        lat[0].push(round_trips_ns(&mut msg_lat, false));
        lat[1].push(round_trips_ns(&mut byte_lat, true));
        tput[0].push(stream_gib_s(&mut msg_tput, false));
        tput[1].push(stream_gib_s(&mut byte_tput, true));
    }
    let [lat_msg, lat_byte] = lat;
    let [tput_msg, tput_byte] = tput;
    let m = report("8 B round trip, message API", "ns", lat_msg);
    let b = report("8 B round trip, byte stream", "ns", lat_byte);
    println!("  byte stream / message API: {:.2}x the time", b / m);
    let m = report("64 KiB stream, message API", "GiB/s", tput_msg);
    let b = report("64 KiB stream, byte stream", "GiB/s", tput_byte);
    println!("  byte stream / message API: {:.2}x the throughput", b / m);
}
