//! [`AdminService`]: routes a request, checks its key, runs the handler, audits.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Buf;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use retrace::CaptureId;
use retrace::audit::AuditEntry;
use retrace::policy::PolicyError;
use serde_json::json;

use super::captures::{CaptureRequest, capture_json, created_json};
use super::error::ApiError;
use super::keys::{Caller, Scope};
use super::limits::Refusal;
use super::recordings::{self, ListQuery};
use super::{State, health, json_response, metrics};

/// The largest request body read (a capture request is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// Refusals written to the audit log per second at most.
const DENIED_PER_SECOND: u32 = 10;

/// How many refusals were written this second, and how many were not since the last
/// one written.
#[derive(Debug, Default)]
pub(crate) struct DeniedAudit {
    second: Option<std::time::Instant>,
    written: u32,
    skipped: u64,
}

impl DeniedAudit {
    /// `Some(refusals skipped before this one)` when this one may be written.
    fn admit(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        if self
            .second
            .is_none_or(|s| now.duration_since(s) >= std::time::Duration::from_secs(1))
        {
            self.second = Some(now);
            self.written = 0;
        }
        if self.written >= DENIED_PER_SECOND {
            self.skipped += 1;
            return None;
        }
        self.written += 1;
        Some(std::mem::take(&mut self.skipped))
    }
}

/// The admin service; see [the module](super).
#[derive(Clone)]
pub struct AdminService {
    state: Arc<State>,
}

impl fmt::Debug for AdminService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminService").finish_non_exhaustive()
    }
}

type Answer = Result<Response<Full<Bytes>>, Infallible>;

/// The future of an [`AdminService`] call.
pub struct AdminFuture {
    inner: Pin<Box<dyn Future<Output = Answer> + Send>>,
}

impl fmt::Debug for AdminFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminFuture").finish_non_exhaustive()
    }
}

impl Future for AdminFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl AdminService {
    pub(super) fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

impl<B> tower_service::Service<Request<B>> for AdminService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: fmt::Display,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = AdminFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> AdminFuture {
        let state = Arc::clone(&self.state);
        AdminFuture {
            inner: Box::pin(async move { Ok(handle(state, req).await) }),
        }
    }
}

/// A request's route, once its prefix is taken off.
enum Route {
    Health,
    Metrics,
    Captures,
    Capture(String),
    Recordings,
    Recording(String),
}

fn route(path: &str) -> Option<Route> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match parts[..] {
        ["health"] => Route::Health,
        ["metrics"] => Route::Metrics,
        ["captures"] => Route::Captures,
        ["captures", id] => Route::Capture(id.to_owned()),
        ["recordings"] => Route::Recordings,
        ["recordings", id] => Route::Recording(id.to_owned()),
        _ => return None,
    })
}

/// The caller of an authenticated request.
struct Who {
    id: String,
    scope: Scope,
}

/// Reads a capture request's body, then answers on a blocking thread: handlers read
/// the recording directory, the keys file and append to the audit log, which must not
/// hold up the runtime the host's own routes run on.
async fn handle<B>(state: Arc<State>, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body,
    B::Error: fmt::Display,
{
    let (parts, body) = req.into_parts();
    let body = if parts.method == Method::POST {
        match read_body(body).await {
            Ok(b) => b,
            Err(e) => return e.into_response(),
        }
    } else {
        Bytes::new()
    };
    let answer = move || respond(&state, &parts, &body);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.spawn_blocking(answer).await.unwrap_or_else(|_| {
            ApiError::internal("the admin handler failed; see the log").into_response()
        }),
        Err(_) => answer(),
    }
}

/// The path below the service's prefix, when it is below it (whole segments).
fn below_prefix<'a>(prefix: &str, path: &'a str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn respond(state: &State, req: &http::request::Parts, body: &Bytes) -> Response<Full<Bytes>> {
    let full = req.uri.path();
    let Some(path) = below_prefix(&state.prefix, full) else {
        return ApiError::not_found("not_found", format!("no admin endpoint at {full}"))
            .into_response();
    };
    let Some(route) = route(path) else {
        return ApiError::not_found("not_found", format!("no admin endpoint at {path}"))
            .into_response();
    };
    if let Route::Health = route {
        if req.method != Method::GET {
            return method_not_allowed(&req.method);
        }
        let reasons = state.health.check(&state.recorder, state.keys.problem());
        let status = if reasons.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return json_response(status, &health::body(&reasons));
    }
    let action = action_of(&route, &req.method);
    let who = match authenticate(state, &req.headers, required_scope(&route, &req.method)) {
        Ok(who) => who,
        Err((err, who)) => {
            // With no key at all the service is off: nothing to audit, and nothing
            // for anonymous traffic to fill the log with.
            if err.code != "admin_disabled" {
                audit(state, &who, action, None, &Err(err.clone()));
            }
            return err.into_response();
        }
    };
    let method = req.method.clone();
    let query = req.uri.query().unwrap_or("").to_owned();
    let (target, result) = match (&route, &method) {
        (Route::Metrics, &Method::GET) => {
            return match metrics::render(&state.recorder) {
                Ok(text) => {
                    let mut resp = Response::new(Full::new(Bytes::from(text)));
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static(metrics::CONTENT_TYPE),
                    );
                    resp
                }
                Err(_) => ApiError::internal("the metrics could not be encoded").into_response(),
            };
        }
        (Route::Captures, &Method::POST) => {
            let result = start_capture(state, &who, body);
            let target = result
                .as_ref()
                .ok()
                .and_then(|(_, v)| v["id"].as_str().map(str::to_owned));
            (target, result)
        }
        (Route::Captures, &Method::GET) => {
            let list: Vec<_> = state
                .recorder
                .policy()
                .captures()
                .iter()
                .map(capture_json)
                .collect();
            (None, Ok((StatusCode::OK, json!({ "captures": list }))))
        }
        (Route::Capture(id), &Method::GET) => (
            Some(id.clone()),
            find_capture(state, id).map(|info| (StatusCode::OK, capture_json(&info))),
        ),
        (Route::Capture(id), &Method::DELETE) => (Some(id.clone()), stop_capture(state, &who, id)),
        (Route::Recordings, &Method::GET) => (
            Some(query.clone()).filter(|q| !q.is_empty()),
            ListQuery::parse(&query).and_then(|q| {
                recordings::list(&recording_root(state)?, &q, state.limits.max_page)
                    .map(|v| (StatusCode::OK, v))
            }),
        ),
        (Route::Recording(id), &Method::GET) => (
            Some(id.clone()),
            recording_root(state)
                .and_then(|root| recordings::get(&root, id))
                .map(|v| (StatusCode::OK, v)),
        ),
        (_, m) => return method_not_allowed(m),
    };
    audit(
        state,
        &Ok(who),
        action,
        target,
        &result.as_ref().map(|_| ()).map_err(Clone::clone),
    );
    match result {
        Ok((status, body)) => json_response(status, &body),
        Err(e) => e.into_response(),
    }
}

fn method_not_allowed(method: &Method) -> Response<Full<Bytes>> {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here"),
    )
    .into_response()
}

fn required_scope(route: &Route, method: &Method) -> Scope {
    match (route, method) {
        (Route::Captures, &Method::POST) | (Route::Capture(_), &Method::DELETE) => Scope::Capture,
        _ => Scope::Read,
    }
}

fn action_of(route: &Route, method: &Method) -> &'static str {
    match (route, method) {
        (Route::Health, _) => "health",
        (Route::Metrics, _) => "metrics.read",
        (Route::Captures, &Method::POST) => "captures.create",
        (Route::Captures, _) => "captures.list",
        (Route::Capture(_), &Method::DELETE) => "captures.delete",
        (Route::Capture(_), _) => "captures.read",
        (Route::Recordings, _) => "recordings.list",
        (Route::Recording(_), _) => "recordings.read",
    }
}

/// The key a request presents: `Authorization: Bearer KEY` or `X-API-Key: KEY`.
fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Who calls, if they may; else the refusal and whatever is known of who it was.
fn authenticate(
    state: &State,
    headers: &http::HeaderMap,
    needed: Scope,
) -> Result<Who, (ApiError, Result<Who, String>)> {
    let keys = state.keys.current();
    if keys.is_empty() {
        let err = ApiError::not_found(
            "admin_disabled",
            "no API key is configured (RETRACE_ADMIN_KEYS_FILE): only /health is served",
        );
        return Err((err, Err("anonymous".to_owned())));
    }
    let Some(key) = presented_key(headers) else {
        let err = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_key",
            "an API key is needed: Authorization: Bearer KEY, or X-API-Key: KEY",
        );
        return Err((err, Err("anonymous".to_owned())));
    };
    match keys.identify(key) {
        Caller::Key { id, scope } if scope >= needed => Ok(Who { id, scope }),
        Caller::Key { id, scope } => {
            let err = ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the key {id:?} has the {scope} scope; this needs {needed}"),
            );
            Err((err, Ok(Who { id, scope })))
        }
        Caller::Revoked(id) => {
            let err = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "revoked_key",
                format!("the key {id:?} was revoked"),
            );
            Err((err, Err(id)))
        }
        Caller::Unknown => {
            let err = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_key", "unknown API key");
            Err((err, Err("unknown-key".to_owned())))
        }
    }
}

fn audit(
    state: &State,
    who: &Result<Who, String>,
    action: &str,
    target: Option<String>,
    outcome: &Result<(), ApiError>,
) {
    let Some(log) = &state.audit else {
        return;
    };
    let id = match who {
        Ok(w) => w.id.as_str(),
        Err(name) => name.as_str(),
    };
    let mut entry = AuditEntry::new(id, action);
    if let Some(t) = target {
        entry = entry.target(t);
    }
    if let Err(e) = outcome {
        let outcome = match e.status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                if e.code != "unknown_recording" && e.code != "unknown_capture" =>
            {
                "denied"
            }
            StatusCode::TOO_MANY_REQUESTS => "limited",
            _ => "error",
        };
        let mut detail = json!({ "status": e.status.as_u16(), "code": e.code });
        if outcome == "denied" {
            // Refusals anyone can cause are written at a bounded rate, so they cannot
            // rotate the real history away; the rest are counted into the next line.
            match state.denied.lock().admit() {
                Some(0) => {}
                Some(skipped) => detail["refusals_not_written_before"] = skipped.into(),
                None => return,
            }
        }
        entry = entry.outcome(outcome).detail(detail);
    }
    if let Err(e) = log.append(entry) {
        tracing::warn!("retrace admin: the audit log could not be written: {e}");
    }
}

async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: Body,
    B::Error: fmt::Display,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            format!("the request body is larger than {MAX_BODY} bytes"),
        )
    };
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large());
    }
    let mut body = std::pin::pin!(body);
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request("invalid_request", format!("the request body: {e}"))
        })?;
        if let Ok(mut chunk) = frame.into_data() {
            if data.len() + chunk.remaining() > MAX_BODY {
                return Err(too_large());
            }
            while chunk.has_remaining() {
                let piece = chunk.chunk();
                data.extend_from_slice(piece);
                let n = piece.len();
                chunk.advance(n);
            }
        }
    }
    Ok(Bytes::from(data))
}

fn recording_root(state: &State) -> Result<std::path::PathBuf, ApiError> {
    state
        .recorder
        .config()
        .map(|c| c.recording_path.clone())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "recording_off",
                "recording is off in this process (RETRACE is not set): there are no recordings",
            )
        })
}

fn parse_capture_id(id: &str) -> Result<CaptureId, ApiError> {
    id.parse()
        .map_err(|e: retrace::IdError| ApiError::bad_request("invalid_id", e.to_string()))
}

fn find_capture(state: &State, id: &str) -> Result<retrace::policy::CaptureInfo, ApiError> {
    let id = parse_capture_id(id)?;
    state.recorder.policy().capture(id).ok_or_else(|| {
        ApiError::not_found(
            "unknown_capture",
            format!("no capture {id} (captures are listed until an hour after they end, and a restart ends them)"),
        )
    })
}

fn start_capture(
    state: &State,
    who: &Who,
    body: &[u8],
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    recording_root(state)?;
    let policy = state.recorder.policy();
    let request = CaptureRequest::parse(body)?;
    let (spec, clamped) = request.into_spec(&state.limits, policy.max_window(), &who.id)?;
    let mut usage = state.usage.lock();
    usage
        .check(&who.id, spec.max_recordings, &state.limits, &policy)
        .map_err(|refusal| match refusal {
            Refusal::ActiveCaptures { max, retry } => ApiError::limited(
                "key_captures_limit",
                format!("the key {:?} has {max} captures active, the most it may", who.id),
                retry,
            ),
            Refusal::Hourly { max, left, retry } => ApiError::limited(
                "key_hourly_limit",
                format!(
                    "the key {:?} may take {max} recordings per hour and has {left} left; this capture asks for {}",
                    who.id, spec.max_recordings
                ),
                retry,
            ),
        })?;
    let recordings = spec.max_recordings;
    let info = policy.start_capture(spec).map_err(|e| match e {
        PolicyError::TooManyCaptures { .. } => {
            let soonest = policy
                .captures()
                .iter()
                .filter(|c| c.is_active())
                .map(|c| c.remaining)
                .min()
                .unwrap_or(std::time::Duration::from_secs(1));
            ApiError::limited("too_many_captures", e.to_string(), soonest)
        }
        other => ApiError::bad_request("invalid_request", other.to_string()),
    })?;
    usage.started(&who.id, info.id, recordings);
    Ok((StatusCode::CREATED, created_json(&info, &clamped)))
}

fn stop_capture(
    state: &State,
    who: &Who,
    id: &str,
) -> Result<(StatusCode, serde_json::Value), ApiError> {
    let info = find_capture(state, id)?;
    if who.scope < Scope::Admin && info.spec.owner != who.id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "capture {} belongs to {:?}; stopping another key's capture needs the admin scope",
                info.id, info.spec.owner
            ),
        ));
    }
    state.recorder.policy().stop_capture(info.id);
    let info = find_capture(state, id)?;
    Ok((StatusCode::OK, capture_json(&info)))
}
