//! [`RecordLayer`] and its builder.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use retrace::Recorder;
use retrace::policy::Policy;
use tower_layer::Layer;

use super::service::Record;
use crate::capture::CaptureSettings;

/// The response header that carries the recording id when echoing is on.
pub const RECORDING_ID_HEADER: &str = "x-retrace-recording-id";

/// Settings shared by every request through one layer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) recorder: Recorder,
    pub(crate) capture: Arc<CaptureSettings>,
    pub(crate) max_recording_bytes: usize,
    pub(crate) policy: Policy,
    pub(crate) max_in_flight: usize,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) echo_id: bool,
}

/// Why a layer could not be built from a [`RecordLayerBuilder`]'s settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// A limit is zero.
    #[error("invalid {0}: must be above zero")]
    ZeroLimit(&'static str),
}

/// Records the requests of the service it wraps (see the [module docs](super)).
#[derive(Clone, Debug)]
pub struct RecordLayer {
    shared: Arc<Shared>,
}

impl RecordLayer {
    /// A layer recording through `recorder`, with the recorder's policy, redaction and
    /// the default limits. It cannot fail: [`Recorder::new`] checked the configuration.
    pub fn new(recorder: Recorder) -> Self {
        Self::builder(recorder).assemble()
    }

    /// A layer recording through the process-wide recorder
    /// ([`Recorder::install`]); a pass-through when none is installed.
    pub fn global() -> Self {
        Self::new(Recorder::global().cloned().unwrap_or_default())
    }

    /// A builder, for limits other than the defaults.
    ///
    /// ```
    /// use retrace::{Config, Recorder};
    /// use retrace_tower::RecordLayer;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let config = Config::builder().enabled(true).recording_path(dir.path()).build()?;
    /// let (recorder, _guard) = Recorder::new(config)?;
    /// let layer = RecordLayer::builder(recorder)
    ///     .body_cap(64 * 1024) // keep the first 64 KiB of each body
    ///     .max_in_flight(256) // record at most 256 requests at once
    ///     .echo_recording_id(true) // answer with `x-retrace-recording-id`
    ///     .build()?;
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hello" }))
    ///     .layer(layer);
    /// # drop(app);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(recorder: Recorder) -> RecordLayerBuilder {
        RecordLayerBuilder {
            recorder,
            policy: None,
            body_cap: 256 * 1024,
            max_recording_bytes: 8 << 20,
            max_in_flight: 4096,
            echo_id: false,
        }
    }

    /// The policy: the runtime handle to switch recording, change the sample rate and
    /// open investigation windows.
    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }
}

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Record::new(inner, Arc::clone(&self.shared))
    }
}

/// Builds a [`RecordLayer`].
#[derive(Debug)]
pub struct RecordLayerBuilder {
    recorder: Recorder,
    policy: Option<Policy>,
    body_cap: usize,
    max_recording_bytes: usize,
    max_in_flight: usize,
    echo_id: bool,
}

impl RecordLayerBuilder {
    /// The decision policy (default: from the recorder's configuration).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Bytes kept of each request and response body (default 256 KiB); the rest is
    /// counted and digested.
    pub fn body_cap(mut self, bytes: usize) -> Self {
        self.body_cap = bytes;
        self
    }

    /// Bytes kept of one recording (default 8 MiB); later events are counted and left
    /// out.
    pub fn max_recording_bytes(mut self, bytes: usize) -> Self {
        self.max_recording_bytes = bytes;
        self
    }

    /// Recordings in flight at once through this layer (default 4096); beyond it,
    /// requests are not recorded and are counted as declined.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Echo the recording id in an `x-retrace-recording-id` response header (default
    /// off), so an incident ticket can link to the recording.
    pub fn echo_recording_id(mut self, on: bool) -> Self {
        self.echo_id = on;
        self
    }

    /// Checks this builder's own settings (a limit of zero) and builds.
    pub fn build(self) -> Result<RecordLayer, LayerError> {
        if self.max_in_flight == 0 {
            return Err(LayerError::ZeroLimit("max_in_flight"));
        }
        if self.max_recording_bytes == 0 {
            return Err(LayerError::ZeroLimit("max_recording_bytes"));
        }
        Ok(self.assemble())
    }

    fn assemble(self) -> RecordLayer {
        let policy = self.policy.unwrap_or_else(|| self.recorder.policy());
        // The recorder's one redaction (its trigger header included); the policy may
        // name another trigger header, which is then a secret too.
        let mut redaction = self.recorder.redaction().cloned().unwrap_or_default();
        if let Some(trigger) = policy.trigger_header() {
            redaction = redaction.with_secret_name(trigger.as_str());
        }
        RecordLayer {
            shared: Arc::new(Shared {
                recorder: self.recorder,
                capture: Arc::new(CaptureSettings {
                    redaction,
                    body_cap: self.body_cap,
                }),
                max_recording_bytes: self.max_recording_bytes,
                policy,
                max_in_flight: self.max_in_flight,
                in_flight: AtomicUsize::new(0),
                echo_id: self.echo_id,
            }),
        }
    }
}
