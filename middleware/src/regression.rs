//! Recordings as regression tests.
//!
//! [`Regression`] replays every recording under a directory against a service and fails
//! with a readable, per-recording account of what changed. Put production recordings
//! (or a curated subset) in the repository and call it from a test:
//!
//! ```no_run
//! # async fn app() -> axum::Router { axum::Router::new() }
//! #[tokio::test]
//! async fn recorded_traffic_still_gets_the_same_answers() {
//!     retrace_tower::Regression::new("tests/recordings")
//!         .run(|| async { app().await })
//!         .await
//!         .unwrap();
//! }
//! ```
//!
//! After an intended change, run once with `RETRACE_ACCEPT=1`: the new answers are
//! stored as expectations in `<dir>/expectations/<recording id>.json` and later runs
//! compare against them instead of the recorded responses. Commit them with the change.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use retrace::diff::{ResponseView, diff_responses};
use retrace::event::Header;
use retrace::{Store, StoreError};
use serde::{Deserialize, Serialize};
use tower_service::Service;

use crate::replay::{Replay, ReplayError};

/// The environment variable that turns accept mode on (`1`).
pub const ACCEPT_ENV: &str = retrace::config::variables::ACCEPT.name;

/// What a passing run checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegressionSummary {
    /// Recordings replayed and compared.
    pub checked: usize,
    /// Expectations written (accept mode).
    pub accepted: usize,
}

/// Why a regression run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegressionError {
    /// The directory could not be read as a store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A recording could not be replayed at all.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// An expectation file could not be read or written.
    #[error("expectation {path}: {reason}")]
    Expectation {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Some recordings no longer get the same answer.
    #[error("{} of {checked} recordings changed (run with {ACCEPT_ENV}=1 to accept):\n{}", failures.len(), failures.join(""))]
    Changed {
        /// Recordings checked.
        checked: usize,
        /// One account per changed recording.
        failures: Vec<String>,
    },
}

/// A stored expectation: the answer accepted for one recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Expectation {
    status: u16,
    headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_bytes: Option<Vec<u8>>,
    /// Trailers after the body (gRPC's status); absent in expectations stored before
    /// they were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trailers: Vec<(String, String)>,
}

/// Header pairs as stored in an expectation file.
fn pairs(headers: &[Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect()
}

/// Header pairs from an expectation file as headers.
fn unpair(pairs: &[(String, String)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(n, v)| Header::new(n.clone(), Bytes::from(v.clone())))
        .collect()
}

impl Expectation {
    fn of(response: &crate::replay::ReplayedResponse) -> Self {
        let (status, headers, body) = (response.status, &response.headers, &response.body);
        let (body, body_bytes) = match std::str::from_utf8(body) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(body.to_vec())),
        };
        Self {
            status,
            headers: pairs(headers),
            body,
            body_bytes,
            trailers: pairs(&response.trailers),
        }
    }

    fn body(&self) -> Bytes {
        match (&self.body, &self.body_bytes) {
            (Some(text), _) => Bytes::from(text.clone()),
            (None, Some(bytes)) => Bytes::from(bytes.clone()),
            (None, None) => Bytes::new(),
        }
    }
}

/// Replays a directory of recordings as a test suite.
#[derive(Clone, Debug)]
pub struct Regression {
    root: PathBuf,
    replay: Replay,
    accept: bool,
}

impl Regression {
    /// Checks the recordings under `root`; accept mode follows `RETRACE_ACCEPT`.
    pub fn new(root: impl AsRef<Path>) -> Self {
        let accept = std::env::var(ACCEPT_ENV).is_ok_and(|v| v == "1" || v == "true");
        Self {
            root: root.as_ref().to_path_buf(),
            replay: Replay::default(),
            accept,
        }
    }

    /// Replay settings (noise rules, redaction, matching).
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    /// Turns accept mode on or off, overriding the environment.
    pub fn accept(mut self, on: bool) -> Self {
        self.accept = on;
        self
    }

    fn expectation_path(&self, id: retrace::RecordingId) -> PathBuf {
        self.root.join("expectations").join(format!("{id}.json"))
    }

    fn load_expectation(&self, path: &Path) -> Result<Option<Expectation>, RegressionError> {
        let bad = |reason: String| RegressionError::Expectation {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| bad(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(bad(e.to_string())),
        }
    }

    fn store_expectation(
        &self,
        path: &Path,
        expectation: &Expectation,
    ) -> Result<(), RegressionError> {
        let bad = |reason: String| RegressionError::Expectation {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
        }
        let json = serde_json::to_vec_pretty(expectation).map_err(|e| bad(e.to_string()))?;
        std::fs::write(path, json).map_err(|e| bad(e.to_string()))
    }

    /// Replays every recording against a service from `make_service`; fails listing
    /// every recording whose answer changed.
    pub async fn run<F, Fut, S, B>(
        &self,
        mut make_service: F,
    ) -> Result<RegressionSummary, RegressionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = S>,
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
        S::Error: fmt::Display,
        B: Body<Data = Bytes>,
        B::Error: fmt::Display,
    {
        let store = Store::open(&self.root)?;
        let mut summary = RegressionSummary {
            checked: 0,
            accepted: 0,
        };
        let mut failures = Vec::new();
        for recording in store.recordings() {
            let recording = recording?;
            // A diverged replay is a failure to list (or, accepting, the new answer).
            let mut report = self
                .replay
                .run(&recording, make_service().await)
                .await
                .or_else(ReplayError::into_report)?;
            summary.checked += 1;
            let path = self.expectation_path(recording.id);
            if self.accept {
                self.store_expectation(&path, &Expectation::of(&report.response))?;
                summary.accepted += 1;
                continue;
            }
            if let Some(expected) = self.load_expectation(&path)? {
                let (headers, body) = (unpair(&expected.headers), expected.body());
                let trailers = unpair(&expected.trailers);
                report.diff = diff_responses(
                    &ResponseView::new(expected.status, &headers, &body).with_trailers(&trailers),
                    &report.response.view(),
                    self.replay.noise_rules(),
                );
            }
            if !report.is_identical() {
                failures.push(report.describe());
            }
        }
        if failures.is_empty() {
            Ok(summary)
        } else {
            Err(RegressionError::Changed {
                checked: summary.checked,
                failures,
            })
        }
    }
}
