//! Recording and replaying one outgoing call, whatever the client: shared by the tower
//! [`ClientLayer`](crate::ClientLayer) and the reqwest adapter.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use retrace::RecordingHandle;
use retrace::event::{BodyEnd, CallOutcome, OutboundCall, OutboundResult, ResponseHead, WholeBody};
use retrace::policy::{PARENT_HEADER, parent_header_value};
use retrace::{SpanId, TraceId, TraceParent};

use crate::capture::{BodyCoding, CaptureSettings};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const RETRACE_PARENT: HeaderName = HeaderName::from_static(PARENT_HEADER);

/// Adds `traceparent` and the signed `x-retrace-parent`, so the service called records
/// the same flow.
pub(crate) fn propagate(handle: &RecordingHandle, headers: &mut HeaderMap) {
    let trace_id = handle.trace_id().unwrap_or_else(TraceId::random);
    let traceparent = TraceParent {
        trace_id,
        parent_id: SpanId::random(),
        flags: 1,
    };
    if let Ok(v) = HeaderValue::from_bytes(&traceparent.to_header_bytes()) {
        headers.insert(TRACEPARENT, v);
    }
    let parent = parent_header_value(handle.propagation_token().as_deref(), trace_id, handle.id());
    if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(parent)) {
        headers.insert(RETRACE_PARENT, v);
    }
}

/// A call's whole request body as it is recorded and matched: decoded when it has a
/// content coding (see [`BodyCoding`]), with its secrets redacted (see
/// [`redact_whole_body`](crate::capture::redact_whole_body)), before it is cut at the
/// cap or hashed. Replay computes the live body's the same way, so a call whose body
/// held a secret still finds its recording.
pub(crate) fn recorded_body(
    settings: &CaptureSettings,
    headers: &HeaderMap,
    body: &Bytes,
) -> Bytes {
    recorded_body_with(settings, &settings.body_coding(headers), headers, body)
}

fn recorded_body_with(
    settings: &CaptureSettings,
    coding: &BodyCoding,
    headers: &HeaderMap,
    body: &Bytes,
) -> Bytes {
    // A body that does not decode within the cap is recorded empty: its compressed
    // bytes cannot be read by the redaction detectors.
    let body = coding.decode(body, settings.body_cap).unwrap_or_default();
    crate::capture::redact_whole_body(&settings.redaction, headers, body)
}

/// An outgoing call being recorded: its id and when it started.
pub(crate) struct CallInFlight {
    pub(crate) handle: RecordingHandle,
    pub(crate) call_id: u32,
    pub(crate) started: Instant,
}

/// A whole body as a call records it: decoded and redacted ([`recorded_body`]), cut at
/// the cap, with a digest of the recorded form when it was cut (what replay matches
/// on), stamped `at_us`.
fn whole_body(
    settings: &CaptureSettings,
    handle: &RecordingHandle,
    coding: &BodyCoding,
    headers: &HeaderMap,
    body: &Bytes,
    at_us: u64,
) -> (Bytes, BodyEnd) {
    let body = recorded_body_with(settings, coding, headers, body);
    let kept = body.len().min(settings.body_cap);
    let truncated = kept < body.len();
    let end = BodyEnd {
        at_us,
        total_len: body.len() as u64,
        captured_len: kept as u64,
        digest: truncated.then(|| *blake3::hash(&body).as_bytes()),
        trailers: Vec::new(),
        finished: true,
    };
    (crate::capture::own(handle, &body.slice(..kept)), end)
}

/// Records the start of a call whose request (after propagation headers were added)
/// is `method uri` with `headers` and the whole `body`.
pub(crate) fn start_call(
    settings: &CaptureSettings,
    handle: RecordingHandle,
    method: &http::Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &HeaderMap,
    body: &Bytes,
) -> CallInFlight {
    let call_id = handle.next_seq();
    let at_us = handle.elapsed_us();
    let (head, coding) = settings.request_parts_head(&handle, method, uri, version, headers);
    let (data, end) = whole_body(settings, &handle, &coding, headers, body, at_us);
    handle.record_call(OutboundCall {
        call_id,
        target: handle.copy_text(uri.authority().map_or("unknown", |a| a.as_str())),
        at_us,
        head,
        body: WholeBody { data, end },
    });
    CallInFlight {
        handle,
        call_id,
        started: Instant::now(),
    }
}

impl CallInFlight {
    /// Records a whole answer (a client that hands over whole bodies, such as
    /// reqwest's): its head and body as the tower client's tap records them, decoded,
    /// redacted and cut at the cap.
    #[cfg(any(feature = "reqwest", feature = "reqwest-0-12"))]
    pub(crate) fn answered_whole(
        self,
        settings: &CaptureSettings,
        status: http::StatusCode,
        version: http::Version,
        headers: &HeaderMap,
        body: &Bytes,
    ) {
        let (head, coding) = settings.response_parts_head(&self.handle, status, version, headers);
        let at_us = self.handle.elapsed_us();
        let (data, end) = whole_body(settings, &self.handle, &coding, headers, body, at_us);
        self.answered(head, data, end);
    }

    /// Records the call's answer.
    pub(crate) fn answered(self, head: ResponseHead, data: Bytes, end: BodyEnd) {
        self.finish(CallOutcome::Response {
            head,
            body: WholeBody { data, end },
        });
    }

    /// Records the call's failure.
    pub(crate) fn failed(self, error: String) {
        self.finish(CallOutcome::Error(error));
    }

    fn finish(self, outcome: CallOutcome) {
        self.handle.record_call_result(OutboundResult {
            call_id: self.call_id,
            duration_us: self.started.elapsed().as_micros() as u64,
            outcome,
        });
    }
}

/// A response head as recorded, turned back into an `http` response with `body`.
pub(crate) fn recorded_response<B>(head: &ResponseHead, body: B) -> http::Response<B> {
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(head.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for h in &head.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(&h.value),
        ) {
            headers.append(name, value);
        }
    }
    response
}
