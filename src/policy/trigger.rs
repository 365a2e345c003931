//! The trigger header (`x-retrace-record` by default) and parent propagation.
//!
//! A trigger header asks for one request to be recorded. When a shared token is set, the
//! header's value must equal it (compared in constant time), so outsiders cannot force
//! recording; the header is always redacted from the recording.
//!
//! An upstream service that recorded a trace tells the services it calls through
//! [`PARENT_HEADER`], next to the W3C `traceparent`. With a token configured, the value
//! carries a keyed hash of the trace id and the parent recording id under the token, so
//! the header cannot be forged by anyone who does not hold the token either.

use http::{HeaderMap, HeaderName};

use crate::id::{RecordingId, TraceId};

/// The SDK's propagation header: "the caller recorded this trace".
pub const PARENT_HEADER: &str = "x-retrace-parent";
/// The default trigger header.
pub const TRIGGER_HEADER: &str = "x-retrace-record";

/// Constant-time equality, so a wrong token's timing says nothing about the right one.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (blake3::hash(a), blake3::hash(b));
    // blake3::Hash's equality is constant-time.
    ha == hb
}

/// Whether a request's trigger header asks for it to be recorded: it carries `token`
/// when one is set, or any value but `0`, `false` and `off` when none is.
pub(crate) fn trigger_fires(header: &HeaderName, token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header) else {
        return false;
    };
    match token {
        Some(token) => same_secret(value.as_bytes(), token.as_bytes()),
        None => !matches!(value.as_bytes(), b"0" | b"false" | b"off"),
    }
}

fn signature(token: &str, trace_id: TraceId, parent: RecordingId) -> String {
    let key = blake3::derive_key("retrace parent propagation v1", token.as_bytes());
    let mut input = [0u8; 32];
    input[..16].copy_from_slice(&trace_id.to_bytes());
    input[16..].copy_from_slice(&parent.as_u128().to_be_bytes());
    let hash = blake3::keyed_hash(&key, &input);
    hash.to_hex()[..32].to_owned()
}

/// The value of [`PARENT_HEADER`] for a call made by recording `parent` in `trace_id`.
pub fn parent_header_value(token: Option<&str>, trace_id: TraceId, parent: RecordingId) -> String {
    let mut id = [0u8; crate::id::RECORDING_ID_LEN];
    parent.encode(&mut id);
    // Exactly the capacity it needs, so `Bytes` takes it without an allocation of its
    // own when it becomes a header value.
    let signed = if token.is_some() { 5 + 32 } else { 0 };
    let mut value = String::with_capacity(id.len() + signed);
    // The id alphabet is ASCII.
    value.push_str(std::str::from_utf8(&id).unwrap_or_default());
    if let Some(t) = token {
        value.push_str(";sig=");
        value.push_str(&signature(t, trace_id, parent));
    }
    value
}

/// Whether a [`PARENT_HEADER`] value is valid for `trace_id`; returns the parent id.
pub(crate) fn verify_parent(
    value: &[u8],
    token: Option<&str>,
    trace_id: TraceId,
) -> Option<RecordingId> {
    let text = std::str::from_utf8(value).ok()?;
    let (id_text, sig) = match text.split_once(";sig=") {
        Some((id, sig)) => (id, Some(sig)),
        None => (text, None),
    };
    let parent: RecordingId = id_text.trim().parse().ok()?;
    match (token, sig) {
        (None, _) => Some(parent),
        (Some(t), Some(sig)) => same_secret(
            sig.trim().as_bytes(),
            signature(t, trace_id, parent).as_bytes(),
        )
        .then_some(parent),
        (Some(_), None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_value_fills_exactly_the_capacity_it_was_given() {
        let (trace, parent) = (TraceId::random(), RecordingId::new());
        for token in [None, Some("s3cret")] {
            let v = parent_header_value(token, trace, parent);
            assert_eq!(v.capacity(), v.len(), "{token:?}");
        }
    }

    #[test]
    fn parent_signatures_verify_only_with_the_token_and_trace() {
        let trace = TraceId::random();
        let parent = RecordingId::new();
        let v = parent_header_value(Some("s3cret"), trace, parent);
        assert_eq!(
            verify_parent(v.as_bytes(), Some("s3cret"), trace),
            Some(parent)
        );
        assert_eq!(verify_parent(v.as_bytes(), Some("other"), trace), None);
        assert_eq!(
            verify_parent(v.as_bytes(), Some("s3cret"), TraceId::random()),
            None
        );
        assert_eq!(
            verify_parent(parent.to_string().as_bytes(), Some("s3cret"), trace),
            None
        );
        assert_eq!(
            verify_parent(parent.to_string().as_bytes(), None, trace),
            Some(parent)
        );
        assert_eq!(verify_parent(b"\xff\xfe", None, trace), None);
    }
}
