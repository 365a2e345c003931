//! [`ClientLayer`] and its builder.

use std::sync::Arc;

use retrace::Redaction;
use tower_layer::Layer;

use super::service::Client;
use crate::capture::CaptureSettings;

/// Records outgoing calls and answers them in replay (see the [module docs](super)).
#[derive(Clone, Debug)]
pub struct ClientLayer {
    settings: Arc<CaptureSettings>,
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientLayer {
    /// A layer with the default redaction and a 256 KiB body cap.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder.
    pub fn builder() -> ClientLayerBuilder {
        ClientLayerBuilder {
            redaction: Redaction::default(),
            body_cap: 256 * 1024,
        }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Client::new(inner, Arc::clone(&self.settings))
    }
}

/// Builds a [`ClientLayer`].
#[derive(Debug)]
pub struct ClientLayerBuilder {
    redaction: Redaction,
    body_cap: usize,
}

impl ClientLayerBuilder {
    /// What to redact; in replay, URIs are matched after the same redaction, so use the
    /// same rules (and, when pseudonymising, the same key) as when recording.
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Bytes kept of each call's request and response body.
    pub fn body_cap(mut self, bytes: usize) -> Self {
        self.body_cap = bytes;
        self
    }

    /// Builds the layer.
    pub fn build(self) -> ClientLayer {
        ClientLayer {
            settings: capture_settings(self.redaction, self.body_cap),
        }
    }
}

/// Capture settings for outgoing calls (shared with the reqwest adapter).
pub(crate) fn capture_settings(redaction: Redaction, body_cap: usize) -> Arc<CaptureSettings> {
    Arc::new(CaptureSettings {
        redaction,
        extra_secret_headers: vec![http::HeaderName::from_static(
            retrace::policy::TRIGGER_HEADER,
        )],
        body_cap,
    })
}
