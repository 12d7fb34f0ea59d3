//! Fuzz target `handshake`: [`handshake`] says what it feeds the library and checks.

mod client_side;
mod listener_side;

/// Fuzz target `handshake`. The whole input is first parsed as a client hello
/// and as a server hello: either is refused with a typed error or parses into
/// values that respect the checks (ring geometry, path length) and re-encode
/// to a hello that parses to the same values. Then the first byte picks what
/// the rest drives over real sockets (see the two halves for the layout):
///
/// * `% 3 == 1`: a real [`Listener`](crate::Listener)'s non-blocking
///   handshake, fed bytes in arbitrary chunks with pauses between them (on
///   its rendezvous socket or on TCP);
/// * `% 3 == 2`: a real [`connect`](crate::connect) against a fake listener
///   that answers with arbitrary bytes or a crafted server hello (an offer to
///   switch to shared memory with any path and pid included), in chunks;
/// * otherwise: the parsing only.
pub fn handshake(data: &[u8]) {
    use crate::conn::wire::{ClientHello, ServerHello, Status, MAX_PATH};
    if let Ok(hello) = ClientHello::decode(data) {
        assert!(hello.capacity.is_power_of_two());
        assert!(hello.max_message > 0 && hello.max_message <= hello.capacity / 2 - 8);
        assert_eq!(ClientHello::decode(&hello.encode()).ok(), Some(hello));
    }
    if let Ok(hello) = ServerHello::decode(data) {
        assert!(hello.path.len() <= MAX_PATH);
        assert!(hello.status == Status::Upgrade || hello.path.is_empty());
        assert_eq!(ServerHello::decode(&hello.encode()).ok(), Some(hello));
    }
    // Sockets and threads: not under Miri, which replays the parsing only.
    if cfg!(miri) {
        return;
    }
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        1 => listener_side::drive(rest),
        2 => client_side::drive(rest),
        _ => {}
    }
}

/// A wakeup a hello may name (or none) from one input byte.
fn asked_wakeup(byte: u8) -> Option<crate::WakeupKind> {
    use crate::WakeupKind::{Futex, Hybrid, Spin};
    [None, Some(Spin), Some(Futex), Some(Hybrid)][usize::from(byte % 4)]
}

/// A private directory for the target's sockets, one per user.
fn socket_dir() -> std::path::PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let uid = rustix::process::getuid().as_raw();
    let dir = std::env::temp_dir().join(format!("mempipe-fuzz-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    dir
}

/// Writes `stream` in the chunks `plan` gives (a zero is a pause: nothing
/// written), calling `between` after each step, then the rest at once. Stops
/// at the first failed write (the peer closed); never raises SIGPIPE (a fuzz
/// binary does not ignore it).
fn write_in_chunks(
    out: impl std::os::fd::AsFd,
    mut stream: &[u8],
    plan: &[u8],
    mut between: impl FnMut(),
) {
    let write = |bytes: &[u8]| crate::conn::io::write_all(&out, bytes).is_ok();
    for &step in plan {
        let n = usize::from(step % 64).min(stream.len());
        if n > 0 && !write(&stream[..n]) {
            return;
        }
        stream = &stream[n..];
        between();
    }
    if !stream.is_empty() && write(stream) {
        between();
    }
}
