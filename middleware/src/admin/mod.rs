//! # The admin service: captures, health, metrics and recordings over HTTP
//!
//! In production nobody redeploys to investigate. The admin service lets the on-call
//! engineer say "record the next 50 requests to `/checkout` from tenant 42 for five
//! minutes" to a running process, with a key that allows only that; shows whether the
//! recorder is healthy and what it dropped; and writes who did what to an audit log.
//!
//! It is a tower [`Service`](tower_service::Service) ([`AdminService`]) that shares the
//! recorder's policy and counters. Mount it under a prefix of your own router, or run it
//! on a listener of its own ([`Admin::serve`], loopback by default,
//! `RETRACE_ADMIN_ADDR`); it never runs on the request path of your routes.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use retrace::{Config, Recorder};
//! use retrace_tower::RecordLayer;
//! use retrace_tower::admin::Admin;
//!
//! let (recorder, _guard) = Recorder::new(Config::from_env()?)?;
//! // RETRACE_ADMIN_KEYS_FILE names the keys; RETRACE_AUDIT_LOG the audit log.
//! let admin = Admin::builder(&recorder).with_env().build()?;
//! let app: axum::Router = axum::Router::new()
//!     .route("/checkout", axum::routing::post(|| async { "ok" }))
//!     .layer(RecordLayer::new(recorder))
//!     // Beside the recorded routes, not behind the record layer.
//!     .nest_service("/_retrace", admin.service());
//! # Ok(()) }
//! ```
//!
//! ## Endpoints
//!
//! | method and path | scope | what |
//! |---|---|---|
//! | `GET /health` | none | `200 {"status":"ok"}`, or `503` with the reasons ([`health`](self#health)) |
//! | `GET /metrics` | `read` | Prometheus / OpenMetrics text |
//! | `POST /captures` | `capture` | start a capture: `201` with its id and effective limits |
//! | `GET /captures` | `read` | captures active, and those ended in the last hour |
//! | `GET /captures/{id}` | `read` | one capture's progress: recorded so far, bytes, time left |
//! | `DELETE /captures/{id}` | `capture` (own) or `admin` (any) | stop a capture |
//! | `GET /recordings` | `read` | recordings, newest first, paginated; `since`, `capture`, `status` |
//! | `GET /recordings/{id}` | `read` | one recording as JSON, redacted as stored |
//!
//! A capture request:
//!
//! ```json
//! {"match": {"method": "POST", "path": {"prefix": "/checkout"},
//!            "header": {"name": "x-tenant", "value": "42"}},
//!  "max_recordings": 50, "duration": "5m", "label": "INC-1234"}
//! ```
//!
//! `path` is a string (exact, or a glob when it holds `*`: `/tenants/*/orders/**`) or
//! `{"exact"|"prefix"|"glob": …}`; `correlation_id` matches a trace id, `x-request-id`
//! or `x-correlation-id`; `rate` (0 to 1, default 1) is the share of matching requests
//! recorded. Every limit has a default and a cap ([`AdminLimits`]): a value above its
//! cap is lowered to it and the answer's `clamped` says so; the duration's cap is
//! `RETRACE_MAX_WINDOW`. A capture ends by itself at its count, bytes or time, and
//! **a restart ends every capture**: they live in the process's memory. Recordings a
//! capture took carry its id: `retrace ls --capture ID`, `GET /recordings?capture=ID`.
//!
//! ## Keys, limits, audit
//!
//! API keys ([`ApiKeys`]) have a scope, `read` < `capture` < `admin`; they are stored
//! hashed and presented as `Authorization: Bearer KEY` or `X-API-Key: KEY`. With no key
//! configured, everything but `/health` answers `404 admin_disabled`: never open by
//! default. A missing key is `401 missing_key`, an unknown one `401 invalid_key`, a
//! revoked one `401 revoked_key`, too small a scope `403 insufficient_scope`; a limit
//! reached is `429` with `Retry-After` (`too_many_captures`, `key_captures_limit`,
//! `key_hourly_limit`). Every refusal is JSON: `{"code": …, "message": …}`; the `code`
//! is stable.
//!
//! With an audit log ([`retrace::audit`]), every admin action and every read of
//! recordings appends a line: who (the key's id, never the key), what, the target, the
//! outcome; refusals too.
//!
//! Handlers read the recording directory and append to the audit log with blocking
//! file I/O: the admin service is for people and scrapers, not for traffic.
//!
//! ## Health
//!
//! See [`STALL_AFTER`] for when the writer counts as stalled.

mod captures;
mod error;
mod health;
mod keys;
mod limits;
mod metrics;
mod recordings;
mod service;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use parking_lot::Mutex;
use retrace::audit::AuditLog;
use retrace::config::variables::{ADMIN_ADDR, ADMIN_KEYS_FILE, AUDIT_LOG};
use retrace::{Recorder, audit};

pub use health::STALL_AFTER;
pub use keys::{ApiKeys, Caller, KeySource, KeysError, Scope};
pub use limits::AdminLimits;
pub use service::{AdminFuture, AdminService};

use self::health::HealthState;
use self::limits::Usage;

/// Where the admin service listens on its own when `RETRACE_ADMIN_ADDR` is unset.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9736";

/// Why the admin service could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The keys file is missing or wrong.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The audit log could not be opened.
    #[error("the audit log: {0}")]
    Audit(#[from] audit::AuditError),
    /// An environment variable holds a bad value.
    #[error("invalid value {value:?} for {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// The admin service of one recorder: cheap to clone, clones share everything.
#[derive(Clone, Debug)]
pub struct Admin {
    state: Arc<State>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) recorder: Recorder,
    pub(crate) keys: KeySource,
    pub(crate) limits: AdminLimits,
    pub(crate) audit: Option<AuditLog>,
    pub(crate) usage: Mutex<Usage>,
    pub(crate) health: HealthState,
    pub(crate) prefix: String,
    pub(crate) denied: Mutex<service::DeniedAudit>,
}

/// Builds an [`Admin`].
#[derive(Debug)]
pub struct AdminBuilder {
    recorder: Recorder,
    keys: Option<ApiKeys>,
    keys_file: Option<PathBuf>,
    limits: AdminLimits,
    audit: Option<PathBuf>,
    no_audit: bool,
    prefix: String,
    env: bool,
}

impl Admin {
    /// A builder for `recorder`'s admin service: no key (only `/health` served), the
    /// default limits, the audit log at `<recording path>/audit.log`.
    pub fn builder(recorder: &Recorder) -> AdminBuilder {
        AdminBuilder {
            recorder: recorder.clone(),
            keys: None,
            keys_file: None,
            limits: AdminLimits::default(),
            audit: None,
            no_audit: false,
            prefix: String::new(),
            env: false,
        }
    }

    /// The tower service.
    pub fn service(&self) -> AdminService {
        AdminService::new(Arc::clone(&self.state))
    }

    /// The audit log, when there is one.
    pub fn audit_log(&self) -> Option<&AuditLog> {
        self.state.audit.as_ref()
    }

    /// Serves the admin service on `listener` (HTTP/1.1) until the returned future is
    /// dropped; each connection runs on its own task.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use hyper_util::service::TowerToHyperService;
        loop {
            let (stream, _) = listener.accept().await?;
            let service = TowerToHyperService::new(self.service());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Binds `RETRACE_ADMIN_ADDR` (default [`DEFAULT_ADDR`], loopback) and serves
    /// there; the bound address is returned with the serving future.
    pub async fn bind_from_env(
        self,
    ) -> Result<
        (
            std::net::SocketAddr,
            impl std::future::Future<Output = std::io::Result<()>>,
        ),
        std::io::Error,
    > {
        let addr = std::env::var(ADMIN_ADDR.name).unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let local = listener.local_addr()?;
        Ok((local, self.serve(listener)))
    }
}

impl AdminBuilder {
    /// Keys given in code.
    pub fn keys(mut self, keys: ApiKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Keys read from a file, and read again when it changes (a revoked key stops
    /// working without a restart).
    pub fn keys_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.keys_file = Some(path.into());
        self
    }

    /// Caps, defaults and per-key limits.
    pub fn limits(mut self, limits: AdminLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The audit log's path (rotated at 16 MiB, five files kept).
    pub fn audit_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit = Some(path.into());
        self.no_audit = false;
        self
    }

    /// No audit log.
    pub fn without_audit(mut self) -> Self {
        self.no_audit = true;
        self
    }

    /// Serve under this path prefix (`/_retrace`) when the router in front does not
    /// strip it (axum's `nest_service` does).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().trim_end_matches('/').to_owned();
        self
    }

    /// Reads `RETRACE_ADMIN_KEYS_FILE` and `RETRACE_AUDIT_LOG` when set (they win over
    /// what the builder was given).
    pub fn with_env(mut self) -> Self {
        self.env = true;
        self
    }

    /// The admin service. Fails when the keys file cannot be read or parsed, or the
    /// audit log cannot be opened.
    pub fn build(mut self) -> Result<Admin, AdminError> {
        if self.env {
            if let Ok(path) = std::env::var(ADMIN_KEYS_FILE.name) {
                if path.trim().is_empty() {
                    return Err(AdminError::Env {
                        var: ADMIN_KEYS_FILE.name,
                        value: path,
                        reason: "empty".to_owned(),
                    });
                }
                self.keys_file = Some(path.into());
            }
            if let Ok(path) = std::env::var(AUDIT_LOG.name) {
                if path.trim().is_empty() {
                    return Err(AdminError::Env {
                        var: AUDIT_LOG.name,
                        value: path,
                        reason: "empty".to_owned(),
                    });
                }
                self.audit = Some(path.into());
            }
        }
        let keys = match (self.keys_file, self.keys) {
            (Some(path), _) => KeySource::file(path)?,
            (None, Some(keys)) => KeySource::fixed(keys),
            (None, None) => KeySource::fixed(ApiKeys::default()),
        };
        let audit_path = self.audit.or_else(|| {
            self.recorder
                .config()
                .map(|c| audit::default_path(&c.recording_path))
        });
        let audit = match audit_path {
            Some(path) if !self.no_audit => Some(AuditLog::open(path)?),
            _ => None,
        };
        Ok(Admin {
            state: Arc::new(State {
                recorder: self.recorder,
                keys,
                limits: self.limits,
                audit,
                usage: Mutex::new(Usage::default()),
                health: HealthState::default(),
                prefix: self.prefix,
                denied: Mutex::new(service::DeniedAudit::default()),
            }),
        })
    }
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
