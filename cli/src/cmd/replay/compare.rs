//! Comparing a live answer with its recording, as in-process replay does. The live side
//! arrives decoded and redacted ([`comparable_answer`](retrace::diff::comparable_answer)).
//! The recorded side is decoded the same way (a record layer outside compression holds
//! the compressed body), the values chained into this flow are put in (the slug the
//! target made instead of the recorded one), and it is redacted with the same rules as
//! the live side, so a pseudonymised secret and a live one both compare as
//! `[redacted]`. Then the shared engine diffs them under the noise rules.

use std::collections::HashMap;

use retrace::Redaction;
use retrace::content_coding::{DEFAULT_DECODED_LIMIT, decode_message};
use retrace::diff::{Diff, NoiseRules, ResponseView, diff_responses, redact_message};

use super::exchange::{Scalar, map_expected_body};
use super::request::Prepared;

/// The differences between what `prepared` recorded and the live answer `live`, with
/// the recorded values in `mapping` replaced by their live counterparts first.
pub(crate) fn compare(
    prepared: &Prepared,
    live: &ResponseView<'_>,
    mapping: &HashMap<String, Scalar>,
    redaction: &Redaction,
    noise: &NoiseRules,
) -> Result<Diff, String> {
    let (headers, body) = decode_message(
        prepared.expected.headers.clone(),
        prepared.expected_body.clone(),
        DEFAULT_DECODED_LIMIT,
    )
    .map_err(|e| format!("decoding the recorded response: {e}"))?;
    let (headers, body) = redact_message(redaction, &headers, map_expected_body(&body, mapping));
    Ok(diff_responses(
        &ResponseView::new(prepared.expected.status, &headers, &body),
        live,
        noise,
    ))
}
