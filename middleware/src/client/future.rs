//! [`ClientFuture`]: a pass-through future when nothing is recorded or replayed, a
//! boxed one (which first reads the request body) when something is.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project::pin_project;

use super::body::ClientBody;
use super::service::ClientError;
use crate::record::RecordBody;

type Boxed<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<ClientBody<B>>, ClientError<E>>> + Send>>;

/// The future of a [`RecordedClient`](super::RecordedClient) call.
#[pin_project]
pub struct ClientFuture<F, B, E> {
    #[pin]
    kind: Kind<F, B, E>,
}

#[pin_project(project = KindProj)]
enum Kind<F, B, E> {
    /// No recording or replay: the inner future, untouched.
    Passthrough(#[pin] F),
    /// Recording or replaying.
    Boxed(Boxed<B, E>),
}

impl<F, B, E> std::fmt::Debug for ClientFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Passthrough(_) => "passthrough",
            Kind::Boxed(_) => "recording or replaying",
        };
        f.debug_struct("ClientFuture").field("kind", &kind).finish()
    }
}

impl<F, B, E> ClientFuture<F, B, E> {
    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            kind: Kind::Passthrough(inner),
        }
    }

    pub(crate) fn boxed(inner: Boxed<B, E>) -> Self {
        Self {
            kind: Kind::Boxed(inner),
        }
    }
}

impl<F, B, E> Future for ClientFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ClientBody<B>>, ClientError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough(f) => Poll::Ready(
                ready!(f.poll(cx))
                    .map(|r| r.map(|b| ClientBody::live(RecordBody::passthrough(b))))
                    .map_err(ClientError::Inner),
            ),
            KindProj::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}
