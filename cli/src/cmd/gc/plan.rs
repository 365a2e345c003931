//! Deciding what retention deletes, apart from doing it, so `--dry-run` and the real run
//! print the same plan and the rules are testable without a file system.
//!
//! The unit is a closed segment (one with an index beside it): a segment still being
//! written is never touched, and recordings are never cut out of a segment, since that
//! would mean rewriting files a reader may hold. A segment's time is when its newest
//! recording ended, from its index (the file's modification time when it lists none),
//! so copying a store keeps its ages.
//!
//! Rules, in order:
//! 1. Age: each recording lives as long as its kind says: `--keep errors=30d,
//!    triggered=14d,sampled=7d` (errors: status 5xx, failed, or kept on error;
//!    triggered: asked for by a header, a parent, a flag, a window, a capture or the
//!    API; sampled: chosen by the sample rate), a kind not listed for `--max-age`, and
//!    errors under `--keep-errors-for` for the longer of it and `--max-age`. A segment
//!    goes when every recording in it has outlived its time (a segment that mixes
//!    kinds stays for its longest-lived recording: segments are never rewritten).
//! 2. `--max-bytes`: while the store is over the budget, the oldest remaining closed
//!    segments go, segments holding protected error recordings last. The budget is a
//!    hard limit; errors only go after everything else.

use std::time::UNIX_EPOCH;

use retrace::{RecordReason, Summary, store::SegmentInfo};

/// The retention settings, in microseconds and bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    /// The present.
    pub(crate) now_us: u64,
    /// Segments whose newest recording is older than this go.
    pub(crate) max_age_us: Option<u64>,
    /// The store's byte budget.
    pub(crate) max_bytes: Option<u64>,
    /// How long each kind of recording lives, when given (`--keep`).
    pub(crate) keep: Keep,
}

/// `--keep kind=age,...`, in microseconds; `--keep-errors-for` fills `errors` too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Keep {
    pub(crate) errors: Option<u64>,
    pub(crate) triggered: Option<u64>,
    pub(crate) sampled: Option<u64>,
}

/// Why a recording was kept, as retention groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Errors,
    Triggered,
    Sampled,
}

impl Kind {
    /// Every kind's name, as `--keep` takes it.
    pub(crate) const NAMES: [&'static str; 3] = ["errors", "triggered", "sampled"];

    pub(crate) fn of(s: &Summary) -> Self {
        if is_error(s) {
            Self::Errors
        } else if matches!(s.reason, Some(RecordReason::Sampled)) {
            Self::Sampled
        } else {
            Self::Triggered
        }
    }
}

impl Policy {
    /// How long a recording of this kind lives; `None`: for ever.
    fn lifetime_us(&self, kind: Kind) -> Option<u64> {
        match kind {
            Kind::Errors => match (self.keep.errors, self.max_age_us) {
                (Some(k), Some(a)) => Some(k.max(a)),
                (k, a) => k.or(a),
            },
            Kind::Triggered => self.keep.triggered.or(self.max_age_us),
            Kind::Sampled => self.keep.sampled.or(self.max_age_us),
        }
    }
}

/// Why a segment is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// Older than `--max-age`.
    Age,
    /// Over `--max-bytes`.
    Budget,
}

/// The plan: what goes, and what the store holds afterwards.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Indexes into the segments given, with the reason, in deletion order.
    pub(crate) delete: Vec<(usize, Why)>,
    /// Bytes before.
    pub(crate) bytes_before: u64,
    /// Bytes after.
    pub(crate) bytes_after: u64,
    /// Segments left out because they are still being written.
    pub(crate) open: usize,
}

/// Whether a recording counts as an error for `--keep-errors-for`.
pub(crate) fn is_error(s: &Summary) -> bool {
    s.status.is_some_and(|c| c >= 500)
        || s.failed
        || matches!(s.reason, Some(RecordReason::KeptOnOutcome(_)))
}

fn end_us(s: &Summary) -> u64 {
    s.started_unix_us.saturating_add(s.duration_us.unwrap_or(0))
}

/// When a segment's newest recording ended; its modification time if it lists none.
pub(crate) fn segment_time_us(seg: &SegmentInfo) -> Option<u64> {
    seg.newest_unix_us().or_else(|| {
        seg.modified
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    })
}

fn newest_error_us(seg: &SegmentInfo) -> Option<u64> {
    seg.entries
        .iter()
        .filter(|e| is_error(&e.summary))
        .map(|e| end_us(&e.summary))
        .max()
}

/// Whether every recording of a segment has outlived its time (one without any
/// listed: its own time against `--max-age`).
fn expired(seg: &SegmentInfo, policy: &Policy) -> bool {
    let older_than =
        |t: Option<u64>, age: u64| t.is_some_and(|t| t < policy.now_us.saturating_sub(age));
    if seg.entries.is_empty() {
        return policy
            .max_age_us
            .is_some_and(|age| older_than(segment_time_us(seg), age));
    }
    seg.entries.iter().all(|e| {
        policy
            .lifetime_us(Kind::of(&e.summary))
            .is_some_and(|life| older_than(Some(end_us(&e.summary)), life))
    })
}

/// Plans retention for `segments`, with `other_bytes` of other files (metadata) in the
/// store.
pub(crate) fn plan(segments: &[SegmentInfo], other_bytes: u64, policy: &Policy) -> Plan {
    let older_than =
        |t: Option<u64>, age: u64| t.is_some_and(|t| t < policy.now_us.saturating_sub(age));
    let protected = |seg: &SegmentInfo| {
        policy
            .keep
            .errors
            .is_some_and(|keep| newest_error_us(seg).is_some_and(|t| !older_than(Some(t), keep)))
    };
    let mut plan = Plan {
        bytes_before: other_bytes + segments.iter().map(SegmentInfo::bytes).sum::<u64>(),
        open: segments.iter().filter(|s| !s.is_closed()).count(),
        ..Plan::default()
    };
    plan.bytes_after = plan.bytes_before;
    let mut remaining: Vec<usize> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if !seg.is_closed() {
            continue;
        }
        if expired(seg, policy) {
            plan.delete.push((i, Why::Age));
            plan.bytes_after -= seg.bytes();
        } else {
            remaining.push(i);
        }
    }
    if let Some(max) = policy.max_bytes {
        remaining.sort_by_key(|&i| (protected(&segments[i]), segment_time_us(&segments[i])));
        for i in remaining {
            if plan.bytes_after <= max {
                break;
            }
            plan.delete.push((i, Why::Budget));
            plan.bytes_after -= segments[i].bytes();
        }
    }
    plan
}
