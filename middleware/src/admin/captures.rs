//! The captures API's JSON: what `POST /captures` takes, how its values are clamped,
//! and how a capture is shown.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderName, HeaderValue, Method};
use retrace::policy::{CaptureInfo, CaptureSpec, PathMatch};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::limits::AdminLimits;

/// `POST /captures`' body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaptureRequest {
    #[serde(rename = "match", default)]
    matcher: MatchRequest,
    rate: Option<f64>,
    max_recordings: Option<u64>,
    max_bytes: Option<u64>,
    /// Seconds, or a duration such as `"5m"`.
    duration: Option<DurationValue>,
    #[serde(default)]
    label: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    method: Option<String>,
    path: Option<PathRequest>,
    header: Option<HeaderRequest>,
    correlation_id: Option<String>,
}

/// A path: a string is exact, or a glob when it holds `*`; an object names the kind.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PathRequest {
    Text(String),
    Kind(PathKind),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum PathKind {
    Exact(String),
    Prefix(String),
    Glob(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderRequest {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(f64),
    Text(String),
}

/// A value the service lowered to its cap.
pub(crate) struct Clamped {
    field: &'static str,
    asked: String,
    effective: String,
}

impl CaptureRequest {
    /// Parses a body, naming what is wrong with it.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("invalid_request", format!("the capture request: {e}"))
        })
    }

    /// The capture to start, each value defaulted and clamped to `limits` (and the
    /// duration to `max_duration`), and which values were clamped.
    pub(crate) fn into_spec(
        self,
        limits: &AdminLimits,
        max_duration: Duration,
        owner: &str,
    ) -> Result<(CaptureSpec, Vec<Clamped>), ApiError> {
        let mut clamped = Vec::new();
        let duration = match self.duration {
            None => limits.default_duration,
            Some(DurationValue::Seconds(s)) if s.is_finite() && s > 0.0 => {
                Duration::from_secs_f64(s.min(u32::MAX as f64))
            }
            Some(DurationValue::Seconds(s)) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("duration {s} is not a positive number of seconds"),
                ));
            }
            Some(DurationValue::Text(t)) => humantime::parse_duration(&t).map_err(|e| {
                ApiError::bad_request("invalid_request", format!("duration {t:?}: {e}"))
            })?,
        };
        let duration = clamp(&mut clamped, "duration", duration, max_duration, |d| {
            humantime::format_duration(*d).to_string()
        });
        // A key may never take more in one capture than its hourly allowance.
        let max_recordings = clamp(
            &mut clamped,
            "max_recordings",
            self.max_recordings.unwrap_or(limits.default_recordings),
            limits
                .max_recordings
                .min(limits.per_key_recordings_per_hour),
            u64::to_string,
        );
        let max_bytes = clamp(
            &mut clamped,
            "max_bytes",
            self.max_bytes.unwrap_or(limits.default_bytes),
            limits.max_bytes,
            u64::to_string,
        );
        let mut spec = CaptureSpec::new(duration)
            .rate(self.rate.unwrap_or(1.0))
            .max_recordings(max_recordings)
            .max_bytes(max_bytes)
            .owner(owner)
            .label(self.label);
        let m = self.matcher;
        if let Some(method) = m.method {
            let method =
                Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                    ApiError::bad_request("invalid_request", format!("method {method:?}"))
                })?;
            spec = spec.method(method);
        }
        spec = spec.path(match m.path {
            None => PathMatch::Any,
            Some(PathRequest::Text(p)) if p.contains('*') => PathMatch::Glob(p),
            Some(PathRequest::Text(p)) => PathMatch::Exact(p),
            Some(PathRequest::Kind(PathKind::Exact(p))) => PathMatch::Exact(p),
            Some(PathRequest::Kind(PathKind::Prefix(p))) => PathMatch::Prefix(p),
            Some(PathRequest::Kind(PathKind::Glob(p))) => PathMatch::Glob(p),
        });
        if let Some(h) = m.header {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                ApiError::bad_request("invalid_request", format!("header name {:?}", h.name))
            })?;
            let value = HeaderValue::from_str(&h.value).map_err(|_| {
                ApiError::bad_request("invalid_request", format!("header value {:?}", h.value))
            })?;
            spec = spec.header(name, value);
        }
        if let Some(id) = m.correlation_id {
            spec = spec.correlation_id(id);
        }
        Ok((spec, clamped))
    }
}

fn clamp<T: PartialOrd + Copy>(
    clamped: &mut Vec<Clamped>,
    field: &'static str,
    asked: T,
    cap: T,
    show: impl Fn(&T) -> String,
) -> T {
    if asked > cap {
        clamped.push(Clamped {
            field,
            asked: show(&asked),
            effective: show(&cap),
        });
        cap
    } else {
        asked
    }
}

/// A capture as the API shows it.
pub(crate) fn capture_json(info: &CaptureInfo) -> Value {
    let s = &info.spec;
    let path = match &s.path {
        PathMatch::Any => Value::Null,
        PathMatch::Exact(p) => json!({ "exact": p }),
        PathMatch::Prefix(p) => json!({ "prefix": p }),
        PathMatch::Glob(p) => json!({ "glob": p }),
    };
    let header = s.header.as_ref().map(
        |(n, v)| json!({ "name": n.as_str(), "value": String::from_utf8_lossy(v.as_bytes()) }),
    );
    json!({
        "id": info.id.to_string(),
        "state": info.ended.map_or("active", |e| e.as_str()),
        "owner": s.owner,
        "label": s.label,
        "match": {
            "method": s.method.as_ref().map(Method::as_str),
            "path": path,
            "header": header,
            "correlation_id": s.correlation_id,
        },
        "rate": s.rate,
        "max_recordings": s.max_recordings,
        "max_bytes": s.max_bytes,
        "duration_s": s.duration.as_secs_f64(),
        "started_unix_ms": info
            .started_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        "remaining_s": info.remaining.as_secs_f64(),
        "recorded": info.recorded,
        "bytes": info.bytes,
    })
}

/// The answer to `POST /captures`: the capture, and what was clamped.
pub(crate) fn created_json(info: &CaptureInfo, clamped: &[Clamped]) -> Value {
    let mut v = capture_json(info);
    v["clamped"] = clamped
        .iter()
        .map(|c| json!({ "field": c.field, "asked": c.asked, "effective": c.effective }))
        .collect();
    v
}
