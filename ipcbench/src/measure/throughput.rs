//! One-way streaming: the parent ([`stream`]) sends messages for a warm-up,
//! then a [`START`] message, data for `duration`, and a [`LAST`] message; the
//! child ([`sink`]) counts from START to LAST and answers with a [`FINAL`]
//! control message (count and digest). The parent's clock runs from before
//! START until that acknowledgement arrives, so nothing still in flight is
//! counted as delivered.

use super::message::{self, CONTROL_LEN, CREDIT, DATA, FINAL, LAST, START};
use super::Ended;
use super::Endpoint;
use crate::stop::should_stop;
use std::time::{Duration, Instant};

/// What the parent's stream produced.
pub(crate) struct StreamRun {
    /// Messages sent in the measured phase (START..=LAST).
    pub(crate) messages: u64,
    /// From before START until the acknowledgement (or until it stopped).
    pub(crate) elapsed: Duration,
    /// Whether the child confirmed exactly `messages` with the right digest.
    pub(crate) confirmed: bool,
    pub(crate) ended: Ended,
}

struct Sender<'a, E: ?Sized> {
    ep: &'a mut E,
    tx: Vec<u8>,
    verify: bool,
    window: Option<u64>,
    seq: u64,
    acked: u64,
}

impl<E: Endpoint + ?Sized> Sender<'_, E> {
    fn send(&mut self, marker: u8) -> Result<(), Ended> {
        if let Some(w) = self.window {
            while self.seq - self.acked >= w {
                let (kind, count, _) = self.control()?;
                if kind == CREDIT {
                    self.acked = count;
                }
            }
        }
        message::stamp(&mut self.tx, marker, self.seq, self.verify);
        self.ep.send(&self.tx)?;
        self.seq += 1;
        Ok(())
    }

    fn control(&mut self) -> Result<(u64, u64, u64), Ended> {
        let mut c = (0, 0, 0);
        self.ep
            .recv_with(CONTROL_LEN, &mut |m| c = message::parse_control(m))?;
        Ok(c)
    }
}

/// Stream messages of `size` bytes. `window`: see `Transport::flow_window`.
pub(crate) fn stream<E: Endpoint + ?Sized>(
    ep: &mut E,
    size: usize,
    warmup: Duration,
    duration: Duration,
    verify: bool,
    window: Option<u64>,
) -> StreamRun {
    let mut s = Sender {
        ep,
        tx: message::pattern(size),
        verify,
        window,
        seq: 0,
        acked: 0,
    };
    // Check the clock only every `batch` messages: a clock read costs about
    // as much as a whole small message on the fastest transport.
    let batch = (65536 / size).clamp(1, 64);
    let mut messages = 0u64;
    let mut first = 0u64;
    let mut t0 = Instant::now();
    let mut run = || -> Result<(u64, u64), Ended> {
        let warm_end = Instant::now() + warmup;
        while Instant::now() < warm_end {
            for _ in 0..batch {
                s.send(DATA)?;
            }
        }
        t0 = Instant::now();
        let end = t0 + duration;
        first = s.seq;
        s.send(START)?;
        messages = 1;
        while Instant::now() < end {
            if should_stop() {
                return Err(Ended::Stopped);
            }
            for _ in 0..batch {
                s.send(DATA)?;
                messages += 1;
            }
        }
        s.send(LAST)?;
        messages += 1;
        loop {
            let (kind, count, their_sum) = s.control()?;
            if kind == FINAL {
                return Ok((count, their_sum));
            }
        }
    };
    let result = run();
    let elapsed = t0.elapsed();
    // Check the acknowledgement after the clock stopped: rebuild what was
    // sent (the same stamps) and fold the same digests the receiver folded.
    let result = result.map(|(count, their_sum)| {
        count == messages && their_sum == expected_sum(size, first, messages, verify)
    });
    match result {
        Ok(confirmed) => StreamRun {
            messages,
            elapsed,
            confirmed,
            ended: Ended::Done,
        },
        Err(ended) => StreamRun {
            messages,
            elapsed,
            confirmed: false,
            ended,
        },
    }
}

/// The digest fold of `messages` messages starting at sequence `first`
/// (START, DATA..., LAST), as the receiver computes it.
fn expected_sum(size: usize, first: u64, messages: u64, verify: bool) -> u64 {
    let mut tx = message::pattern(size);
    let mut sum = 0;
    for i in 0..messages {
        let marker = match i {
            0 => START,
            i if i + 1 == messages => LAST,
            _ => DATA,
        };
        message::stamp(&mut tx, marker, first + i, verify);
        sum = message::fold(sum, message::digest(&tx));
    }
    sum
}

/// What the child's sink saw.
pub(crate) struct SinkRun {
    /// All messages received, warm-up included.
    pub(crate) received: u64,
    /// Messages counted (START..=LAST).
    pub(crate) counted: u64,
    pub(crate) ended: Ended,
}

/// Receive until [`LAST`], checking every message, then acknowledge.
pub(crate) fn sink<E: Endpoint + ?Sized>(
    ep: &mut E,
    size: usize,
    verify: bool,
    window: Option<u64>,
) -> SinkRun {
    let credit_every = window.map(|w| (w / 2).max(1));
    let (mut received, mut counted, mut sum, mut counting) = (0u64, 0u64, 0u64, false);
    let ended = loop {
        let (mut marker, mut d, mut bad) = (DATA, 0, None);
        let r = ep.recv_with(size, &mut |m| {
            marker = m[0];
            d = message::digest(m);
            bad = message::check(m, received, verify).err();
        });
        if let Err(e) = r {
            break e.into();
        }
        if let Some(e) = bad {
            break Ended::Failed(format!("stream: {e}"));
        }
        received += 1;
        if marker == START {
            (counting, counted, sum) = (true, 0, 0);
        }
        if counting {
            counted += 1;
            sum = message::fold(sum, d);
        }
        if marker == LAST {
            break match ep.send(&message::control(FINAL, counted, sum)) {
                Ok(()) => Ended::Done,
                Err(e) => e.into(),
            };
        }
        if let Some(k) = credit_every {
            if received.is_multiple_of(k) {
                if let Err(e) = ep.send(&message::control(CREDIT, received, 0)) {
                    break e.into();
                }
            }
        }
    };
    SinkRun {
        received,
        counted,
        ended,
    }
}
