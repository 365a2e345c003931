//! Identifiers: [`RecordingId`] names one recording, [`TraceId`] one distributed flow.
//!
//! A recording id is 128 bits: the top 48 are the start time in milliseconds since the
//! Unix epoch and the low 80 are random, so ids sort by start time and two pods that
//! share a volume never collide. It prints as 26 characters of Crockford base32 (the
//! ULID alphabet), so a short prefix of the printed form names a recording the way a
//! short hash names a git commit.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The length of a printed [`RecordingId`].
pub const RECORDING_ID_LEN: usize = 26;

/// A 128-bit, time-sortable identifier of one recording.
///
/// ```
/// use retrace::RecordingId;
/// let id = RecordingId::new();
/// let text = id.to_string();
/// assert_eq!(text.len(), retrace::RECORDING_ID_LEN);
/// assert_eq!(text.parse::<RecordingId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordingId(u128);

impl RecordingId {
    /// A fresh id for a recording starting now.
    pub fn new() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self::from_parts(ms, rand::random::<u128>())
    }

    /// Builds an id from a millisecond timestamp and random bits (only the low 80 are used).
    pub fn from_parts(unix_ms: u64, random: u128) -> Self {
        let ts = (unix_ms as u128 & ((1 << 48) - 1)) << 80;
        Self(ts | (random & ((1 << 80) - 1)))
    }

    /// The raw 128-bit value.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Wraps a raw 128-bit value.
    pub fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The start time encoded in the id, in milliseconds since the Unix epoch.
    pub fn unix_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// Writes the 26-character form into `out`.
    pub(crate) fn encode(self, out: &mut [u8; RECORDING_ID_LEN]) {
        let mut v = self.0;
        for slot in out.iter_mut().rev() {
            *slot = CROCKFORD[(v & 31) as usize];
            v >>= 5;
        }
    }
}

impl Default for RecordingId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; RECORDING_ID_LEN];
        self.encode(&mut buf);
        // The alphabet is ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for RecordingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordingId({self})")
    }
}

/// Why a string is not a recording id or a trace id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text has the wrong length.
    #[error("{kind} {text:?} has {found} characters, expected {expected}")]
    Length {
        /// What was being parsed.
        kind: &'static str,
        /// The text as given.
        text: String,
        /// Its length.
        found: usize,
        /// The length required.
        expected: usize,
    },
    /// The text has a character outside the alphabet.
    #[error("{kind} {text:?} has an invalid character {ch:?}")]
    Character {
        /// What was being parsed.
        kind: &'static str,
        /// The text as given.
        text: String,
        /// The first offending character.
        ch: char,
    },
    /// The value is reserved (all zeros, or an id above 128 bits).
    #[error("{kind} {text:?} is not a valid value: {reason}")]
    Invalid {
        /// What was being parsed.
        kind: &'static str,
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The value of one Crockford base32 character, accepting lower case and the usual
/// look-alikes (I and L for 1, O for 0).
pub(crate) fn crockford_value(c: u8) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        b'I' | b'L' => b'1',
        b'O' => b'0',
        other => other,
    };
    CROCKFORD.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Normalises a (possibly partial) recording id as typed by a person: upper case, with
/// look-alike letters mapped. Returns `None` when a character is not in the alphabet.
pub fn normalize_id_prefix(text: &str) -> Option<String> {
    text.bytes()
        .map(|b| crockford_value(b).map(|v| CROCKFORD[v as usize] as char))
        .collect()
}

impl FromStr for RecordingId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const KIND: &str = "recording id";
        if s.len() != RECORDING_ID_LEN {
            return Err(IdError::Length {
                kind: KIND,
                text: s.to_owned(),
                found: s.chars().count(),
                expected: RECORDING_ID_LEN,
            });
        }
        let mut v: u128 = 0;
        for (i, b) in s.bytes().enumerate() {
            let d = crockford_value(b).ok_or_else(|| IdError::Character {
                kind: KIND,
                text: s.to_owned(),
                ch: char_at(s, i),
            })?;
            if i == 0 && d > 7 {
                return Err(IdError::Invalid {
                    kind: KIND,
                    text: s.to_owned(),
                    reason: "it exceeds 128 bits",
                });
            }
            v = (v << 5) | d as u128;
        }
        Ok(Self(v))
    }
}

/// A W3C trace id: 16 bytes, never all zero, printed as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TraceId([u8; 16]);

/// A W3C parent (span) id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SpanId([u8; 8]);

impl TraceId {
    /// A random, non-zero trace id.
    pub fn random() -> Self {
        loop {
            let v: u128 = rand::random();
            if v != 0 {
                return Self(v.to_be_bytes());
            }
        }
    }

    /// Wraps 16 bytes; `None` when they are all zero (invalid in W3C trace context).
    pub fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        (bytes != [0; 16]).then_some(Self(bytes))
    }

    /// The 16 bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Whether `hex` is this id's 32 hex digits (in either case), without allocating.
    pub fn eq_hex(self, hex: &str) -> bool {
        fn digit(b: u8) -> Option<u8> {
            (b as char).to_digit(16).map(|d| d as u8)
        }
        let hex = hex.as_bytes();
        hex.len() == 32
            && self.0.iter().enumerate().all(|(i, byte)| {
                matches!(
                    (digit(hex[2 * i]), digit(hex[2 * i + 1])),
                    (Some(hi), Some(lo)) if hi << 4 | lo == *byte
                )
            })
    }

    /// The low 64 bits, the part the ratio sampler decides on (as OpenTelemetry does).
    pub fn low_u64(self) -> u64 {
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }
}

impl SpanId {
    /// A random, non-zero span id.
    pub fn random() -> Self {
        loop {
            let v: u64 = rand::random();
            if v != 0 {
                return Self(v.to_be_bytes());
            }
        }
    }

    /// Wraps 8 bytes; `None` when they are all zero.
    pub fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        (bytes != [0; 8]).then_some(Self(bytes))
    }

    /// The 8 bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0
    }
}

/// The character starting at byte `i`, or U+FFFD when `i` falls inside one.
fn char_at(s: &str, i: usize) -> char {
    s.get(i..)
        .and_then(|t| t.chars().next())
        .unwrap_or('\u{fffd}')
}

/// Writes lower-case hex in one call (trace ids are formatted on every outgoing call).
fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    let mut buf = [0u8; 32];
    let n = bytes.len().min(16);
    hex_into(&mut buf[..2 * n], &bytes[..n]);
    f.write_str(std::str::from_utf8(&buf[..2 * n]).map_err(|_| fmt::Error)?)
}

/// Writes `bytes` as lower-case hex into `out` (two digits a byte, as far as both go).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[(b >> 4) as usize];
        pair[1] = DIGITS[(b & 15) as usize];
    }
}

fn parse_hex<const N: usize>(kind: &'static str, s: &str) -> Result<[u8; N], IdError> {
    if s.len() != N * 2 {
        return Err(IdError::Length {
            kind,
            text: s.to_owned(),
            found: s.chars().count(),
            expected: N * 2,
        });
    }
    let mut out = [0u8; N];
    let bytes = s.as_bytes();
    for (i, slot) in out.iter_mut().enumerate() {
        let hi = hex_value(bytes[2 * i]);
        let lo = hex_value(bytes[2 * i + 1]);
        match (hi, lo) {
            (Some(hi), Some(lo)) => *slot = (hi << 4) | lo,
            _ => {
                let bad = if hi.is_none() { 2 * i } else { 2 * i + 1 };
                return Err(IdError::Character {
                    kind,
                    text: s.to_owned(),
                    ch: char_at(s, bad),
                });
            }
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

impl FromStr for TraceId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = parse_hex::<16>("trace id", s)?;
        Self::from_bytes(bytes).ok_or(IdError::Invalid {
            kind: "trace id",
            text: s.to_owned(),
            reason: "all zeros",
        })
    }
}

impl FromStr for SpanId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = parse_hex::<8>("span id", s)?;
        Self::from_bytes(bytes).ok_or(IdError::Invalid {
            kind: "span id",
            text: s.to_owned(),
            reason: "all zeros",
        })
    }
}

/// A parsed W3C `traceparent` header: `00-<trace id>-<parent id>-<flags>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceParent {
    /// The trace this request belongs to.
    pub trace_id: TraceId,
    /// The caller's span.
    pub parent_id: SpanId,
    /// The trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// A new root context with a random trace id and span id.
    pub fn new_root() -> Self {
        Self {
            trace_id: TraceId::random(),
            parent_id: SpanId::random(),
            flags: 0,
        }
    }

    /// Whether the upstream marked the trace as sampled.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// The length of a version 00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

impl TraceParent {
    /// The version 00 header value, `00-<32 hex>-<16 hex>-<2 hex>`, as ASCII bytes
    /// (what [`Display`](fmt::Display) prints), without going through `fmt`: it is
    /// written on every recorded outgoing call.
    pub fn to_header_bytes(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = *b"00-________________________________-________________-__";
        hex_into(&mut out[3..35], &self.trace_id.0);
        hex_into(&mut out[36..52], &self.parent_id.0);
        hex_into(&mut out[53..55], &[self.flags]);
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_header_bytes();
        // Only ASCII digits, letters and dashes: this cannot fail.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

impl FromStr for TraceParent {
    type Err = IdError;

    /// Parses version 00 exactly and, as the W3C spec asks, later versions by their
    /// first four fields; version `ff` is invalid.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const KIND: &str = "traceparent";
        let invalid = |reason| IdError::Invalid {
            kind: KIND,
            text: s.to_owned(),
            reason,
        };
        let s_trim = s.trim();
        let mut parts = s_trim.split('-');
        let version = parts.next().ok_or_else(|| invalid("missing version"))?;
        let version = parse_hex::<1>(KIND, version).map_err(|_| invalid("bad version"))?[0];
        if version == 0xff {
            return Err(invalid("version ff is forbidden"));
        }
        let trace_id: TraceId = parts
            .next()
            .ok_or_else(|| invalid("missing trace id"))?
            .parse()?;
        let parent_id: SpanId = parts
            .next()
            .ok_or_else(|| invalid("missing parent id"))?
            .parse()?;
        let flags = parts.next().ok_or_else(|| invalid("missing flags"))?;
        let flags = parse_hex::<1>(KIND, flags).map_err(|_| invalid("bad flags"))?[0];
        if version == 0 && parts.next().is_some() {
            return Err(invalid("version 00 has exactly four fields"));
        }
        Ok(Self {
            trace_id,
            parent_id,
            flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_id_round_trips_and_sorts_by_time() {
        let a = RecordingId::from_parts(1_000, u128::MAX);
        let b = RecordingId::from_parts(1_001, 0);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().parse::<RecordingId>().unwrap(), a);
        assert_eq!(b.unix_ms(), 1_001);
        let max = RecordingId::from_u128(u128::MAX);
        assert_eq!(max.to_string(), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(max.to_string().parse::<RecordingId>().unwrap(), max);
    }

    #[test]
    fn recording_id_errors_name_the_problem() {
        let err = "abc".parse::<RecordingId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "recording id \"abc\" has 3 characters, expected 26"
        );
        let err = "0000000000000000000000000U"
            .parse::<RecordingId>()
            .unwrap_err();
        assert!(err.to_string().contains("invalid character 'U'"), "{err}");
        let err = "8ZZZZZZZZZZZZZZZZZZZZZZZZZ"
            .parse::<RecordingId>()
            .unwrap_err();
        assert!(err.to_string().contains("exceeds 128 bits"), "{err}");
    }

    #[test]
    fn prefix_normalisation_accepts_lookalikes() {
        assert_eq!(normalize_id_prefix("01hol").as_deref(), Some("01H01"));
        assert_eq!(normalize_id_prefix("01u"), None);
    }

    #[test]
    fn traceparent_round_trips() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp: TraceParent = text.parse().unwrap();
        assert!(tp.sampled());
        assert_eq!(tp.to_string(), text);
        assert_eq!(&tp.to_header_bytes()[..], text.as_bytes());
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn traceparent_rejects_bad_input() {
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad:?} parsed");
        }
        // A future version may carry more fields.
        assert!(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
                .parse::<TraceParent>()
                .is_ok()
        );
    }
}

/// Identifies a capture (see [`policy::CaptureSpec`](crate::policy::CaptureSpec)): 64
/// random bits, printed as 16 lower-case hex digits. Random rather than counted, so two
/// pods' captures never share an id in a shared store.
///
/// ```
/// use retrace::CaptureId;
/// let id = CaptureId::random();
/// assert_eq!(id.to_string().parse::<CaptureId>().unwrap(), id);
/// assert!("c0ffee".parse::<CaptureId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CaptureId(pub u64);

impl CaptureId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for CaptureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for CaptureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaptureId({self})")
    }
}

impl FromStr for CaptureId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, IdError> {
        if text.len() != 16 {
            return Err(IdError::Length {
                kind: "capture id",
                text: text.to_owned(),
                found: text.len(),
                expected: 16,
            });
        }
        if let Some(ch) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(IdError::Character {
                kind: "capture id",
                text: text.to_owned(),
                ch,
            });
        }
        u64::from_str_radix(text, 16)
            .map(Self)
            .map_err(|_| IdError::Character {
                kind: "capture id",
                text: text.to_owned(),
                ch: '?',
            })
    }
}
