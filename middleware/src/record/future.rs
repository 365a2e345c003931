//! [`ResponseFuture`]: polls the inner service with the recording current, records the
//! response head and wraps the response body; ends the recording if dropped early.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Instant;

use http::{HeaderValue, Response};
use http_body::Body;
use pin_project::{pin_project, pinned_drop};
use retrace::context::RetraceContext;
use retrace::event::{BodyEnd, Event, Outcome};
use retrace::{RecordReason, RecordingHandle};

use super::body::RecordBody;
use super::layer::{RECORDING_ID_HEADER, Shared};
use crate::capture::{BodyEndHook, Side, Tap};

/// Holds one of the layer's in-flight places until the recording ends.
#[derive(Debug)]
pub(crate) struct InFlightSlot {
    shared: Arc<Shared>,
}

impl InFlightSlot {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A recording waiting for its response.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) handle: RecordingHandle,
    pub(crate) context: RetraceContext,
    pub(crate) shared: Arc<Shared>,
    pub(crate) _slot: InFlightSlot,
    pub(crate) tentative: bool,
    pub(crate) started: Instant,
}

impl Pending {
    /// Ends the recording: a plain one is finished; a tentative one is kept when the
    /// tail-keep rule asks for it (a kept status, a failure, a slow request), under
    /// that cause, and discarded otherwise. The one place tail keep decides at the
    /// end; a tentative recording whose answer the rule cannot keep
    /// ([`Policy::may_keep_answer`](retrace::policy::Policy::may_keep_answer)) is
    /// discarded earlier, at the response head.
    fn end(self, status: Option<u16>, outcome: Outcome) {
        if !self.tentative {
            self.handle.finish(status, outcome);
            return;
        }
        let failed = matches!(outcome, Outcome::Failed(_));
        let keep = self
            .shared
            .policy
            .keep_cause(status, failed, self.started.elapsed());
        match keep {
            Some(cause) => {
                self.handle
                    .finish_as(status, outcome, RecordReason::KeptOnOutcome(cause))
            }
            None => self.handle.discard(),
        }
    }

    /// Ends the recording without a response.
    fn end_without_response(self, outcome: Outcome) {
        self.end(None, outcome);
    }
}

/// Ends the recording when the response body ends.
pub(crate) struct FinishOnBodyEnd {
    pending: Pending,
    status: u16,
}

impl FinishOnBodyEnd {
    pub(crate) fn body_ended(self, end: &BodyEnd) {
        let outcome = if end.finished {
            Outcome::Completed
        } else {
            Outcome::Aborted
        };
        self.pending.end(Some(self.status), outcome);
    }
}

/// The future of a [`Record`](super::Record) service.
#[pin_project(PinnedDrop)]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    pending: Option<Pending>,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            inner,
            pending: None,
        }
    }

    pub(crate) fn recording(inner: F, pending: Pending) -> Self {
        Self {
            inner,
            pending: Some(pending),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = bytes::Bytes>,
    E: std::fmt::Display,
{
    type Output = Result<Response<RecordBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.pending.as_ref().map(|p| p.context.enter());
            ready!(this.inner.poll(cx))
        };
        let Some(pending) = this.pending.take() else {
            return Poll::Ready(result.map(|r| r.map(RecordBody::passthrough)));
        };
        match result {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if pending.tentative && !pending.shared.policy.may_keep_answer(status) {
                    // Nothing the body does can keep it now: no capture, no redaction.
                    pending.handle.discard();
                    return Poll::Ready(Ok(response.map(RecordBody::passthrough)));
                }
                let (head, coding) = pending
                    .shared
                    .capture
                    .response_head(&pending.handle, &response);
                pending.handle.record(Event::Response(head));
                if pending.shared.echo_id
                    && let Ok(v) = HeaderValue::from_str(&pending.handle.id().to_string())
                {
                    response.headers_mut().insert(RECORDING_ID_HEADER, v);
                }
                let (parts, body) = response.into_parts();
                let tap = Tap::new(
                    pending.handle.clone(),
                    Side::Response,
                    &pending.shared.capture,
                    &parts.headers,
                    coding,
                    body.size_hint().exact(),
                    pending.started,
                )
                .on_end(BodyEndHook::FinishRecording(FinishOnBodyEnd {
                    pending,
                    status,
                }));
                Poll::Ready(Ok(Response::from_parts(
                    parts,
                    RecordBody::tapped(body, tap),
                )))
            }
            Err(e) => {
                pending.end_without_response(Outcome::Failed(e.to_string()));
                Poll::Ready(Err(e))
            }
        }
    }
}

#[pinned_drop]
impl<F> PinnedDrop for ResponseFuture<F> {
    fn drop(self: Pin<&mut Self>) {
        if let Some(pending) = self.project().pending.take() {
            pending.end_without_response(Outcome::Aborted);
        }
    }
}
