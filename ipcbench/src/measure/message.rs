//! Message layout shared by both processes.
//!
//! Byte 0 of every measured message is a marker ([`DATA`], [`START`],
//! [`LAST`]) that drives the protocol; the last byte holds the low byte of
//! the sequence number. With `--verify` the bytes after the marker carry the
//! sequence number (8 bytes LE, truncated if the message is shorter) and, above
//! 18 bytes, a checksum of the bytes between it and the last byte, which is filled per message from the
//! sequence number so stale or mixed-up data is caught.

pub(crate) const DATA: u8 = 0;
pub(crate) const LAST: u8 = 1;
pub(crate) const START: u8 = 2;

/// Length of a control message: `[kind u64][count u64][checksum u64]`.
pub(crate) const CONTROL_LEN: usize = 24;
/// Control kind: a flow-control credit (count = messages received so far).
pub(crate) const CREDIT: u64 = 1;
/// Control kind: the final acknowledgement (count and checksum of the
/// counted messages).
pub(crate) const FINAL: u64 = 2;

const HEADER: usize = 17;

/// Initial contents of a send buffer: a non-trivial pattern.
pub(crate) fn pattern(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
        .collect()
}

/// Write marker and sequence number (and with `verify`, the payload and
/// checksum) into `buf` before sending it.
#[inline]
pub(crate) fn stamp(buf: &mut [u8], marker: u8, seq: u64, verify: bool) {
    let len = buf.len();
    if verify {
        let seq_bytes = seq.to_le_bytes();
        let n = seq_len(len);
        buf[1..1 + n].copy_from_slice(&seq_bytes[..n]);
        if len > HEADER + 1 {
            let start = seq as u8;
            for (i, b) in buf[HEADER..len - 1].iter_mut().enumerate() {
                *b = start.wrapping_add(i as u8);
            }
            let sum = checksum(&buf[HEADER..len - 1]);
            buf[9..HEADER].copy_from_slice(&sum.to_le_bytes());
        }
    }
    buf[len - 1] = seq as u8;
    buf[0] = marker;
}

/// Check a received message against the expected sequence number; returns
/// a description of the first problem found.
pub(crate) fn check(msg: &[u8], seq: u64, verify: bool) -> Result<(), String> {
    let len = msg.len();
    if msg[0] > START {
        return Err(format!("message {seq}: bad marker {}", msg[0]));
    }
    if len > 1 && msg[len - 1] != seq as u8 {
        return Err(format!(
            "message {seq}: last byte {} != {}",
            msg[len - 1],
            seq as u8
        ));
    }
    if verify {
        let n = seq_len(len);
        let mut got = [0u8; 8];
        got[..n].copy_from_slice(&msg[1..1 + n]);
        let want = seq.to_le_bytes();
        if got[..n] != want[..n] {
            return Err(format!(
                "message {seq}: sequence number {}",
                u64::from_le_bytes(got)
            ));
        }
        if len > HEADER + 1 {
            let mut sum = [0u8; 8];
            sum.copy_from_slice(&msg[9..HEADER]);
            if u64::from_le_bytes(sum) != checksum(&msg[HEADER..len - 1]) {
                return Err(format!("message {seq}: checksum mismatch"));
            }
        }
    }
    Ok(())
}

/// Sequence-number bytes that fit between the marker and the last byte.
fn seq_len(len: usize) -> usize {
    len.saturating_sub(2).min(8)
}

/// FNV-1a over the payload (only used with `--verify`).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Per-message digest for the final acknowledgement: one byte of every
/// 64-byte line, the last byte and the length. Both sides fold it over the
/// counted messages. Reading every line is deliberate: a receiver consumes
/// its data, so a zero-copy read must pay for pulling each line across
/// cores, as a copy does; reading only a header would flatter it.
#[inline]
pub(crate) fn digest(msg: &[u8]) -> u64 {
    let mut acc = msg.len() as u64;
    for &b in msg.iter().step_by(64) {
        acc = acc.wrapping_mul(31).wrapping_add(b as u64);
    }
    acc.wrapping_mul(31).wrapping_add(msg[msg.len() - 1] as u64)
}

#[inline]
pub(crate) fn fold(acc: u64, digest: u64) -> u64 {
    acc.wrapping_mul(0x100_0000_01b3).wrapping_add(digest)
}

pub(crate) fn control(kind: u64, count: u64, sum: u64) -> [u8; CONTROL_LEN] {
    let mut b = [0u8; CONTROL_LEN];
    b[..8].copy_from_slice(&kind.to_le_bytes());
    b[8..16].copy_from_slice(&count.to_le_bytes());
    b[16..].copy_from_slice(&sum.to_le_bytes());
    b
}

pub(crate) fn parse_control(b: &[u8]) -> (u64, u64, u64) {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    (word(0), word(1), word(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_then_check_round_trips_for_all_small_sizes() {
        for size in 1..80 {
            for verify in [false, true] {
                let mut b = pattern(size);
                stamp(&mut b, DATA, 300 + size as u64, verify);
                assert_eq!(
                    check(&b, 300 + size as u64, verify),
                    Ok(()),
                    "size {size} verify {verify}"
                );
            }
        }
    }

    #[test]
    fn verify_catches_corruption_and_wrong_sequence() {
        let mut b = pattern(64);
        stamp(&mut b, DATA, 5, true);
        assert!(check(&b, 6, true).is_err());
        b[40] ^= 1;
        assert!(check(&b, 5, true).unwrap_err().contains("checksum"));
    }

    #[test]
    fn control_round_trips() {
        assert_eq!(
            parse_control(&control(FINAL, 7, u64::MAX)),
            (FINAL, 7, u64::MAX)
        );
    }
}
