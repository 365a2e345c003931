//! [`RecordedClient`]: the service that records or replays one outgoing call.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use retrace::RecordingHandle;
use retrace::context::RetraceContext;
use retrace::event::{BodyEnd, CallOutcome, ResponseHead};
use retrace::replay::{CallAnswer, CallKey, ReplaySession, UnmatchedCall};
use tower_service::Service;

use super::body::ClientBody;
use super::future::ClientFuture;
use super::seal::SealWatch;
use crate::call::{self, CallInFlight};
use crate::capture::{BodyEndHook, CaptureSettings, Joined, Side, Tap};
use crate::record::RecordBody;

/// Why a call through a [`RecordedClient`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A call without the replay's context while a strict replay of this client ran
    /// (a task spawned without `.with_current_context()`): refused, never sent.
    #[error("escaped call refused during a sealed replay: {0}")]
    Escaped(String),
}

/// A client whose calls are recorded and replayed.
#[derive(Clone, Debug)]
pub struct RecordedClient<S> {
    inner: S,
    body_cap: usize,
    seal: Arc<SealWatch>,
}

impl<S> RecordedClient<S> {
    pub(crate) fn new(inner: S, body_cap: usize) -> Self {
        Self {
            inner,
            body_cap,
            seal: Arc::default(),
        }
    }
}

inner_service_access!(RecordedClient);

/// Records a call's answer when its body ends.
pub(crate) struct RecordCallResult {
    call: CallInFlight,
    head: ResponseHead,
}

impl RecordCallResult {
    pub(crate) fn body_ended(self, end: &BodyEnd, collected: Bytes) {
        self.call.answered(self.head, collected, end.clone());
    }
}

/// Reads a request body whole.
async fn collect<B>(body: B) -> Result<Bytes, String>
where
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    // Most calls (a GET, say) have no body: nothing to read, nothing to allocate.
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let mut body = std::pin::pin!(body);
    let mut joined = Joined::Empty;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() {
            joined.push(&data);
        }
    }
    Ok(joined.into_bytes())
}

impl<S, B, ResB> Service<Request<B>> for RecordedClient<S>
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
        let Some(context) = RetraceContext::current() else {
            if let Some(session) = self.seal.escaped_from() {
                let uri = session.redaction().uri(req.uri());
                let what = format!("{} {uri} from a task without context", req.method());
                session.note_escaped(what.clone());
                return ClientFuture::boxed(Box::pin(
                    async move { Err(ClientError::Escaped(what)) },
                ));
            }
            return ClientFuture::passthrough(self.inner.call(req));
        };
        // The inner service was made ready by poll_ready: keep that one for this call.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        let redaction = match &context {
            RetraceContext::Recording(handle) => handle.redaction(),
            RetraceContext::Replay(session) => session.redaction(),
        };
        let settings = CaptureSettings {
            redaction: redaction.clone(),
            body_cap: self.body_cap,
        };
        match context {
            RetraceContext::Recording(handle) => {
                ClientFuture::boxed(Box::pin(record_call(inner, settings, handle, req)))
            }
            RetraceContext::Replay(session) => {
                self.seal.replaying(&session);
                ClientFuture::boxed(Box::pin(replay_call(inner, settings, session, req)))
            }
        }
    }
}

async fn record_call<S, B, ResB>(
    mut inner: S,
    settings: CaptureSettings,
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
    let (mut parts, body) = req.into_parts();
    let bytes = collect(body).await.map_err(ClientError::Body)?;
    call::propagate(&handle, &mut parts.headers);
    let call = call::start_call(
        &settings,
        handle.clone(),
        &parts.method,
        &parts.uri,
        parts.version,
        &parts.headers,
        &bytes,
    );
    match inner.call(Request::from_parts(parts, B::from(bytes))).await {
        Ok(response) => {
            let (head, coding) = settings.response_head(&handle, &response);
            let (parts, body) = response.into_parts();
            let tap = Tap::new(
                handle,
                Side::Collect,
                &settings,
                &parts.headers,
                coding,
                body.size_hint().exact(),
                call.started,
            )
            .on_end(BodyEndHook::RecordCall(RecordCallResult { call, head }));
            Ok(Response::from_parts(
                parts,
                ClientBody::live(RecordBody::tapped(body, tap)),
            ))
        }
        Err(e) => {
            call.failed(e.to_string());
            Err(ClientError::Inner(e))
        }
    }
}

async fn replay_call<S, B, ResB>(
    mut inner: S,
    settings: CaptureSettings,
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
        &call::recorded_body(&settings, &parts.headers, &bytes),
    );
    match session.answer_call(&key) {
        Ok(CallAnswer::Recorded { outcome, .. }) => match outcome {
            CallOutcome::Response { head, body } => Ok(call::recorded_response(
                &head,
                ClientBody::recorded(body.data, &body.end.trailers),
            )),
            CallOutcome::Error(text) => Err(ClientError::Replayed(text)),
        },
        Ok(CallAnswer::PassThrough) => inner
            .call(Request::from_parts(parts, B::from(bytes)))
            .await
            .map(|r| r.map(|b| ClientBody::live(RecordBody::passthrough(b))))
            .map_err(ClientError::Inner),
        Err(unmatched) => Err(ClientError::Unmatched(unmatched)),
    }
}
