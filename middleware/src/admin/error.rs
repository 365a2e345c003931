//! [`ApiError`]: every refusal of the admin service, as a status and a JSON body with
//! a stable `code` that scripts can match on (the message is for people and may
//! change).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// A refusal: its status, stable code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A limit was reached: `429` with `Retry-After` (whole seconds, at least 1).
    pub(crate) fn limited(code: &'static str, message: impl Into<String>, retry: Duration) -> Self {
        Self {
            retry_after: Some(retry),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Seconds for `Retry-After`: rounded up, never 0.
    pub(crate) fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
            .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
            .map(|s| s.max(1))
    }

    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let mut body = serde_json::json!({ "code": self.code, "message": self.message });
        let retry = self.retry_after_secs();
        if let Some(secs) = retry {
            body["retry_after_s"] = secs.into();
        }
        let mut resp = super::json_response(self.status, &body);
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"retrace\""),
            );
        }
        resp
    }
}
