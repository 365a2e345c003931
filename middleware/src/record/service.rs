//! [`Record`]: the service that decides per request and starts the recording.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use retrace::context::RetraceContext;
use retrace::event::Event;
use retrace::policy::{Decision, RequestView};
use retrace::{DropReason, RecordReason, StartOptions, TraceId, TraceParent};
use tower_service::Service;

use super::body::RecordBody;
use super::future::{InFlightSlot, Pending, ResponseFuture};
use super::layer::Shared;
use crate::capture::{Side, Tap};

/// A service whose requests are recorded according to the layer's policy.
#[derive(Clone, Debug)]
pub struct Record<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Record<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

inner_service_access!(Record);

const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The trace a request belongs to: from its `traceparent`, or a new one.
pub(crate) fn trace_of(headers: &http::HeaderMap) -> (TraceId, bool) {
    match headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<TraceParent>().ok())
    {
        Some(tp) => (tp.trace_id, true),
        None => (TraceId::random(), false),
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Record<S>
where
    S: Service<Request<RecordBody<ReqB>>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
    ReqB: Body<Data = Bytes>,
    ResB: Body<Data = Bytes>,
{
    type Response = Response<RecordBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let shared = &self.shared;
        // Cheapest first: a recorder that is off is one branch. A request being replayed
        // is not recorded again. A recorder shut down still decides, so that what it
        // would have recorded is counted (declined after shutdown).
        if shared.recorder.config().is_none() {
            return ResponseFuture::passthrough(self.inner.call(req.map(RecordBody::passthrough)));
        }
        shared.recorder.count_request();
        if !shared.policy.could_record(req.headers())
            || RetraceContext::with_current(|c| matches!(c, Some(RetraceContext::Replay(_))))
        {
            return ResponseFuture::passthrough(self.inner.call(req.map(RecordBody::passthrough)));
        }
        let (trace_id, from_header) = trace_of(req.headers());
        let decision = shared
            .policy
            .decide(&RequestView::of(&req), trace_id, from_header);
        let (reason, tentative) = match decision {
            Decision::Skip => {
                return ResponseFuture::passthrough(
                    self.inner.call(req.map(RecordBody::passthrough)),
                );
            }
            Decision::Record(reason) => (reason, false),
            Decision::Tentative => (RecordReason::Sampled, true),
        };
        let Some(slot) = InFlightSlot::take(shared) else {
            shared.recorder.count_declined(DropReason::InFlightLimit);
            release_capture(shared, reason);
            return ResponseFuture::passthrough(self.inner.call(req.map(RecordBody::passthrough)));
        };
        let options = StartOptions::new(reason)
            .trace_id(Some(trace_id))
            .tentative(tentative)
            .max_bytes(Some(shared.max_recording_bytes));
        let Some(handle) = shared.recorder.start(options) else {
            release_capture(shared, reason);
            return ResponseFuture::passthrough(self.inner.call(req.map(RecordBody::passthrough)));
        };
        let started = Instant::now();
        let (head, coding) = shared.capture.request_head(&handle, &req);
        handle.record(Event::Request(head));
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(handle.id());
        let exact = body.size_hint().exact();
        let tap = Tap::new(
            handle.clone(),
            Side::Request,
            &shared.capture,
            &parts.headers,
            coding,
            exact,
            started,
        );
        let req = Request::from_parts(parts, RecordBody::tapped(body, tap));
        let context = RetraceContext::Recording(handle.clone());
        let future = {
            let _entered = context.enter();
            self.inner.call(req)
        };
        ResponseFuture::recording(
            future,
            Pending {
                handle,
                context,
                shared: Arc::clone(shared),
                _slot: slot,
                tentative,
                started,
            },
        )
    }
}

impl InFlightSlot {
    /// Takes a slot under the layer's in-flight limit.
    pub(crate) fn take(shared: &Arc<Shared>) -> Option<Self> {
        let before = shared.in_flight.fetch_add(1, Ordering::Relaxed);
        if before >= shared.max_in_flight {
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self::new(Arc::clone(shared)))
    }
}

/// A capture's slot back, when the request it was claimed for is not recorded.
fn release_capture(shared: &Shared, reason: RecordReason) {
    if let RecordReason::Capture(id) = reason {
        shared.policy.release_capture(id);
    }
}
