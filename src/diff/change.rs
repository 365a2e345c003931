//! The result of a comparison: a [`Diff`] made of [`Change`]s, and the collector that
//! fills it while keeping at most a fixed number of entries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default cap on reported changes, and separately on reported noise.
pub const DEFAULT_MAX_CHANGES: usize = 100;

/// One difference between the expected (recorded) and the actual (replayed) response.
///
/// Values are those of the expected side, then the actual side; an absent value (`None`,
/// or an empty list for headers) means the thing did not exist on that side. In JSON
/// output the variant is named by a `part` field and absent values are left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The status code differs.
    Status {
        /// The recorded status.
        expected: u16,
        /// The replayed status.
        actual: u16,
    },
    /// The values of a header differ (compared as a set: order does not matter).
    Header {
        /// The header name, lower case.
        name: String,
        /// The recorded values, sorted (UTF-8, invalid bytes replaced).
        expected: Vec<String>,
        /// The replayed values, sorted (UTF-8, invalid bytes replaced).
        actual: Vec<String>,
    },
    /// The values of a trailer differ (gRPC's `grpc-status`, `grpc-message`), compared
    /// as headers are.
    Trailer {
        /// The trailer name, lower case.
        name: String,
        /// The recorded values, sorted.
        expected: Vec<String>,
        /// The replayed values, sorted.
        actual: Vec<String>,
    },
    /// A location in a JSON body differs.
    Json {
        /// Where, in [`PathPattern`](super::PathPattern) syntax: `$.items[2].id`.
        path: String,
        /// The recorded value, if the location existed.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        expected: Option<Value>,
        /// The replayed value, if the location exists.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        actual: Option<Value>,
    },
    /// A text body differs; the first differing line is shown.
    Text {
        /// The line number, from 1.
        line: usize,
        /// The column (in characters, from 1) of the first difference in that line.
        column: usize,
        /// An excerpt of the recorded line around the difference (`…` marks a cut), or
        /// `None` if the recorded body has no such line.
        #[serde(skip_serializing_if = "Option::is_none")]
        expected: Option<String>,
        /// An excerpt of the replayed line, likewise.
        #[serde(skip_serializing_if = "Option::is_none")]
        actual: Option<String>,
    },
    /// A binary body differs.
    Binary {
        /// The offset of the first differing byte (the shorter length if one body is a
        /// prefix of the other).
        offset: usize,
        /// The recorded body's length.
        expected_len: usize,
        /// The replayed body's length.
        actual_len: usize,
    },
}

/// Reads a JSON value that is there, `null` included, as `Some`: a field left out is
/// the absent side (`#[serde(default)]`), while a JSON `null` is a value that existed.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Whether a change added, removed or changed something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Present only in the replay.
    Added,
    /// Present only in the recording.
    Removed,
    /// Present in both, with different values.
    Changed,
}

impl Change {
    /// Whether this change added, removed or changed something.
    pub fn kind(&self) -> ChangeKind {
        let (expected, actual) = match self {
            Self::Status { .. } | Self::Binary { .. } => (true, true),
            Self::Header {
                expected, actual, ..
            }
            | Self::Trailer {
                expected, actual, ..
            } => (!expected.is_empty(), !actual.is_empty()),
            Self::Json {
                expected, actual, ..
            } => (expected.is_some(), actual.is_some()),
            Self::Text {
                expected, actual, ..
            } => (expected.is_some(), actual.is_some()),
        };
        match (expected, actual) {
            (false, true) => ChangeKind::Added,
            (true, false) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        }
    }
}

/// The differences between a recorded and a replayed response.
///
/// `changes` are the differences that matter; `noise` the ones the
/// [`NoiseRules`](super::NoiseRules) ignored. Each list keeps at most the cap given to
/// [`diff_responses_with_limit`](super::diff_responses_with_limit) (by default
/// [`DEFAULT_MAX_CHANGES`]) and counts the rest, so a huge body cannot flood a report.
/// Order: status, then headers by name, then the body in document order.
///
/// `Display` prints one line per change, such as `body $.total: 42 -> 43`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Diff {
    /// Differences that matter, up to the cap.
    pub changes: Vec<Change>,
    /// Differences that matter beyond the cap, counted only.
    pub omitted_changes: usize,
    /// Differences the noise rules ignored, up to the cap.
    pub noise: Vec<Change>,
    /// Ignored differences beyond the cap, counted only.
    pub omitted_noise: usize,
}

impl Diff {
    /// Whether the responses match: no changes, though there may be noise.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.omitted_changes == 0
    }

    /// The number of changes, reported or not.
    pub fn change_count(&self) -> usize {
        self.changes.len() + self.omitted_changes
    }

    /// The number of ignored differences, reported or not.
    pub fn noise_count(&self) -> usize {
        self.noise.len() + self.omitted_noise
    }
}

/// Fills a [`Diff`], building a change only while its list has room.
pub(crate) struct Collector {
    diff: Diff,
    limit: usize,
}

impl Collector {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            diff: Diff::default(),
            limit,
        }
    }

    /// Records a difference; `make` runs only if the change will be kept, so values are
    /// cloned and paths rendered for at most `limit` entries.
    pub(crate) fn record(&mut self, noise: bool, make: impl FnOnce() -> Change) {
        let (list, omitted) = if noise {
            (&mut self.diff.noise, &mut self.diff.omitted_noise)
        } else {
            (&mut self.diff.changes, &mut self.diff.omitted_changes)
        };
        if list.len() < self.limit {
            list.push(make());
        } else {
            *omitted += 1;
        }
    }

    pub(crate) fn finish(self) -> Diff {
        self.diff
    }
}
