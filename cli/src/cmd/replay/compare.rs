//! Comparing a live answer with its recording, as in-process replay does: the answer
//! is first passed through the recorder's default redaction (headers, and JSON bodies
//! by path), so a secret the recording holds as `[redacted]` is `[redacted]` on both
//! sides, then diffed with the shared engine under the noise rules.

use bytes::Bytes;
use http::HeaderMap;
use retrace::Redaction;
use retrace::diff::{Diff, NoiseRules, ResponseView, diff_responses};

use super::request::Prepared;

/// Whether a `content-type` names JSON (`application/json`, `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let mime = ct.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

/// The differences between what `prepared` recorded and the live answer.
pub(crate) fn compare(
    prepared: &Prepared,
    status: u16,
    headers: &HeaderMap,
    body: Bytes,
    redaction: &Redaction,
    noise: &NoiseRules,
) -> Diff {
    let body = if is_json(headers) {
        redaction.json_body(&body).unwrap_or(body)
    } else {
        body
    };
    let headers = redaction.headers(headers);
    diff_responses(
        &ResponseView::from_head(&prepared.expected, &prepared.expected_body),
        &ResponseView::new(status, &headers, &body),
        noise,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_recognised_by_content_type() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            "content-type",
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert("content-type", "application/problem+json".parse().unwrap());
        assert!(is_json(&h));
        h.insert("content-type", "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
