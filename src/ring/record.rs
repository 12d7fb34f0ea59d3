//! Record framing.
//!
//! Every record starts at an 8-byte aligned position with one 64-bit commit word;
//! the payload follows, so it is 8-byte aligned too.
//!
//! ```text
//! commit word = (tag << 32) | len        tag = 0x8000_0000 | (lap & 0x7fff_ffff)
//! lap         = position >> log2(capacity)
//! len         = payload bytes, or PADDING: skip to the end of the lap,
//!               or CONTROL_BIT | payload bytes: a connection's control record
//! ```
//!
//! The consumer polls the commit word at its position; the producer stores it last,
//! with release ordering, so one cache line carries both the "ready" signal and,
//! for small messages, the payload. The tag says which lap wrote the word:
//! a zero word or a previous lap's header means "not yet", and before publishing a
//! record the producer zeroes the word just past it (whenever that word is free
//! space), so stale payload bytes are never read as a header.

/// `len` value of a padding record.
pub(crate) const PADDING: u32 = u32::MAX;
/// Set in `len` for a control record: a connection's own record (a transport
/// switch), never a user message; the payload length is in the other bits
/// and at most [`MAX_CONTROL`].
pub(crate) const CONTROL_BIT: u32 = 1 << 31;
/// Largest control record payload.
pub(crate) const MAX_CONTROL: u32 = 512;
const TAG_BIT: u32 = 1 << 31;

/// The tag of a record written at free-running position `pos`.
#[inline(always)]
pub(crate) fn tag(pos: u64, cap_log2: u32) -> u32 {
    TAG_BIT | ((pos >> cap_log2) as u32 & !TAG_BIT)
}

/// The commit word for a record of `len` at `pos`.
#[inline(always)]
pub(crate) fn encode(pos: u64, cap_log2: u32, len: u32) -> u64 {
    (u64::from(tag(pos, cap_log2)) << 32) | u64::from(len)
}

/// What the consumer finds at its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    /// Nothing published here yet.
    Empty,
    /// Padding up to the end of the lap.
    Padding,
    /// A record with this payload length (not yet checked against limits).
    Record(u32),
    /// A control record with this payload length (not yet checked).
    Control(u32),
    /// A tag that no honest producer writes at this position.
    Foreign { found: u32, expected: u32 },
}

/// Classifies the commit word `word` read at position `pos`.
#[inline(always)]
pub(crate) fn decode(word: u64, pos: u64, cap_log2: u32) -> Word {
    if word == 0 {
        return Word::Empty;
    }
    let found = (word >> 32) as u32;
    let expected = tag(pos, cap_log2);
    if found == expected {
        match word as u32 {
            PADDING => Word::Padding,
            len if len & CONTROL_BIT != 0 => Word::Control(len & !CONTROL_BIT),
            len => Word::Record(len),
        }
    } else if found == tag(pos.wrapping_sub(1 << cap_log2), cap_log2) {
        // The header of the record one lap back: the ring was filled exactly up to
        // the consumer's previous position. Not yet written in this lap.
        Word::Empty
    } else {
        Word::Foreign { found, expected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_laps() {
        let log2 = 10;
        let w = encode(3 * 1024 + 64, log2, 42);
        assert_eq!(decode(w, 3 * 1024 + 64, log2), Word::Record(42));
        // One lap later the same word reads as "not yet".
        assert_eq!(decode(w, 4 * 1024 + 64, log2), Word::Empty);
        // Two laps later it is foreign.
        assert!(matches!(
            decode(w, 5 * 1024 + 64, log2),
            Word::Foreign { .. }
        ));
        assert_eq!(decode(0, 0, log2), Word::Empty);
        assert_eq!(decode(encode(8, log2, PADDING), 8, log2), Word::Padding);
        assert_eq!(
            decode(encode(8, log2, CONTROL_BIT | 40), 8, log2),
            Word::Control(40)
        );
    }

    #[test]
    fn tags_are_never_zero() {
        assert_ne!(tag(0, 6), 0);
        assert_ne!(tag(u64::MAX, 6), 0);
    }
}
