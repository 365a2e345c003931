//! Helpers shared by the core integration tests (and `sqlx/tests/postgres.rs`): a
//! recorder on a temporary directory, realistic recordings of JSON HTTP traffic, and
//! running code as one recording or in a strict replay of it.
#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use retrace::context::RetraceContext;
use retrace::replay::{ReplayOptions, ReplaySession};
use retrace::{
    BodyChunk, BodyEnd, CallOutcome, Config, ConfigBuilder, Event, Header, OutboundCall,
    OutboundResult, Outcome, RecordReason, Recorder, RecorderGuard, Recording, RecordingHandle,
    RecordingId, RequestHead, ResponseHead, SealedReplay, StartOptions, Store, WholeBody,
};

pub fn config(dir: &Path) -> ConfigBuilder {
    Config::builder()
        .enabled(true)
        .service("test-svc")
        .recording_path(dir)
}

pub fn recorder(builder: ConfigBuilder) -> (Recorder, RecorderGuard) {
    Recorder::new(builder.build().expect("valid config")).expect("recorder starts")
}

fn headers(pairs: &[(&str, String)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(n, v)| Header::new(n.to_string(), Bytes::from(v.clone())))
        .collect()
}

/// A JSON body of roughly `size` bytes that looks like an API answer.
pub fn json_body(i: usize, size: usize) -> Bytes {
    let mut s = format!("{{\"order\":{i},\"customer\":\"c-{}\",\"items\":[", i % 97);
    let mut n = 0;
    while s.len() < size.saturating_sub(40) {
        s.push_str(&format!(
            "{{\"sku\":\"SKU-{:05}\",\"qty\":{},\"price\":{}.{:02}}},",
            (i * 7 + n) % 10_000,
            n % 5 + 1,
            (i + n) % 300,
            n % 100
        ));
        n += 1;
    }
    s.push_str("{}],\"status\":\"ok\"}");
    Bytes::from(s)
}

/// The events of one realistic request: head, body, one outgoing call, response.
pub fn request_events(handle: &RecordingHandle, i: usize, body_size: usize) -> Vec<Event> {
    let req_body = json_body(i, body_size / 2);
    let resp_body = json_body(i + 1, body_size / 2);
    let call_id = handle.next_seq();
    vec![
        Event::Request(RequestHead {
            method: if i.is_multiple_of(3) { "POST" } else { "GET" }.into(),
            uri: format!("/orders/{i}?expand=items"),
            version: "HTTP/1.1".into(),
            headers: headers(&[
                ("host", "shop.local".to_owned()),
                ("content-type", "application/json".to_owned()),
                ("user-agent", "load/1.0".to_owned()),
                ("x-request-id", format!("req-{i}")),
            ]),
        }),
        Event::RequestBody(BodyChunk {
            at_us: 10,
            data: req_body.clone(),
        }),
        Event::RequestEnd(BodyEnd {
            at_us: 11,
            total_len: req_body.len() as u64,
            captured_len: req_body.len() as u64,
            finished: true,
            ..BodyEnd::default()
        }),
        Event::Call(Box::new(OutboundCall {
            call_id,
            target: "inventory.local:8080".to_owned(),
            at_us: 20,
            head: RequestHead {
                method: "GET".into(),
                uri: format!("http://inventory.local:8080/stock/{i}"),
                version: "HTTP/1.1".into(),
                headers: headers(&[("accept", "application/json".to_owned())]),
            },
            body: WholeBody::default(),
        })),
        Event::CallResult(Box::new(OutboundResult {
            call_id,
            duration_us: 300,
            outcome: CallOutcome::Response {
                head: ResponseHead {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: headers(&[("content-type", "application/json".to_owned())]),
                },
                body: WholeBody {
                    data: Bytes::from(format!("{{\"sku\":{i},\"available\":{}}}", i % 13)),
                    end: BodyEnd::default(),
                },
            },
        })),
        Event::Response(ResponseHead {
            status: if i.is_multiple_of(10) { 500 } else { 200 },
            version: "HTTP/1.1".into(),
            headers: headers(&[
                ("content-type", "application/json".to_owned()),
                ("content-length", resp_body.len().to_string()),
            ]),
        }),
        Event::ResponseBody(BodyChunk {
            at_us: 400,
            data: resp_body.clone(),
        }),
        Event::ResponseEnd(BodyEnd {
            at_us: 401,
            total_len: resp_body.len() as u64,
            captured_len: resp_body.len() as u64,
            finished: true,
            ..BodyEnd::default()
        }),
    ]
}

/// Records one realistic request; returns its id and the events it holds (Begin and
/// End excluded, since they carry times).
pub fn record_one(
    recorder: &Recorder,
    i: usize,
    body_size: usize,
) -> Option<(RecordingId, Vec<Event>)> {
    let handle = recorder.start(StartOptions::new(RecordReason::Sampled))?;
    let events = request_events(&handle, i, body_size);
    for e in &events {
        handle.record(e.clone());
    }
    let status = if i.is_multiple_of(10) { 500 } else { 200 };
    handle.finish(Some(status), Outcome::Completed);
    Some((handle.id(), events))
}

/// The events of a recording without its Begin and End.
pub fn middle(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| !matches!(e, Event::Begin(_) | Event::End(_)))
        .cloned()
        .collect()
}

/// Runs `f` as the body of one recording, its context entered on this thread (an async
/// body is `|| rt.block_on(body)`), then reads the recording back from `dir`.
pub fn record<R>(recorder: &Recorder, dir: &Path, f: impl FnOnce() -> R) -> (R, Recording) {
    let handle = recorder
        .start(StartOptions::new(RecordReason::Sampled))
        .expect("recording starts");
    let out = {
        let _entered = RetraceContext::Recording(handle.clone()).enter();
        f()
    };
    handle.finish(Some(200), Outcome::Completed);
    recorder.flush(Duration::from_secs(10)).expect("flushed");
    let recording = Store::open(dir)
        .expect("store opens")
        .get(&handle.id().to_string())
        .expect("recording written");
    (out, recording)
}

/// Runs `f` in a strict replay of `recording`, with the recorder's redaction.
pub fn replay<R>(recorder: &Recorder, recording: &Recording, f: impl FnOnce() -> R) -> R {
    let redaction = recorder.redaction().expect("recording on").clone();
    let session = ReplaySession::new(recording, ReplayOptions::default(), redaction);
    let _entered = RetraceContext::Replay(session).enter();
    f()
}

/// The `SealedReplay` that `f`, a strict replay that misses, unwinds with.
pub fn sealed<R>(f: impl FnOnce() -> R) -> SealedReplay {
    let Err(payload) = catch_unwind(AssertUnwindSafe(f)) else {
        panic!("the replay should have stopped");
    };
    *payload
        .downcast::<SealedReplay>()
        .expect("stopped with a SealedReplay")
}
