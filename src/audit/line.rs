//! One line of the log: the entry a caller gives, the line as written and read back,
//! sealing (hashing) a line and checking one on its own.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditError, GENESIS_HASH, MAX_LINE};

/// What happened, as a caller describes it; [`AuditLog::append`](super::AuditLog::append)
/// adds the sequence number, the time and the hashes.
///
/// ```
/// use retrace::AuditEntry;
///
/// let entry = AuditEntry::new("oncall", "captures.create")
///     .target("/checkout")
///     .detail(serde_json::json!({"rate": 0.5, "max_recordings": 50}));
/// assert_eq!(entry.outcome_text(), "ok");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    who: String,
    action: String,
    target: Option<String>,
    outcome: String,
    detail: Option<Value>,
}

impl AuditEntry {
    /// An entry saying that `who` (an API key's id, never the key itself, or
    /// `cli:<user>`) did `action` (`captures.create`, `recordings.read`…), with outcome
    /// `ok`.
    pub fn new(who: impl Into<String>, action: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            action: action.into(),
            target: None,
            outcome: "ok".to_owned(),
            detail: None,
        }
    }

    /// What the action applied to: a capture id, a recording id, a route, a directory.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// How it ended: `ok` (the default), `denied`, `limited`, `error`…
    pub fn outcome(mut self, outcome: impl Into<String>) -> Self {
        self.outcome = outcome.into();
        self
    }

    /// Anything else worth keeping, as JSON; `null` means none.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = (!detail.is_null()).then_some(detail);
        self
    }

    /// The outcome, as it will be written.
    pub fn outcome_text(&self) -> &str {
        &self.outcome
    }
}

/// A line of the log as read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditLine {
    /// Its position in the chain, from 1.
    pub seq: u64,
    /// When it was written: UTC, RFC 3339 with milliseconds.
    pub at: String,
    /// Who acted: a key id or `cli:<user>`.
    pub who: String,
    /// What they did.
    pub action: String,
    /// What it applied to.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// Anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// The previous line's hash, or [`GENESIS_HASH`].
    pub prev: String,
    /// This line's hash.
    pub hash: String,
}

/// Why a line breaks the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokenReason {
    /// The bytes are not JSON.
    NotJson(String),
    /// The JSON is not an audit line (a member is missing or of the wrong type).
    NotAuditLine(String),
    /// The last line has no newline: a write was interrupted, or the file was cut.
    Incomplete,
    /// The line is longer than [`MAX_LINE`].
    TooLong,
    /// `hash` is not the line's last member, so its content cannot be checked.
    HashNotLast,
    /// The hash does not match the line's content: the line was edited.
    HashMismatch,
    /// `seq` does not follow the previous line's.
    SeqGap {
        /// This line's seq.
        seq: u64,
        /// The previous line's seq.
        after: u64,
    },
    /// `prev` is not the previous line's hash.
    PrevMismatch {
        /// The previous line's file, when it is another file.
        file: Option<PathBuf>,
        /// The previous line's number in its file.
        line: u64,
    },
    /// The line with seq 1 has a `prev` other than [`GENESIS_HASH`].
    FirstPrevNotZero,
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson(e) => write!(f, "not JSON: {e}"),
            Self::NotAuditLine(e) => write!(f, "not an audit line: {e}"),
            Self::Incomplete => {
                f.write_str("incomplete (no newline): a write was interrupted or the file was cut")
            }
            Self::TooLong => write!(f, "longer than {MAX_LINE} bytes"),
            Self::HashNotLast => f.write_str("hash is not its last member"),
            Self::HashMismatch => f.write_str("hash does not match its content"),
            Self::SeqGap { seq, after } => write!(f, "seq {seq} follows {after}"),
            Self::PrevMismatch { file: None, line } => {
                write!(f, "prev does not match line {line}'s hash")
            }
            Self::PrevMismatch {
                file: Some(file),
                line,
            } => write!(
                f,
                "prev does not match the hash of {} line {line}",
                file.display()
            ),
            Self::FirstPrevNotZero => f.write_str("seq 1 has a prev other than 64 zeros"),
        }
    }
}

/// Where the chain stands: the last line's seq and hash (0 and zeros before any line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ChainEnd {
    pub(super) seq: u64,
    pub(super) hash: String,
}

impl ChainEnd {
    pub(super) fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// The line without its hash, in the order the format fixes.
#[derive(Serialize)]
struct Unsealed<'a> {
    seq: u64,
    at: &'a str,
    who: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    outcome: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a Value>,
    prev: &'a str,
}

/// `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// The line that follows `end`, newline included, and its chain position.
pub(super) fn seal(
    entry: &AuditEntry,
    end: &ChainEnd,
    at: &str,
) -> Result<(Vec<u8>, ChainEnd), AuditError> {
    let seq = end.seq + 1;
    let mut bytes = serde_json::to_vec(&Unsealed {
        seq,
        at,
        who: &entry.who,
        action: &entry.action,
        target: entry.target.as_deref(),
        outcome: &entry.outcome,
        detail: entry.detail.as_ref(),
        prev: &end.hash,
    })
    .map_err(AuditError::Encode)?;
    let hash = blake3::hash(&bytes).to_hex();
    bytes.pop(); // the closing brace
    bytes.extend_from_slice(b",\"hash\":\"");
    bytes.extend_from_slice(hash.as_bytes());
    bytes.extend_from_slice(b"\"}\n");
    if bytes.len() > MAX_LINE {
        return Err(AuditError::TooLong { len: bytes.len() });
    }
    let hash = hash.to_string();
    Ok((bytes, ChainEnd { seq, hash }))
}

/// Reads a line (without its newline) as an audit line.
pub(super) fn parse(raw: &[u8]) -> Result<AuditLine, BrokenReason> {
    serde_json::from_slice(raw).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BrokenReason::NotAuditLine(e.to_string()),
        _ => BrokenReason::NotJson(e.to_string()),
    })
}

/// Reads a line (without its newline) and checks its hash against its bytes.
pub(super) fn parse_and_check(raw: &[u8]) -> Result<AuditLine, BrokenReason> {
    let line = parse(raw)?;
    let Some(content_len) = raw.len().checked_sub(HASH_SUFFIX_LEN) else {
        return Err(BrokenReason::HashNotLast);
    };
    let (content, suffix) = raw.split_at(content_len);
    let mut expected_suffix = Vec::with_capacity(HASH_SUFFIX_LEN);
    expected_suffix.extend_from_slice(b",\"hash\":\"");
    expected_suffix.extend_from_slice(line.hash.as_bytes());
    expected_suffix.extend_from_slice(b"\"}");
    if suffix != expected_suffix {
        return Err(BrokenReason::HashNotLast);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(content);
    hasher.update(b"}");
    if hasher.finalize().to_hex().as_str() != line.hash {
        return Err(BrokenReason::HashMismatch);
    }
    Ok(line)
}

/// The seq of a line that cannot be parsed, when its start is still readable.
pub(super) fn sniff_seq(raw: &[u8]) -> Option<u64> {
    let rest = raw.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(rest.get(..digits)?).ok()?.parse().ok()
}
