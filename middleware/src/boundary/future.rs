//! [`BoundaryFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project::pin_project;

use super::service::BoundaryError;

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, BoundaryError<E>>> + Send>>;

/// The future of a [`Boundary`](super::Boundary) call.
#[pin_project]
pub struct BoundaryFuture<F, T, E> {
    #[pin]
    kind: Kind<F, T, E>,
}

#[pin_project(project = KindProj)]
enum Kind<F, T, E> {
    /// The inner call, untouched.
    Passthrough(#[pin] F),
    /// A recorded call.
    Boxed(Boxed<T, E>),
    /// A replayed answer.
    Ready(Option<Result<T, BoundaryError<E>>>),
}

impl<F, T, E> std::fmt::Debug for BoundaryFuture<F, T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Passthrough(_) => "passthrough",
            Kind::Boxed(_) => "recording",
            Kind::Ready(_) => "replayed",
        };
        f.debug_struct("BoundaryFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, T, E> BoundaryFuture<F, T, E> {
    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            kind: Kind::Passthrough(inner),
        }
    }

    pub(crate) fn boxed(inner: Boxed<T, E>) -> Self {
        Self {
            kind: Kind::Boxed(inner),
        }
    }

    pub(crate) fn ready(answer: Result<T, BoundaryError<E>>) -> Self {
        Self {
            kind: Kind::Ready(Some(answer)),
        }
    }
}

impl<F, T, E> Future for BoundaryFuture<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, BoundaryError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough(f) => {
                Poll::Ready(ready!(f.poll(cx)).map_err(BoundaryError::Inner))
            }
            KindProj::Boxed(f) => f.as_mut().poll(cx),
            KindProj::Ready(answer) => match answer.take() {
                Some(a) => Poll::Ready(a),
                // Polled after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
        }
    }
}
