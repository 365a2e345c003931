//! Comparing a live answer with its recording, as in-process replay does. The live side
//! arrives decoded and redacted ([`comparable_answer`](retrace::diff::comparable_answer)).
//! The recorded side is decoded the same way (a record layer outside compression holds
//! the compressed body), the values chained into this flow are put in (the slug the
//! target made instead of the recorded one), and it is redacted with the same rules as
//! the live side, so a pseudonymised secret and a live one both compare as
//! `[redacted]`. Then the shared engine diffs them under the noise rules.

use http::{HeaderMap, HeaderName, HeaderValue};
use retrace::Redaction;
use retrace::diff::{Diff, NoiseRules, ResponseView, comparable_recorded, diff_responses};

use super::exchange::{Scalar, map_expected_body};
use super::request::Prepared;

/// The differences between what `prepared` recorded and the live answer `live`, with
/// the recorded values in `mapping` replaced by their live counterparts first.
pub(crate) fn compare(
    prepared: &Prepared,
    live: &ResponseView<'_>,
    mapping: &[(Scalar, Scalar)],
    redaction: &Redaction,
    noise: &NoiseRules,
) -> Result<Diff, String> {
    let (headers, body) =
        comparable_recorded(&prepared.expected.headers, prepared.expected_body.clone())
            .map_err(|e| format!("decoding the recorded response: {e}"))?;
    let body = map_expected_body(&body, mapping);
    let mut map = HeaderMap::with_capacity(headers.len());
    for h in &headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(&h.value),
        ) {
            map.append(name, value);
        }
    }
    let content_type = map
        .get(http::header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    let body = redaction.body(content_type, &body).unwrap_or(body);
    let headers = redaction.headers(&map);
    Ok(diff_responses(
        &ResponseView::new(prepared.expected.status, &headers, &body),
        live,
        noise,
    ))
}
