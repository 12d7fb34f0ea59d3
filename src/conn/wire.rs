//! The bytes two ends exchange: the handshake hellos and the TCP frame header.
//!
//! Everything here is pure parsing of untrusted input (no I/O), so that the
//! fuzz targets can call it directly. All integers are little-endian.

use super::error::HandshakeError;
use crate::config::WakeupKind;

/// First bytes of every hello: tells a mempipe peer from anything else that
/// happens to connect.
pub(crate) const MAGIC: [u8; 8] = *b"MEMPIPE\x01";
/// Handshake version; a peer speaking another one is refused with a typed error.
pub(crate) const VERSION: u16 = 1;

/// Size of a client hello.
pub(crate) const CLIENT_HELLO_LEN: usize = 60;
/// Size of a server hello without its trailing path.
pub(crate) const SERVER_HELLO_LEN: usize = 70;
/// Longest rendezvous path a server hello carries (a UNIX socket path's limit).
pub(crate) const MAX_PATH: usize = 107;
/// Largest ring a peer may ask for.
pub(crate) const MAX_RING: u64 = 1 << 30;

/// The client side arrives over a UNIX socket or over TCP.
pub(crate) const VIA_UNIX: u8 = 1;
/// See [`VIA_UNIX`].
pub(crate) const VIA_TCP: u8 = 2;

/// What a connecting side asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello {
    /// [`VIA_UNIX`] or [`VIA_TCP`].
    pub(crate) via: u8,
    /// Wanted wakeup, `None` to let the listener decide.
    pub(crate) wakeup: Option<WakeupKind>,
    /// Flags: no bit is defined; a listener ignores them.
    pub(crate) flags: u32,
    /// The client's pid (informational over TCP).
    pub(crate) pid: u32,
    /// Largest message the client wants to send or receive.
    pub(crate) max_message: u64,
    /// Ring capacity the client asks for (a power of two).
    pub(crate) capacity: u64,
    /// Hybrid spin budget in nanoseconds.
    pub(crate) spin_budget_ns: u64,
    /// The client's kernel boot id (all zero when unknown).
    pub(crate) boot_id: [u8; 16],
}

/// The listener's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Accepted: the connection follows.
    Accepted,
    /// Refused: the peer's user is not allowed.
    Refused,
    /// The client's hello was not acceptable.
    BadHello,
    /// An offer to switch to shared memory at the rendezvous path the hello
    /// carries. Kept on the wire so that it parses, but no listener sends it
    /// and every client refuses it: a plaintext TCP peer's word must not send
    /// a client to a local socket.
    Upgrade,
    /// Turned away: too many handshakes from this client's user (or address) are in flight.
    Busy,
    /// Turned away: the listener is out of resources (file descriptors, memory).
    OutOfResources,
}

impl Status {
    fn from_raw(raw: u8) -> Option<Status> {
        Some(match raw {
            0 => Status::Accepted,
            1 => Status::Refused,
            2 => Status::BadHello,
            3 => Status::Upgrade,
            4 => Status::Busy,
            5 => Status::OutOfResources,
            _ => return None,
        })
    }

    fn raw(self) -> u8 {
        match self {
            Status::Accepted => 0,
            Status::Refused => 1,
            Status::BadHello => 2,
            Status::Upgrade => 3,
            Status::Busy => 4,
            Status::OutOfResources => 5,
        }
    }
}

/// What the listener chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerHello {
    /// Accepted, refused, or sent elsewhere.
    pub(crate) status: Status,
    /// The rings' wakeup (shared memory only).
    pub(crate) wakeup: Option<WakeupKind>,
    /// The listener's pid.
    pub(crate) pid: u32,
    /// Largest message either side may send.
    pub(crate) max_message: u64,
    /// Ring capacity, each way (shared memory only).
    pub(crate) capacity: u64,
    /// Hybrid spin budget in nanoseconds.
    pub(crate) spin_budget_ns: u64,
    /// How often a blocked call checks that the peer lives, in nanoseconds.
    pub(crate) liveness_ns: u64,
    /// The listener's kernel boot id.
    pub(crate) boot_id: [u8; 16],
    /// With [`Status::Refused`]: the uid that was refused.
    pub(crate) detail: u32,
    /// With [`Status::Upgrade`]: the rendezvous socket path.
    pub(crate) path: Vec<u8>,
}

fn wakeup_raw(w: Option<WakeupKind>) -> u8 {
    w.map_or(0, |k| k as u8)
}

fn wakeup_from(raw: u8) -> Result<Option<WakeupKind>, HandshakeError> {
    if raw == 0 {
        return Ok(None);
    }
    WakeupKind::from_raw(u32::from(raw))
        .map(Some)
        .ok_or(HandshakeError::BadField {
            field: "wakeup",
            value: u64::from(raw),
            why: "not a known wakeup strategy",
        })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

fn check_prefix(b: &[u8], need: usize) -> Result<(), HandshakeError> {
    if b.len() < need {
        return Err(HandshakeError::Truncated {
            got: b.len(),
            expected: need,
        });
    }
    if b[..8] != MAGIC {
        return Err(HandshakeError::BadMagic);
    }
    let version = u16_at(b, 8);
    if version != VERSION {
        return Err(HandshakeError::VersionMismatch {
            theirs: version,
            ours: VERSION,
        });
    }
    Ok(())
}

/// Checks a ring geometry a peer proposed: the same rules the ring applies.
pub(crate) fn check_geometry(capacity: u64, max_message: u64) -> Result<(), HandshakeError> {
    if !capacity.is_power_of_two() || !(64..=MAX_RING).contains(&capacity) {
        return Err(HandshakeError::BadField {
            field: "capacity",
            value: capacity,
            why: "not a power of two from 64 B to 1 GiB",
        });
    }
    if max_message == 0 || max_message > capacity / 2 - 8 {
        return Err(HandshakeError::BadField {
            field: "max_message",
            value: max_message,
            why: "zero, or more than capacity / 2 - 8",
        });
    }
    Ok(())
}

impl ClientHello {
    /// The hello's bytes.
    pub(crate) fn encode(&self) -> [u8; CLIENT_HELLO_LEN] {
        let mut b = [0u8; CLIENT_HELLO_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10] = wakeup_raw(self.wakeup);
        b[11] = self.via;
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16..24].copy_from_slice(&self.max_message.to_le_bytes());
        b[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        b[32..40].copy_from_slice(&self.spin_budget_ns.to_le_bytes());
        b[40..44].copy_from_slice(&self.flags.to_le_bytes());
        b[44..60].copy_from_slice(&self.boot_id);
        b
    }

    /// Parses and validates a client hello.
    ///
    /// # Errors
    /// A [`HandshakeError`] naming the first field that is wrong.
    pub(crate) fn decode(b: &[u8]) -> Result<ClientHello, HandshakeError> {
        check_prefix(b, CLIENT_HELLO_LEN)?;
        let via = b[11];
        if via != VIA_UNIX && via != VIA_TCP {
            return Err(HandshakeError::BadField {
                field: "via",
                value: u64::from(via),
                why: "neither a UNIX socket nor TCP",
            });
        }
        let hello = ClientHello {
            via,
            wakeup: wakeup_from(b[10])?,
            pid: u32_at(b, 12),
            max_message: u64_at(b, 16),
            capacity: u64_at(b, 24),
            spin_budget_ns: u64_at(b, 32),
            flags: u32_at(b, 40),
            boot_id: {
                let mut id = [0u8; 16];
                id.copy_from_slice(&b[44..60]);
                id
            },
        };
        check_geometry(hello.capacity, hello.max_message)?;
        Ok(hello)
    }
}

impl ServerHello {
    /// A hello with `status` and every other field zero.
    pub(crate) fn bare(status: Status) -> ServerHello {
        ServerHello {
            status,
            wakeup: None,
            pid: std::process::id(),
            max_message: 0,
            capacity: 0,
            spin_budget_ns: 0,
            liveness_ns: 0,
            boot_id: [0; 16],
            detail: 0,
            path: Vec::new(),
        }
    }

    /// The hello's bytes: the fixed part, then the path.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; SERVER_HELLO_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10] = self.status.raw();
        b[11] = wakeup_raw(self.wakeup);
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16..24].copy_from_slice(&self.max_message.to_le_bytes());
        b[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        b[32..40].copy_from_slice(&self.spin_budget_ns.to_le_bytes());
        b[40..48].copy_from_slice(&self.liveness_ns.to_le_bytes());
        b[48..64].copy_from_slice(&self.boot_id);
        b[64..68].copy_from_slice(&self.detail.to_le_bytes());
        let path = &self.path[..self.path.len().min(MAX_PATH)];
        b[68..70].copy_from_slice(&(path.len() as u16).to_le_bytes());
        b.extend_from_slice(path);
        b
    }

    /// Parses the fixed part of a server hello; returns it (with an empty path)
    /// and the length of the path that follows.
    ///
    /// # Errors
    /// A [`HandshakeError`] naming the first field that is wrong.
    pub(crate) fn decode_fixed(b: &[u8]) -> Result<(ServerHello, usize), HandshakeError> {
        check_prefix(b, SERVER_HELLO_LEN)?;
        let status = Status::from_raw(b[10]).ok_or(HandshakeError::BadField {
            field: "status",
            value: u64::from(b[10]),
            why: "not a known status",
        })?;
        let path_len = usize::from(u16_at(b, 68));
        if path_len > MAX_PATH || (status != Status::Upgrade && path_len != 0) {
            return Err(HandshakeError::BadField {
                field: "path length",
                value: path_len as u64,
                why: "longer than a socket path, or present without an upgrade",
            });
        }
        let mut boot_id = [0u8; 16];
        boot_id.copy_from_slice(&b[48..64]);
        let hello = ServerHello {
            status,
            wakeup: wakeup_from(b[11])?,
            pid: u32_at(b, 12),
            max_message: u64_at(b, 16),
            capacity: u64_at(b, 24),
            spin_budget_ns: u64_at(b, 32),
            liveness_ns: u64_at(b, 40),
            boot_id,
            detail: u32_at(b, 64),
            path: Vec::new(),
        };
        if status == Status::Accepted {
            if hello.max_message == 0 || hello.max_message > MAX_RING / 2 {
                return Err(HandshakeError::BadField {
                    field: "max_message",
                    value: hello.max_message,
                    why: "zero, or larger than any ring",
                });
            }
            if hello.liveness_ns < 1_000_000 || hello.liveness_ns > 60_000_000_000 {
                return Err(HandshakeError::BadField {
                    field: "liveness interval",
                    value: hello.liveness_ns,
                    why: "outside 1 ms ..= 60 s",
                });
            }
        }
        Ok((hello, path_len))
    }

    /// Parses a whole server hello (fixed part and path).
    ///
    /// # Errors
    /// A [`HandshakeError`] naming the first field that is wrong, or
    /// [`HandshakeError::Truncated`] when the path is cut short. (The client
    /// reads the fixed part and the path separately; the fuzz target and the
    /// tests parse whole hellos.)
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn decode(b: &[u8]) -> Result<ServerHello, HandshakeError> {
        let (mut hello, path_len) = Self::decode_fixed(b)?;
        let end = SERVER_HELLO_LEN + path_len;
        if b.len() < end {
            return Err(HandshakeError::Truncated {
                got: b.len(),
                expected: end,
            });
        }
        hello.path = b[SERVER_HELLO_LEN..end].to_vec();
        Ok(hello)
    }
}

/// Length of a TCP frame header.
pub(crate) const FRAME_HEADER: usize = 8;
/// Frame kind: a message.
pub(crate) const FRAME_DATA: u32 = 0;
/// Frame kind: the sender closed its end (nothing follows).
pub(crate) const FRAME_CLOSE: u32 = 1;
/// Frame kind: a connection's control record (a transport switch), never a
/// user message; at most [`MAX_CONTROL`] bytes follow.
pub(crate) const FRAME_CONTROL: u32 = 2;
/// Largest control frame payload (the same bound as a ring's control record).
pub(crate) const MAX_CONTROL: usize = 512;

/// A decoded TCP frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A message of this many bytes follows.
    Data(usize),
    /// The peer closed its sending end.
    Close,
    /// A control record of this many bytes follows.
    Control(usize),
}

/// Encodes a frame header.
pub(crate) fn encode_frame(frame: Frame) -> [u8; FRAME_HEADER] {
    let (len, kind) = match frame {
        Frame::Data(len) => (len as u32, FRAME_DATA),
        Frame::Close => (0, FRAME_CLOSE),
        Frame::Control(len) => (len as u32, FRAME_CONTROL),
    };
    let mut b = [0u8; FRAME_HEADER];
    b[..4].copy_from_slice(&len.to_le_bytes());
    b[4..].copy_from_slice(&kind.to_le_bytes());
    b
}

/// Decodes a frame header, refusing a length above `max_message` before
/// anything is allocated for it.
///
/// # Errors
/// A description of what is wrong: unknown kind, a close frame with a length,
/// or a length above the maximum.
pub(crate) fn decode_frame(b: &[u8; FRAME_HEADER], max_message: usize) -> Result<Frame, String> {
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let kind = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    match kind {
        FRAME_DATA if (len as usize) <= max_message => Ok(Frame::Data(len as usize)),
        FRAME_DATA => Err(format!(
            "frame length {len} exceeds the connection's maximum message of {max_message} bytes"
        )),
        FRAME_CLOSE if len == 0 => Ok(Frame::Close),
        FRAME_CLOSE => Err(format!("close frame with length {len}")),
        FRAME_CONTROL if (len as usize) <= MAX_CONTROL => Ok(Frame::Control(len as usize)),
        FRAME_CONTROL => Err(format!(
            "control frame length {len} exceeds the maximum of {MAX_CONTROL} bytes"
        )),
        other => Err(format!("unknown frame kind {other} (length {len})")),
    }
}

/// This kernel's boot id: equal on both ends means one host (one kernel), so
/// shared memory can work. All zero when unknown, which never matches.
pub(crate) fn boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    if let Ok(text) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        for (i, pair) in hex.chunks_exact(2).take(16).enumerate() {
            let s = std::str::from_utf8(pair).unwrap_or("00");
            id[i] = u8::from_str_radix(s, 16).unwrap_or(0);
        }
    }
    id
}
