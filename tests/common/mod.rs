//! Shared helpers for the cross-process integration tests.
//!
//! A test that needs a real peer process re-executes its own test binary with
//! `--exact <entry>`: the entry is an ordinary `#[test]` that returns at once
//! unless [`ROLE_ENV`] is set, in which case it plays the child's role. The
//! region travels as a [`mempipe::Handoff`] token in [`TOKEN_ENV`], free-form
//! parameters in [`ARG_ENV`]. Children print marker lines (for example
//! `MEMPIPE_READY`) on stdout, which the parent waits for with a timeout.
//!
//! Messages carry a sequence number and a checksum in their first 16 bytes (see
//! [`fill_message`] / [`check_message`]); their lengths come from a seeded RNG
//! that both sides replay, so the receiver also knows every length.

#![allow(dead_code)] // each test file uses a different subset

pub mod certs;
pub mod etcd;
pub mod streams;

use mempipe::{Consumer, Producer, ReadGrant, RecvError, Region, SendError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Role of a child process (unset in the parent).
pub const ROLE_ENV: &str = "MEMPIPE_CHILD_ROLE";
/// Handoff token of the region the child uses, if any.
pub const TOKEN_ENV: &str = "MEMPIPE_CHILD_TOKEN";
/// Free-form parameters for the child.
pub const ARG_ENV: &str = "MEMPIPE_CHILD_ARG";
/// Line a child prints once it reached the point the parent waits for.
pub const READY: &str = "MEMPIPE_READY";

/// Generous bound for anything that should take milliseconds: a bug fails the
/// test after this instead of hanging CI.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// What a child process was asked to do.
#[derive(Debug, Clone)]
pub struct ChildContext {
    pub role: String,
    pub token: Option<String>,
    pub arg: String,
}

impl ChildContext {
    /// The `i`th `:`-separated field of the argument.
    pub fn field(&self, i: usize) -> &str {
        self.arg
            .split(':')
            .nth(i)
            .unwrap_or_else(|| panic!("child argument {:?} has no field {i}", self.arg))
    }

    /// The `|`-separated fields of the argument, for arguments that hold
    /// addresses (which contain `:`).
    pub fn fields(&self) -> Vec<&str> {
        self.arg.split('|').collect()
    }

    /// The `i`th field, parsed.
    pub fn parse<T: std::str::FromStr>(&self, i: usize) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.field(i).parse().expect("child argument field")
    }

    /// Opens the region inherited from the parent (once per process).
    pub fn inherited_region(&self) -> Region {
        let token = self
            .token
            .as_deref()
            .expect("child was given no handoff token");
        // SAFETY: the token names descriptors the parent created with
        // Region::handoff for this child and passed across exec; nothing else in
        // this process knows or owns them, and each child calls this once.
        unsafe { Region::from_handoff(token) }.expect("Region::from_handoff in the child")
    }
}

/// `Some` in a child process started by [`spawn_child`], `None` in the parent.
pub fn child_context() -> Option<ChildContext> {
    let role = std::env::var(ROLE_ENV).ok()?;
    Some(ChildContext {
        role,
        token: std::env::var(TOKEN_ENV).ok(),
        arg: std::env::var(ARG_ENV).unwrap_or_default(),
    })
}

/// Tells the parent the child reached its marker point.
pub fn signal_ready() {
    println!("{READY}");
}

/// Parks the child forever (until the parent kills it).
pub fn park_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Serialises the tests of one binary: on a 2-vCPU machine, spinning peers of
/// two tests at once would mostly measure the scheduler.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A unique name for a named region: pid, a counter and a tag.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "/mempipe-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A unique name for a listener: [`unique_name`] without the leading `/`.
pub fn unique_listener_name(tag: &str) -> String {
    unique_name(tag).trim_start_matches('/').to_owned()
}

/// A child process running one role; killed and reaped when dropped.
pub struct ChildProc {
    child: Child,
    lines: Receiver<String>,
}

/// Re-executes this test binary to run `entry` (a test function name) as `role`.
pub fn spawn_child(entry: &str, role: &str, token: Option<&str>, arg: &str) -> ChildProc {
    spawn_child_with(entry, role, token, arg, |_| {})
        .unwrap_or_else(|e| panic!("spawn the child test process: {e}"))
}

/// [`spawn_child`], with the test binary run by `wrapper` (a command and its
/// arguments, to which the binary and its arguments are appended).
pub fn spawn_child_under(
    wrapper: &[&str],
    entry: &str,
    role: &str,
    token: Option<&str>,
    arg: &str,
) -> ChildProc {
    spawn(wrapper, entry, role, token, arg, |_| {})
        .unwrap_or_else(|e| panic!("spawn the child test process: {e}"))
}

/// [`spawn_child_under`] with a hook to adjust the command first.
pub fn spawn_child_under_with(
    wrapper: &[&str],
    entry: &str,
    arg: &str,
    adjust: impl FnOnce(&mut Command),
) -> ChildProc {
    spawn(wrapper, entry, "child", None, arg, adjust)
        .unwrap_or_else(|e| panic!("spawn the child test process: {e}"))
}

/// [`spawn_child`] with a hook to adjust the command first (for example to run
/// the child as another user); spawn errors are returned.
pub fn spawn_child_with(
    entry: &str,
    role: &str,
    token: Option<&str>,
    arg: &str,
    adjust: impl FnOnce(&mut Command),
) -> std::io::Result<ChildProc> {
    spawn(&[], entry, role, token, arg, adjust)
}

fn spawn(
    wrapper: &[&str],
    entry: &str,
    role: &str,
    token: Option<&str>,
    arg: &str,
    adjust: impl FnOnce(&mut Command),
) -> std::io::Result<ChildProc> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = match wrapper.split_first() {
        None => Command::new(exe),
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(exe);
            cmd
        }
    };
    cmd.args([
        "--exact",
        entry,
        "--nocapture",
        "--include-ignored",
        "--test-threads",
        "1",
        "-q",
    ])
    .env(ROLE_ENV, role)
    .env(ARG_ENV, arg)
    .env_remove(TOKEN_ENV)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(token) = token {
        cmd.env(TOKEN_ENV, token);
    }
    adjust(&mut cmd);
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(ChildProc { child, lines })
}

impl ChildProc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the child prints `marker` on a line of its own.
    pub fn wait_for_line(&mut self, marker: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.trim() == marker => return,
                Ok(_) => {}
                Err(e) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!("child never printed {marker:?} ({e}); exit status so far: {status:?}")
                }
            }
        }
    }

    /// The next line the child prints that starts with one of `prefixes`
    /// (skipping the test harness's own), waiting at most `timeout`.
    pub fn line_starting_with(&mut self, prefixes: &[&str], timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if prefixes.iter().any(|p| line.starts_with(p)) => return line,
                Ok(_) => {}
                Err(e) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!("child printed no line starting with {prefixes:?} ({e}); exit status so far: {status:?}")
                }
            }
        }
    }

    /// Waits until the child prints a line starting with `prefix`; returns the rest.
    pub fn wait_for_prefix(&mut self, prefix: &str, timeout: Duration) -> String {
        let line = self.line_starting_with(&[prefix], timeout);
        line.trim()
            .strip_prefix(prefix)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Waits for the child to exit, at most `timeout` (then kills it and panics).
    pub fn wait_timeout(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("child {} did not exit within {timeout:?}", self.pid());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the child and asserts it succeeded (its test passed).
    pub fn assert_success(&mut self, timeout: Duration) {
        let status = self.wait_timeout(timeout);
        assert!(status.success(), "child failed: {status:?}");
    }

    /// SIGKILLs the child (it does not run any destructor).
    pub fn kill(&mut self) {
        self.child.kill().expect("kill the child");
    }

    /// Reaps a killed child and checks it died by SIGKILL.
    pub fn reap_killed(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let status = self.wait_timeout(HANG_GUARD);
        assert_eq!(status.signal(), Some(9), "child status {status:?}");
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// Messages: sequence number and checksum in the first 16 bytes.

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over 64-bit words (the tail byte-wise), seeded with the sequence
/// number and length so a message moved, cut or duplicated does not verify.
pub fn checksum(seq: u64, len: usize, body: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for word in [seq, len as u64] {
        h = (h ^ word).wrapping_mul(PRIME);
    }
    let mut chunks = body.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(PRIME);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

/// Fills `buf` with message `seq` of `len` bytes: `[seq | checksum | body]`,
/// the body pseudo-random from `seq`. A message shorter than 16 bytes is the
/// first `len` bytes of the header of an empty body.
pub fn fill_message(seq: u64, len: usize, buf: &mut Vec<u8>) {
    buf.clear();
    if len < 16 {
        let mut header = [0u8; 16];
        header[..8].copy_from_slice(&seq.to_le_bytes());
        header[8..].copy_from_slice(&checksum(seq, len, &[]).to_le_bytes());
        buf.extend_from_slice(&header[..len]);
        return;
    }
    buf.resize(16, 0);
    let mut state = seq.wrapping_mul(0x2545_f491_4f6c_dd1d);
    while buf.len() < len {
        let word = splitmix(&mut state).to_le_bytes();
        let n = (len - buf.len()).min(8);
        buf.extend_from_slice(&word[..n]);
    }
    let sum = checksum(seq, len, &buf[16..]);
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&sum.to_le_bytes());
}

/// Checks that `msg` is message `expected_seq` of `expected_len` bytes, intact.
pub fn check_message(expected_seq: u64, expected_len: usize, msg: &[u8]) -> Result<(), String> {
    if msg.len() != expected_len {
        return Err(format!(
            "message {expected_seq}: length {} != {expected_len} (loss, duplicate or reorder)",
            msg.len()
        ));
    }
    if msg.len() < 16 {
        let mut want = Vec::new();
        fill_message(expected_seq, msg.len(), &mut want);
        return if want == msg {
            Ok(())
        } else {
            Err(format!(
                "short message {expected_seq}: {msg:02x?} != {want:02x?}"
            ))
        };
    }
    let seq = u64::from_le_bytes(msg[..8].try_into().unwrap());
    if seq != expected_seq {
        return Err(format!(
            "sequence {seq} where {expected_seq} was due (loss, duplicate or reorder)"
        ));
    }
    let sum = u64::from_le_bytes(msg[8..16].try_into().unwrap());
    let want = checksum(seq, msg.len(), &msg[16..]);
    if sum != want {
        return Err(format!(
            "message {seq}: checksum {sum:#x} != {want:#x} over {} bytes",
            msg.len()
        ));
    }
    Ok(())
}

/// The lengths of a stream: seeded, so both sides replay the same sequence.
pub struct Lengths {
    rng: StdRng,
    max: usize,
}

impl Lengths {
    pub fn new(seed: u64, max: usize) -> Self {
        Lengths {
            rng: StdRng::seed_from_u64(seed),
            max,
        }
    }

    pub fn next_len(&mut self) -> usize {
        self.rng.random_range(0..=self.max)
    }
}

/// Parameters of a message stream.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub seed: u64,
    pub count: u64,
    pub max: usize,
}

impl Stream {
    /// As a child argument (`seed:count:max`).
    pub fn to_arg(self) -> String {
        format!("{}:{}:{}", self.seed, self.count, self.max)
    }

    /// From fields `at`, `at+1`, `at+2` of a child argument.
    pub fn from_ctx(ctx: &ChildContext, at: usize) -> Self {
        Stream {
            seed: ctx.parse(at),
            count: ctx.parse(at + 1),
            max: ctx.parse(at + 2),
        }
    }
}

/// Sends the stream, cycling through four ways of writing: `send`, a zero-copy
/// grant of the exact length (`try_reserve`, falling back on `reserve_timeout`
/// when full) filled with `write_at`, a larger grant filled through `io::Write`
/// and cut with `commit_len`, and one published with `commit_written`.
pub fn send_stream(producer: &mut Producer, s: Stream) {
    use std::io::Write;
    let mut lengths = Lengths::new(s.seed, s.max);
    let mut msg = Vec::with_capacity(s.max);
    for seq in 0..s.count {
        let len = lengths.next_len();
        fill_message(seq, len, &mut msg);
        let way = seq % 4;
        if way == 0 {
            producer
                .send_timeout(&msg, HANG_GUARD)
                .unwrap_or_else(|e| panic!("send {seq}: {e}"));
            continue;
        }
        let reserve_len = if way == 1 { len } else { s.max };
        let mut grant = match producer.try_reserve(reserve_len) {
            Ok(grant) => grant,
            Err(SendError::Full { .. }) => producer
                .reserve_timeout(reserve_len, HANG_GUARD)
                .unwrap_or_else(|e| panic!("reserve {seq}: {e}")),
            Err(e) => panic!("try_reserve {seq}: {e}"),
        };
        assert_eq!(grant.len(), reserve_len);
        match way {
            1 => {
                grant.write_at(0, &msg).expect("write_at");
                grant.commit();
            }
            2 => {
                grant.write_all(&msg).expect("io::Write into a grant");
                grant.commit_len(len).expect("commit_len");
            }
            _ => {
                grant.write_all(&msg).expect("io::Write into a grant");
                grant.commit_written();
            }
        }
    }
}

/// Receives and verifies the stream, cycling through `recv` (into a Vec),
/// `recv_into` (into a slice), and zero-copy reads (`try_recv_grant`, falling back
/// on `recv_grant_timeout`) checked in place or copied out.
pub fn recv_stream(consumer: &mut Consumer, s: Stream) {
    let mut lengths = Lengths::new(s.seed, s.max);
    let mut vec = Vec::new();
    let mut slice = vec![0u8; s.max];
    for seq in 0..s.count {
        let len = lengths.next_len();
        let checked = match seq % 4 {
            0 => {
                let n = consumer
                    .recv_timeout(&mut vec, HANG_GUARD)
                    .unwrap_or_else(|e| panic!("recv {seq}: {e}"));
                assert_eq!(n, vec.len());
                check_message(seq, len, &vec)
            }
            1 => {
                let n = consumer
                    .recv_into_timeout(&mut slice, HANG_GUARD)
                    .unwrap_or_else(|e| panic!("recv_into {seq}: {e}"));
                check_message(seq, len, &slice[..n])
            }
            way => {
                let verify = |grant: ReadGrant<'_>, slice: &mut [u8]| {
                    assert_eq!(grant.as_ptr() as usize % 8, 0, "payload not 8-byte aligned");
                    let result = if way == 2 {
                        // SAFETY: the producer is this test's own child, which
                        // never writes a record after publishing it.
                        check_message(seq, len, unsafe { grant.as_slice() })
                    } else {
                        let n = grant.copy_to_slice(slice);
                        assert_eq!(n, grant.len());
                        check_message(seq, len, &slice[..n])
                    };
                    grant.release();
                    result
                };
                let without_waiting = match consumer.try_recv_grant() {
                    Ok(grant) => Some(verify(grant, &mut slice)),
                    Err(RecvError::Empty) => None,
                    Err(e) => panic!("try_recv_grant {seq}: {e}"),
                };
                match without_waiting {
                    Some(result) => result,
                    None => {
                        let grant = consumer
                            .recv_grant_timeout(HANG_GUARD)
                            .unwrap_or_else(|e| panic!("read {seq}: {e}"));
                        verify(grant, &mut slice)
                    }
                }
            }
        };
        if let Err(e) = checked {
            panic!("{e}");
        }
    }
}

/// After a stream: the producer closed, so the consumer gets `Disconnected`
/// (and keeps getting it).
pub fn expect_disconnected(consumer: &mut Consumer) {
    let mut buf = Vec::new();
    for _ in 0..2 {
        match consumer.recv_timeout(&mut buf, HANG_GUARD) {
            Err(RecvError::Disconnected) => {}
            other => panic!("expected Disconnected after the stream, got {other:?} ({buf:?})"),
        }
    }
    assert!(consumer.is_disconnected());
}

/// One test module per wakeup strategy (`spin::NAME`, `futex::NAME`, ...), each
/// test calling the including file's `fn NAME(WakeupKind)`.
#[allow(unused_macros)]
macro_rules! per_wakeup {
    ($($test:ident),* $(,)?) => {
        mod spin {
            $( #[test] fn $test() { super::$test(mempipe::WakeupKind::Spin); } )*
        }
        mod futex {
            $( #[test] fn $test() { super::$test(mempipe::WakeupKind::Futex); } )*
        }
        mod eventfd {
            $( #[test] fn $test() { super::$test(mempipe::WakeupKind::EventFd); } )*
        }
        mod hybrid {
            $( #[test] fn $test() { super::$test(mempipe::WakeupKind::Hybrid); } )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use per_wakeup;

/// Kills `child` while a blocking call on another thread (which reports on
/// `done` what it returned, and when) waits on it. First checks that the call
/// is still blocked after `block_first` (the peer was alive), then that it
/// returns within [`HANG_GUARD`] of the kill. Gives the call's result and how
/// long after the kill it returned.
pub fn kill_while_blocked<R>(
    child: &mut ChildProc,
    done: &std::sync::mpsc::Receiver<(R, std::time::Instant)>,
    block_first: Duration,
    call: &str,
) -> (R, Duration) {
    std::thread::sleep(block_first);
    assert!(
        matches!(done.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty)),
        "{call} returned while the peer was alive"
    );
    let killed_at = std::time::Instant::now();
    child.kill();
    let (result, returned_at) = done
        .recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{call} still blocked after the peer was killed"));
    (result, returned_at - killed_at)
}

/// Echoes every message back on a thread of its own until the peer goes.
pub fn echo_on_a_thread(mut conn: mempipe::Connection) {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        while conn.recv(&mut buf).is_ok() {
            if conn.send(&buf).is_err() {
                break;
            }
        }
    });
}
