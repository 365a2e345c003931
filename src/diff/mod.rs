//! Response diffs: what changed between a recorded response and a replayed one.
//!
//! Replay is only useful if it says exactly what changed, and only what matters. This
//! module is that comparison, shared by in-process replay (`ReplayReport`) and the
//! CLI's traffic replay so both speak the same report. It is pure: no runtime, no I/O,
//! plain values in and a [`Diff`] out.
//!
//! What it promises:
//! - **Status** is compared as a number; a different status is always a change.
//! - **Headers** are compared by name, case-insensitively, each name's values as a set:
//!   neither the order of headers nor that of a repeated header's values counts.
//! - **Bodies** that both parse as JSON are compared structurally, each change named by
//!   its path (`$.user.name`) with both values; object member order does not count;
//!   numbers compare by value (`1 == 1.0 == 1e0`: JSON has one number type and
//!   serialisers differ in how they print it; integers are compared exactly, never
//!   through `f64`); arrays compare index by index, extra elements reported as added or
//!   removed (so an insertion at the front shows as a change at every later index).
//!   The bytes decide, not `content-type`, which is often missing or wrong and is
//!   compared as a header anyway: both bodies must parse as JSON. Other UTF-8 bodies
//!   report their first differing line (line, column, an excerpt of each side); anything
//!   else its lengths and first differing byte.
//! - **Noise** ([`NoiseRules`]): ignored headers (by default, [`DEFAULT_IGNORED_HEADERS`]
//!   such as `date`), ignored JSON paths ([`PathPattern`]: `$.meta.generated_at`,
//!   `$.items[*].id`, `$..timestamp`), and noise learned from two replays
//!   ([`NoiseRules::learn`]). Ignored differences go to [`Diff::noise`], not
//!   [`Diff::changes`], so rules stay visible.
//! - **Bounded**: each list keeps the first [`DEFAULT_MAX_CHANGES`] entries and counts
//!   the rest; values are copied only for kept entries, and equal bodies are recognised
//!   without parsing.
//!
//! ```
//! use retrace::Header;
//! use retrace::diff::{NoiseRules, ResponseView, diff_responses};
//!
//! let recorded_headers = [Header::new("date", "Mon, 01 Jan 2024 00:00:00 GMT")];
//! let replayed_headers = [Header::new("date", "Tue, 02 Jan 2024 00:00:00 GMT")];
//! let recorded = ResponseView::new(200, &recorded_headers, br#"{"total":42,"at":1}"#);
//! let replayed = ResponseView::new(200, &replayed_headers, br#"{"total":43,"at":2}"#);
//!
//! let rules = NoiseRules::builder().ignore_path("$.at").build()?;
//! let diff = diff_responses(&recorded, &replayed, &rules);
//! assert_eq!(
//!     diff.to_string(),
//!     "body $.total: 42 -> 43\nnoise: header date, body $.at"
//! );
//! # Ok::<(), retrace::diff::NoiseRuleError>(())
//! ```

mod body;
mod change;
mod headers;
mod json;
mod node;
mod noise;
mod report;
#[cfg(test)]
mod tests;

pub use crate::json_path::{MAX_PATTERN_STEPS, PathError, PathPattern, for_each_scalar};
pub use change::{Change, ChangeKind, DEFAULT_MAX_CHANGES, Diff};
pub use noise::{
    DEFAULT_IGNORED_HEADERS, NoiseRuleError, NoiseRules, NoiseRulesBuilder, OUTER_LAYER_HEADERS,
};
pub use report::Location;

use crate::content_coding::{DEFAULT_DECODED_LIMIT, DecodeError, decode_message};
use crate::event::{Header, ResponseHead};

use change::Collector;

/// A borrowed view of one response: what the comparison reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseView<'a> {
    /// The status code.
    pub status: u16,
    /// The headers in order, duplicates as separate entries.
    pub headers: &'a [Header],
    /// The whole body (as captured).
    pub body: &'a [u8],
    /// The trailers after the body, in order (empty when it had none).
    pub trailers: &'a [Header],
}

impl<'a> ResponseView<'a> {
    /// A view of a status, headers and body.
    pub fn new(status: u16, headers: &'a [Header], body: &'a [u8]) -> Self {
        Self {
            status,
            headers,
            body,
            trailers: &[],
        }
    }

    /// The same view with the trailers that ended the body (gRPC's status is one).
    pub fn with_trailers(mut self, trailers: &'a [Header]) -> Self {
        self.trailers = trailers;
        self
    }

    /// A view of a recorded or replayed response head and its body.
    pub fn from_head(head: &'a ResponseHead, body: &'a [u8]) -> Self {
        Self::new(head.status, &head.headers, body)
    }
}

/// A live answer's headers and body as a comparison with its recording reads them:
/// headers redacted with `redaction` (so a secret recorded as `[redacted]` is
/// `[redacted]` on both sides), the content coding undone (a compression layer answers
/// `br` where the recording holds the plain body), then the body redacted, read by what
/// it is.
///
/// Decoding is bounded by [`DEFAULT_DECODED_LIMIT`].
pub fn comparable_answer(
    redaction: &crate::Redaction,
    headers: &http::HeaderMap,
    body: bytes::Bytes,
) -> Result<(Vec<Header>, bytes::Bytes), DecodeError> {
    let (headers, body) = decode_message(redaction.headers(headers), body, DEFAULT_DECODED_LIMIT)?;
    let body = redact_body(redaction, &headers, body);
    Ok((headers, body))
}

/// A recorded response's headers and body as a comparison reads them: the content
/// coding undone (a record layer placed outside a compression layer holds the
/// compressed body), then both redacted with `redaction`, the rules the live side is
/// redacted with. A recording made with other rules (pseudonyms, say) then compares
/// equal where the live answer holds the same kind of secret. The recording itself is
/// not changed.
pub fn comparable_recorded(
    redaction: &crate::Redaction,
    headers: &[Header],
    body: bytes::Bytes,
) -> Result<(Vec<Header>, bytes::Bytes), DecodeError> {
    let (headers, body) = decode_message(headers.to_vec(), body, DEFAULT_DECODED_LIMIT)?;
    Ok(redact_message(redaction, &headers, body))
}

/// Redacts a message held as [`Header`]s and a body with `redaction`, as the capture
/// layers would have: for a side of a comparison that was changed after it was
/// decoded (traffic replay puts the values the target made into a recorded answer).
pub fn redact_message(
    redaction: &crate::Redaction,
    headers: &[Header],
    body: bytes::Bytes,
) -> (Vec<Header>, bytes::Bytes) {
    let mut map = http::HeaderMap::with_capacity(headers.len());
    for h in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            http::HeaderValue::from_bytes(&h.value),
        ) {
            map.append(name, value);
        }
    }
    let headers = redaction.headers(&map);
    let body = redact_body(redaction, &headers, body);
    (headers, body)
}

fn redact_body(
    redaction: &crate::Redaction,
    headers: &[Header],
    body: bytes::Bytes,
) -> bytes::Bytes {
    let content_type = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-type"))
        .map(|h| &h.value[..]);
    redaction.body(content_type, &body).unwrap_or(body)
}

/// Compares a recorded (`expected`) and a replayed (`actual`) response under `rules`,
/// keeping at most [`DEFAULT_MAX_CHANGES`] changes and as many noise entries.
pub fn diff_responses(
    expected: &ResponseView<'_>,
    actual: &ResponseView<'_>,
    rules: &NoiseRules,
) -> Diff {
    diff_responses_with_limit(expected, actual, rules, DEFAULT_MAX_CHANGES)
}

/// Like [`diff_responses`], keeping at most `max_changes` changes and as many noise
/// entries; the rest are only counted.
pub fn diff_responses_with_limit(
    expected: &ResponseView<'_>,
    actual: &ResponseView<'_>,
    rules: &NoiseRules,
    max_changes: usize,
) -> Diff {
    let mut collector = Collector::new(max_changes);
    if expected.status != actual.status {
        collector.record(false, || Change::Status {
            expected: expected.status,
            actual: actual.status,
        });
    }
    headers::diff_headers(
        expected.headers,
        actual.headers,
        rules,
        &mut collector,
        headers::Field::Header,
    );
    headers::diff_headers(
        expected.trailers,
        actual.trailers,
        rules,
        &mut collector,
        headers::Field::Trailer,
    );
    body::diff_bodies(expected.body, actual.body, rules, &mut collector);
    collector.finish()
}
