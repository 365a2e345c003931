//! Comparing a live answer with its recording, as in-process replay does: the answer's
//! headers are redacted with the recorder's default rules (so a secret the recording
//! holds as `[redacted]` is `[redacted]` on both sides), its content coding undone (a
//! target that compresses answers `br` where the recording holds plain JSON), its body
//! redacted, then both are diffed with the shared engine under the noise rules.

use bytes::Bytes;
use http::HeaderMap;
use retrace::Redaction;
use retrace::diff::{
    Diff, NoiseRules, ResponseView, comparable_answer, comparable_recorded, diff_responses,
};

use super::request::Prepared;

/// The differences between what `prepared` recorded and the live answer, or why the
/// answer could not be read.
pub(crate) fn compare(
    prepared: &Prepared,
    status: u16,
    headers: &HeaderMap,
    body: Bytes,
    redaction: &Redaction,
    noise: &NoiseRules,
) -> Result<Diff, String> {
    let (headers, body) = comparable_answer(redaction, headers, body)
        .map_err(|e| format!("decoding the answer: {e}"))?;
    let (expected_headers, expected_body) =
        comparable_recorded(&prepared.expected.headers, prepared.expected_body.clone())
            .map_err(|e| format!("decoding the recorded response: {e}"))?;
    Ok(diff_responses(
        &ResponseView::new(prepared.expected.status, &expected_headers, &expected_body),
        &ResponseView::new(status, &headers, &body),
        noise,
    ))
}
