//! [`RecordingView`]: a whole recording as one JSON object, bodies included (as text
//! when they are UTF-8, base64 otherwise), for pipelines (`export --jsonl`).

use crate::{
    BodyEnd, CallOutcome, Header, Loss, Outcome, Recording, RecordingInfo, RequestHead,
    ResponseHead,
};
use serde::Serialize;

use super::{SummaryView, base64, encode_body};

/// A recording with everything in it: its summary's fields, the request, each
/// outgoing call with its answer, the values asked for, the response, how it ended
/// and what was lost. Bodies are text when they are UTF-8, base64 otherwise.
#[derive(Debug, Serialize)]
pub struct RecordingView<'a> {
    #[serde(flatten)]
    summary: SummaryView<'a>,
    request: Option<RequestView<'a>>,
    calls: Vec<CallView<'a>>,
    values: Vec<ValueView<'a>>,
    response: Option<ResponseView<'a>>,
    outcome: Option<&'static str>,
    error: Option<&'a str>,
    losses: Vec<String>,
}

#[derive(Debug, Serialize)]
struct HeaderView<'a> {
    name: &'a str,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}

#[derive(Debug, Serialize)]
struct BodyView {
    /// Bytes that passed through.
    size: u64,
    /// Bytes kept in the recording.
    captured: u64,
    truncated: bool,
    encoding: &'static str,
    data: String,
}

#[derive(Debug, Serialize)]
struct RequestView<'a> {
    method: &'a str,
    uri: &'a str,
    version: &'a str,
    headers: Vec<HeaderView<'a>>,
    body: BodyView,
}

#[derive(Debug, Serialize)]
struct ResponseView<'a> {
    status: u16,
    version: &'a str,
    headers: Vec<HeaderView<'a>>,
    body: BodyView,
}

#[derive(Debug, Serialize)]
struct CallView<'a> {
    call_id: u32,
    target: &'a str,
    start_us: u64,
    duration_us: Option<u64>,
    request: RequestView<'a>,
    response: Option<ResponseView<'a>>,
    error: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ValueView<'a> {
    seq: u32,
    kind: &'static str,
    name: &'a str,
    at_us: u64,
    input_base64: Option<String>,
    value_base64: String,
}

fn headers(headers: &[Header]) -> Vec<HeaderView<'_>> {
    headers
        .iter()
        .map(|h| {
            let utf8 = std::str::from_utf8(&h.value).ok();
            HeaderView {
                name: &h.name,
                value: utf8.map_or_else(
                    || String::from_utf8_lossy(&h.value).into_owned(),
                    str::to_owned,
                ),
                value_base64: utf8.is_none().then(|| base64(&h.value)),
            }
        })
        .collect()
}

fn body(data: &[u8], end: Option<&BodyEnd>) -> BodyView {
    let (encoding, text) = encode_body(data);
    let captured = data.len() as u64;
    let size = end.map_or(captured, |e| e.total_len.max(captured));
    BodyView {
        size,
        captured,
        // Cut at the capture limit, as the recording says: a body whose secrets were
        // replaced can be shorter than it was without having been cut.
        truncated: end.is_some_and(BodyEnd::truncated),
        encoding,
        data: text,
    }
}

fn request<'a>(head: &'a RequestHead, data: &[u8], end: Option<&BodyEnd>) -> RequestView<'a> {
    RequestView {
        method: &head.method,
        uri: &head.uri,
        version: &head.version,
        headers: headers(&head.headers),
        body: body(data, end),
    }
}

fn response<'a>(head: &'a ResponseHead, data: &[u8], end: Option<&BodyEnd>) -> ResponseView<'a> {
    ResponseView {
        status: head.status,
        version: &head.version,
        headers: headers(&head.headers),
        body: body(data, end),
    }
}

fn loss(l: &Loss) -> String {
    match l {
        Loss::RequestBodyTruncated { dropped_bytes } => {
            format!("request body cut: {dropped_bytes} bytes not kept")
        }
        Loss::ResponseBodyTruncated { dropped_bytes } => {
            format!("response body cut: {dropped_bytes} bytes not kept")
        }
        Loss::RecordingLimit { dropped_events } => {
            format!("recording limit: {dropped_events} events not kept")
        }
        Loss::ChunksDropped { chunks, reason } => {
            format!("{chunks} chunks lost on the way to disk ({reason})")
        }
    }
}

impl<'a> RecordingView<'a> {
    /// The view of a loaded recording.
    pub fn new(info: &'a RecordingInfo, rec: &'a Recording) -> Self {
        let end = rec.end();
        let (outcome, error) = match end.map(|e| &e.outcome) {
            None => (None, None),
            Some(Outcome::Completed) => (Some("completed"), None),
            Some(Outcome::Aborted) => (Some("aborted"), None),
            Some(Outcome::Failed(e)) => (Some("failed"), Some(e.as_str())),
        };
        Self {
            summary: SummaryView::new(info),
            request: rec
                .request()
                .map(|h| request(h, &rec.request_body(), rec.request_end())),
            calls: rec
                .calls()
                .into_iter()
                .map(|c| {
                    let (resp, err) = match c.result.map(|r| &r.outcome) {
                        Some(CallOutcome::Response { head, body }) => {
                            (Some(response(head, &body.data, Some(&body.end))), None)
                        }
                        Some(CallOutcome::Error(e)) => (None, Some(e.as_str())),
                        None => (None, None),
                    };
                    CallView {
                        call_id: c.call.call_id,
                        target: &c.call.target,
                        start_us: c.call.at_us,
                        duration_us: c.result.map(|r| r.duration_us),
                        request: request(&c.call.head, &c.call.body.data, Some(&c.call.body.end)),
                        response: resp,
                        error: err,
                    }
                })
                .collect(),
            values: rec
                .values()
                .map(|v| ValueView {
                    seq: v.seq,
                    kind: v.kind.as_str(),
                    name: &v.name,
                    at_us: v.at_us,
                    input_base64: v.input.as_deref().map(base64),
                    value_base64: base64(&v.value),
                })
                .collect(),
            response: rec
                .response()
                .map(|h| response(h, &rec.response_body(), rec.response_end())),
            outcome,
            error,
            losses: end.map_or_else(Vec::new, |e| e.losses.iter().map(loss).collect()),
        }
    }
}
