//! [`Client`]: the service that records or replays one outgoing call.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use retrace::context::Context;
use retrace::event::{
    Body as RecordedBody, BodyEnd, CallOutcome, Event, OutboundCall, OutboundResult, ResponseHead,
};
use retrace::policy::{PARENT_HEADER, parent_header_value};
use retrace::replay::{CallAnswer, CallKey, ReplaySession, UnmatchedCall};
use retrace::{RecordingHandle, SpanId, TraceId, TraceParent};
use tower_service::Service;

use super::body::ClientBody;
use super::future::ClientFuture;
use crate::capture::{BodyEndHook, CaptureSettings, Side, Tap};
use crate::record::RecordBody;

/// Why a call through a [`Client`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError<E> {
    /// The wrapped client failed.
    #[error("{0}")]
    Inner(E),
    /// The request body could not be read.
    #[error("reading the request body failed: {0}")]
    Body(String),
    /// Strict replay: no recorded call matches.
    #[error("{0}")]
    Unmatched(UnmatchedCall),
    /// Replay: the recorded call had failed; this is its error text (shown as it was,
    /// so the handler sees what it saw when recording).
    #[error("{0}")]
    Replayed(String),
}

/// A client whose calls are recorded and replayed.
#[derive(Clone, Debug)]
pub struct Client<S> {
    inner: S,
    settings: Arc<CaptureSettings>,
}

impl<S> Client<S> {
    pub(crate) fn new(inner: S, settings: Arc<CaptureSettings>) -> Self {
        Self { inner, settings }
    }
}

const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
const RETRACE_PARENT: http::HeaderName = http::HeaderName::from_static(PARENT_HEADER);

fn target(uri: &http::Uri) -> String {
    uri.authority()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

/// Records a call's answer when its body ends.
struct RecordCallResult {
    handle: RecordingHandle,
    call_id: u32,
    head: ResponseHead,
    started: Instant,
}

impl BodyEndHook for RecordCallResult {
    fn body_ended(self: Box<Self>, end: &BodyEnd, collected: Bytes) {
        self.handle
            .record(Event::CallResult(Box::new(OutboundResult {
                call_id: self.call_id,
                duration_us: self.started.elapsed().as_micros() as u64,
                outcome: CallOutcome::Response {
                    head: self.head,
                    body: RecordedBody {
                        data: collected,
                        end: end.clone(),
                    },
                },
            })));
    }
}

/// Reads a request body whole.
async fn collect<B>(body: B) -> Result<Bytes, String>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string())
}

impl<S, B, ResB> Service<Request<B>> for Client<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: fmt::Display + Send + 'static,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: fmt::Display,
    ResB: Body<Data = Bytes> + Send + 'static,
{
    type Response = Response<ClientBody<ResB>>;
    type Error = ClientError<S::Error>;
    type Future = ClientFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(ClientError::Inner)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(context) = Context::current() else {
            return ClientFuture::passthrough(self.inner.call(req));
        };
        // The inner service was made ready by poll_ready: keep that one for this call.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let settings = Arc::clone(&self.settings);
        match context {
            Context::Recording(handle) => {
                ClientFuture::boxed(Box::pin(record_call(inner, settings, handle, req)))
            }
            Context::Replay(session) => {
                ClientFuture::boxed(Box::pin(replay_call(inner, settings, session, req)))
            }
        }
    }
}

async fn record_call<S, B, ResB>(
    mut inner: S,
    settings: Arc<CaptureSettings>,
    handle: RecordingHandle,
    req: Request<B>,
) -> Result<Response<ClientBody<ResB>>, ClientError<S::Error>>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: fmt::Display,
    B: Body<Data = Bytes> + From<Bytes>,
    B::Error: fmt::Display,
    ResB: Body<Data = Bytes>,
{
    let call_id = handle.next_seq();
    let at_us = handle.elapsed_us();
    let (mut parts, body) = req.into_parts();
    let bytes = collect(body).await.map_err(ClientError::Body)?;
    let trace_id = handle.trace_id().unwrap_or_else(TraceId::random);
    let traceparent = TraceParent {
        trace_id,
        parent_id: SpanId::random(),
        flags: 1,
    };
    if let Ok(v) = HeaderValue::from_str(&traceparent.to_string()) {
        parts.headers.insert(TRACEPARENT, v);
    }
    let parent = parent_header_value(handle.propagation_token(), trace_id, handle.id());
    if let Ok(v) = HeaderValue::from_str(&parent) {
        parts.headers.insert(RETRACE_PARENT, v);
    }
    let head =
        settings.request_parts_head(&parts.method, &parts.uri, parts.version, &parts.headers);
    let kept = bytes.len().min(settings.body_cap);
    let truncated = kept < bytes.len();
    handle.record(Event::Call(Box::new(OutboundCall {
        call_id,
        target: target(&parts.uri),
        at_us,
        head,
        body: RecordedBody {
            data: bytes.slice(..kept),
            end: BodyEnd {
                at_us,
                total_len: bytes.len() as u64,
                captured_len: kept as u64,
                digest: truncated.then(|| *blake3::hash(&bytes).as_bytes()),
                trailers: Vec::new(),
                finished: true,
            },
        },
    })));
    let started = Instant::now();
    match inner.call(Request::from_parts(parts, B::from(bytes))).await {
        Ok(response) => {
            let head = settings.response_head(&response);
            let (parts, body) = response.into_parts();
            let tap = Tap::new(
                handle.clone(),
                Side::Collect,
                &settings,
                &parts.headers,
                body.size_hint().exact(),
                started,
            )
            .on_end(RecordCallResult {
                handle,
                call_id,
                head,
                started,
            });
            Ok(Response::from_parts(
                parts,
                ClientBody::Live(RecordBody::tapped(body, tap)),
            ))
        }
        Err(e) => {
            handle.record(Event::CallResult(Box::new(OutboundResult {
                call_id,
                duration_us: started.elapsed().as_micros() as u64,
                outcome: CallOutcome::Error(e.to_string()),
            })));
            Err(ClientError::Inner(e))
        }
    }
}

fn recorded_response<B>(head: &ResponseHead, data: Bytes) -> Response<ClientBody<B>> {
    let mut response = Response::new(ClientBody::Recorded(Some(data)));
    *response.status_mut() =
        http::StatusCode::from_u16(head.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for h in &head.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(&h.value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

async fn replay_call<S, B, ResB>(
    mut inner: S,
    settings: Arc<CaptureSettings>,
    session: Arc<ReplaySession>,
    req: Request<B>,
) -> Result<Response<ClientBody<ResB>>, ClientError<S::Error>>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    B: Body<Data = Bytes> + From<Bytes>,
    B::Error: fmt::Display,
{
    let (parts, body) = req.into_parts();
    let bytes = collect(body).await.map_err(ClientError::Body)?;
    let key = CallKey::new(
        parts.method.as_str(),
        settings.redaction.uri(&parts.uri),
        &bytes,
    );
    match session.answer_call(&key) {
        Ok(CallAnswer::Recorded { outcome, .. }) => match outcome {
            CallOutcome::Response { head, body } => Ok(recorded_response(&head, body.data)),
            CallOutcome::Error(text) => Err(ClientError::Replayed(text)),
        },
        Ok(CallAnswer::PassThrough) => inner
            .call(Request::from_parts(parts, B::from(bytes)))
            .await
            .map(|r| r.map(|b| ClientBody::Live(RecordBody::passthrough(b))))
            .map_err(ClientError::Inner),
        Err(unmatched) => Err(ClientError::Unmatched(unmatched)),
    }
}
