//! What a snapshot says about itself: how it was taken ([`Capture`],
//! [`Taken`], [`DecodeOptions`]) and what in the table could not be
//! trusted ([`Damage`]).

#[cfg(doc)]
use super::Snapshot;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of problem a [`Damage`] entry reports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DamageKind {
    /// A value no runtime writes: a pointer outside its section or into the
    /// middle of a record, a status out of range, a chain that loops.
    Corrupt,
    /// Two values disagree in a frozen or saved capture: the runtime broke
    /// an invariant, or a frozen thread was in the middle of an update.
    Inconsistent,
    /// Two values disagree in a live capture: most likely the target
    /// changed one of them while the table was copied (a torn live read).
    Torn,
}

/// Something in the table that could not be trusted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    /// Where: "g 12 (goroutine 40).waiting", "hchan 3 recvq", "sched.pidle".
    pub place: String,
    pub message: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            DamageKind::Corrupt => "corrupt",
            DamageKind::Inconsistent => "inconsistent",
            DamageKind::Torn => "torn live read",
        };
        write!(f, "{}: {} ({k})", self.place, self.message)
    }
}

/// How the table was captured.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Capture {
    /// Read while the target ran: values may be torn.
    #[default]
    Live,
    /// Read while every thread was stopped; `pause_us` is how long they were.
    Frozen { pause_us: u64 },
    /// Decoded from a saved raw table.
    Saved,
}

/// When and how a snapshot was taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Taken {
    pub capture: Capture,
    /// Wall-clock time of the decode, ns since the Unix epoch.
    pub wall_unix_ns: u64,
    /// CLOCK_MONOTONIC "now" that wait durations are measured against.
    pub mono_ns: u64,
    /// Time spent decoding records, and the wait-for analysis, in microseconds.
    pub decode_us: u64,
    pub waitfor_us: u64,
    /// Decode time by phase ("g", "m+p", "chan", "sudog", "lock+sched", "heap"), in microseconds.
    /// When a helper thread decoded "chan", "sudog" and "heap" (a large
    /// table), those overlap "g" and "m+p": the sum exceeds `decode_us`.
    pub phases_us: Vec<(String, u64)>,
}

/// Options for [`Snapshot::decode`].
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Keep Gidle and Gdead goroutines too.
    pub include_dead: bool,
    pub capture: Capture,
    /// CLOCK_MONOTONIC ns to measure wait durations against (default: now;
    /// for a saved table, the capture time stored with it).
    pub now_mono_ns: Option<u64>,
}
