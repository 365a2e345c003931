//! [`Boundary`]: one serializable service, recorded and replayed.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use retrace::context::RetraceContext;
use retrace::event::ValueKind;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::future::BoundaryFuture;

/// Why a call through a [`Boundary`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoundaryError<E> {
    /// The wrapped service failed.
    #[error("{0}")]
    Inner(E),
    /// Replay: the recorded call had failed with this error text (shown as it was,
    /// so the handler sees what it saw when recording).
    #[error("{0}")]
    Replayed(String),
    /// Strict replay: the recording holds no answer for this name and input, and the
    /// replay is sealed, so the wrapped service was not called.
    #[error("{0}")]
    Sealed(retrace::SealedReplay),
}

/// A service whose calls are recorded and replayed as a named boundary.
#[derive(Clone, Debug)]
pub struct Boundary<S> {
    inner: S,
    name: Arc<str>,
}

impl<S> Boundary<S> {
    pub(crate) fn new(inner: S, name: Arc<str>) -> Self {
        Self { inner, name }
    }
}

inner_service_access!(Boundary);

impl<S, Req> Service<Req> for Boundary<S>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Response: Serialize + DeserializeOwned + Send + 'static,
    S::Error: fmt::Display + Send + 'static,
    Req: Serialize,
{
    type Response = S::Response;
    type Error = BoundaryError<S::Error>;
    type Future = BoundaryFuture<S::Future, S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BoundaryError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match RetraceContext::current() {
            None => BoundaryFuture::passthrough(self.inner.call(req)),
            Some(RetraceContext::Recording(handle)) => {
                let input = handle.redaction().encode_value(&req);
                let name = Arc::clone(&self.name);
                let call = self.inner.call(req);
                BoundaryFuture::boxed(Box::pin(async move {
                    let result = call.await;
                    let recorded: Result<&S::Response, String> = match &result {
                        Ok(r) => Ok(r),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Some(value) = handle.redaction().encode_value(&recorded) {
                        handle.record_value(ValueKind::Boundary, &name, input, value);
                    }
                    result.map_err(BoundaryError::Inner)
                }))
            }
            Some(RetraceContext::Replay(session)) => {
                let input = session.redaction().encode_value(&req);
                let recorded = session
                    .next_value(ValueKind::Boundary, &self.name, input.as_deref())
                    .and_then(|bytes| {
                        postcard::from_bytes::<Result<S::Response, String>>(&bytes).ok()
                    });
                match recorded {
                    Some(answer) => BoundaryFuture::ready(answer.map_err(BoundaryError::Replayed)),
                    None if session.options().strict => {
                        BoundaryFuture::ready(Err(BoundaryError::Sealed(retrace::SealedReplay {
                            kind: ValueKind::Boundary,
                            name: self.name.to_string(),
                            detail: String::new(),
                        })))
                    }
                    None => BoundaryFuture::passthrough(self.inner.call(req)),
                }
            }
        }
    }
}
