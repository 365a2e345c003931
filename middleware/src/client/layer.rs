//! [`ClientLayer`] and its builder.

use tower_layer::Layer;

use super::service::RecordedClient;

/// The body cap of outgoing calls unless set: bytes kept of each request and answer.
pub(crate) const DEFAULT_BODY_CAP: usize = 256 * 1024;

/// Records outgoing calls and answers them in replay (see the [module docs](super)).
///
/// What is redacted is not set here: a call recorded inside a recording is redacted by
/// that recorder's [`Redaction`](retrace::Redaction) (one per recorder, set in its
/// [`Config`](retrace::Config)), and a call in replay is matched after the replay's.
#[derive(Clone, Debug)]
pub struct ClientLayer {
    body_cap: usize,
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientLayer {
    /// A layer with a 256 KiB body cap.
    pub fn new() -> Self {
        Self {
            body_cap: DEFAULT_BODY_CAP,
        }
    }

    /// Bytes kept of each call's request and response body.
    pub fn body_cap(mut self, bytes: usize) -> Self {
        self.body_cap = bytes;
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = RecordedClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordedClient::new(inner, self.body_cap)
    }
}
