//! Comparing a live answer with its recording, as in-process replay does: the answer
//! is first passed through the recorder's default redaction (headers, the target and
//! bodies read by what they are), so a secret the recording holds as `[redacted]` is `[redacted]` on both
//! sides, then diffed with the shared engine under the noise rules.

use bytes::Bytes;
use http::HeaderMap;
use retrace::Redaction;
use retrace::diff::{Diff, NoiseRules, ResponseView, diff_responses};

use super::request::Prepared;

/// The differences between what `prepared` recorded and the live answer.
pub(crate) fn compare(
    prepared: &Prepared,
    status: u16,
    headers: &HeaderMap,
    body: Bytes,
    redaction: &Redaction,
    noise: &NoiseRules,
) -> Diff {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(http::HeaderValue::as_bytes);
    let body = redaction.body(content_type, &body).unwrap_or(body);
    let headers = redaction.headers(headers);
    diff_responses(
        &ResponseView::from_head(&prepared.expected, &prepared.expected_body),
        &ResponseView::new(status, &headers, &body),
        noise,
    )
}
