//! Running a replay.

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use retrace::context::{RetraceContext, WithContext};
use retrace::diff::{
    NoiseRules, ResponseView, comparable_answer, comparable_recorded, diff_responses,
};
use retrace::replay::{ReplayOptions, ReplaySession};
use retrace::{Recording, Redaction};
use tower_service::Service;

use super::report::{ReplayReport, ReplayedResponse};

/// Why a replay could not run (as opposed to running and differing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The recording has no request to replay.
    #[error("recording {0} holds no request head")]
    NoRequest(retrace::RecordingId),
    /// The recording has no response to compare with.
    #[error("recording {0} holds no response (it ended as {1})")]
    NoResponse(retrace::RecordingId, String),
    /// The recorded request cannot be rebuilt.
    #[error("recording {id}: the recorded request cannot be rebuilt: {reason}")]
    BadRequest {
        /// The recording.
        id: retrace::RecordingId,
        /// What is wrong.
        reason: String,
    },
    /// The service failed instead of answering.
    #[error("recording {id}: the service failed: {reason}")]
    Service {
        /// The recording.
        id: retrace::RecordingId,
        /// Its error.
        reason: String,
    },
    /// The response body could not be read.
    #[error("recording {id}: reading the response body failed: {reason}")]
    Body {
        /// The recording.
        id: retrace::RecordingId,
        /// Its error.
        reason: String,
    },
    /// Strict replay: the replay was not identical (a difference, an unmatched call, a
    /// recorded call not made, a missing value). The report says what; a test can `?`
    /// on it, and [`ReplayError::into_report`] gets the report back.
    #[error("{}", .0.describe().trim_end())]
    Diverged(Box<ReplayReport>),
    /// Strict replay: the code asked for a value the recording does not hold, and the
    /// replay is sealed, so the real call was not made (see `retrace::boundary`).
    #[error("recording {id}: {source}")]
    Sealed {
        /// The recording.
        id: retrace::RecordingId,
        /// The boundary without a recorded value.
        #[source]
        source: retrace::SealedReplay,
    },
}

impl ReplayError {
    /// The report of a replay that diverged, to look at either way; any other error as
    /// it is: `replay_recording(&recording, app).await.or_else(ReplayError::into_report)?`.
    pub fn into_report(self) -> Result<ReplayReport, ReplayError> {
        match self {
            Self::Diverged(report) => Ok(*report),
            other => Err(other),
        }
    }

    /// The report, when the replay diverged.
    pub fn report(&self) -> Option<&ReplayReport> {
        match self {
            Self::Diverged(report) => Some(report),
            _ => None,
        }
    }
}

/// How to replay: matching options, noise rules, redaction, learned noise, and how a
/// call's key is made.
#[derive(Clone, Default)]
pub struct Replay {
    options: ReplayOptions,
    noise: NoiseRules,
    redaction: Redaction,
    learn_noise: bool,
    call_key: Option<retrace::replay::CallKeyFn>,
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("options", &self.options)
            .field("noise", &self.noise)
            .field("learn_noise", &self.learn_noise)
            .field("call_key", &self.call_key.is_some())
            .finish_non_exhaustive()
    }
}

/// Replays `recording` through `service` with the default settings (strict matching,
/// default noise rules and redaction).
pub async fn replay_recording<S, B>(
    recording: &Recording,
    service: S,
) -> Result<ReplayReport, ReplayError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: fmt::Display,
    B: Body<Data = Bytes>,
    B::Error: fmt::Display,
{
    Replay::default().run(recording, service).await
}

impl Replay {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Matching options (strict or lenient, repeats).
    pub fn options(mut self, options: ReplayOptions) -> Self {
        self.options = options;
        self
    }

    /// Adjusts every outgoing call's key, recorded and live alike, before they are
    /// matched: for a volatile query parameter, say.
    ///
    /// ```
    /// let replay = retrace_tower::Replay::new().call_key(|key| {
    ///     key.query.retain(|param| !param.starts_with("ts="));
    /// });
    /// # let _ = replay;
    /// ```
    pub fn call_key(
        mut self,
        f: impl Fn(&mut retrace::replay::CallKey) + Send + Sync + 'static,
    ) -> Self {
        self.call_key = Some(Arc::new(f));
        self
    }

    /// Noise rules for the comparison.
    pub fn noise(mut self, noise: NoiseRules) -> Self {
        self.noise = noise;
        self
    }

    /// The redaction the recording was made with, applied to the new response.
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// The noise rules in use.
    pub fn noise_rules(&self) -> &NoiseRules {
        &self.noise
    }

    /// Replay twice and treat what differs between the two as noise.
    pub fn learn_noise(mut self, on: bool) -> Self {
        self.learn_noise = on;
        self
    }

    /// Replays one recording.
    pub async fn run<S, B>(
        &self,
        recording: &Recording,
        service: S,
    ) -> Result<ReplayReport, ReplayError>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
        S::Error: fmt::Display,
        B: Body<Data = Bytes>,
        B::Error: fmt::Display,
    {
        let id = recording.id;
        let recorded_head = recording.response().ok_or_else(|| {
            ReplayError::NoResponse(
                id,
                recording
                    .end()
                    .map_or_else(|| "incomplete".to_owned(), |e| format!("{:?}", e.outcome)),
            )
        })?;
        let recorded_body = recording.response_body();
        let recorded_trailers = recording
            .response_end()
            .map_or(&[][..], |end| end.trailers.as_slice());
        let (first, session) = self.once(recording, service.clone()).await?;
        let mut noise = self.noise.clone();
        let learned = if self.learn_noise {
            let (second, _) = self.once(recording, service).await?;
            let learned = NoiseRules::learn(&first.view(), &second.view());
            noise.extend(learned.clone());
            Some(learned)
        } else {
            None
        };
        let (recorded_headers, recorded_body) =
            comparable_recorded(&self.redaction, &recorded_head.headers, recorded_body).map_err(
                |e| ReplayError::Body {
                    id,
                    reason: format!("decoding the recorded response: {e}"),
                },
            )?;
        let diff = diff_responses(
            &ResponseView::new(recorded_head.status, &recorded_headers, &recorded_body)
                .with_trailers(recorded_trailers),
            &first.view(),
            &noise,
        );
        let route = recording
            .request()
            .map_or_else(String::new, |r| format!("{} {}", r.method, r.path()));
        let report = ReplayReport {
            recording: id,
            route,
            response: first,
            diff,
            calls: session.report(),
            learned_noise: learned,
        };
        if self.options.strict && !report.is_identical() {
            return Err(ReplayError::Diverged(Box::new(report)));
        }
        Ok(report)
    }

    async fn once<S, B>(
        &self,
        recording: &Recording,
        mut service: S,
    ) -> Result<(ReplayedResponse, Arc<ReplaySession>), ReplayError>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>>,
        S::Error: fmt::Display,
        B: Body<Data = Bytes>,
        B::Error: fmt::Display,
    {
        let id = recording.id;
        let request = build_request(recording)?;
        let session = ReplaySession::with_call_key(
            recording,
            self.options,
            self.redaction.clone(),
            self.call_key.clone(),
        );
        let context = RetraceContext::Replay(Arc::clone(&session));
        let service_error = |e: S::Error| ReplayError::Service {
            id,
            reason: e.to_string(),
        };
        poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(service_error)?;
        let sealed = |source| ReplayError::Sealed { id, source };
        let future = super::unwind::catch_sealed(|| {
            let _entered = context.enter();
            service.call(request)
        })
        .map_err(sealed)?;
        let response =
            super::unwind::CatchUnwind::new(WithContext::new(future, Some(context.clone())))
                .await
                .map_err(sealed)?
                .map_err(service_error)?;
        let (parts, body) = response.into_parts();
        let collected =
            super::unwind::CatchUnwind::new(WithContext::new(body.collect(), Some(context)))
                .await
                .map_err(sealed)?
                .map_err(|e| ReplayError::Body {
                    id,
                    reason: e.to_string(),
                })?;
        let trailers = collected
            .trailers()
            .map_or_else(Vec::new, |t| self.redaction.headers(t));
        let (headers, body) =
            comparable_answer(&self.redaction, &parts.headers, collected.to_bytes()).map_err(
                |e| ReplayError::Body {
                    id,
                    reason: format!("decoding the answer: {e}"),
                },
            )?;
        Ok((
            ReplayedResponse {
                status: parts.status.as_u16(),
                headers,
                body,
                trailers,
            },
            session,
        ))
    }
}

/// The recorded request, ready to send again.
fn build_request(recording: &Recording) -> Result<Request<Full<Bytes>>, ReplayError> {
    let id = recording.id;
    let head = recording.request().ok_or(ReplayError::NoRequest(id))?;
    let bad = |reason: String| ReplayError::BadRequest { id, reason };
    let mut builder = Request::builder()
        .method(head.method.as_ref())
        .uri(head.uri.as_str());
    for h in &head.headers {
        // The body is rebuilt whole, so framing headers are recomputed.
        if h.name.eq_ignore_ascii_case("content-length")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        builder = builder.header(h.name.as_ref(), h.value.as_ref());
    }
    builder
        .body(Full::new(recording.request_body()))
        .map_err(|e| bad(e.to_string()))
}
