//! [`BoundaryFuture`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project::pin_project;

use super::service::BoundaryError;

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, BoundaryError<E>>> + Send>>;

/// The future of a [`Boundary`](super::Boundary) call.
#[pin_project(project = BoundaryFutureProj)]
pub enum BoundaryFuture<F, T, E> {
    /// The inner call, untouched.
    Passthrough(#[pin] F),
    /// A recorded call.
    Boxed(Boxed<T, E>),
    /// A replayed answer.
    Ready(Option<Result<T, BoundaryError<E>>>),
}

impl<F, T, E> std::fmt::Debug for BoundaryFuture<F, T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Passthrough(_) => "BoundaryFuture::Passthrough",
            Self::Boxed(_) => "BoundaryFuture::Boxed",
            Self::Ready(_) => "BoundaryFuture::Ready",
        })
    }
}

impl<F, T, E> BoundaryFuture<F, T, E> {
    pub(crate) fn passthrough(inner: F) -> Self {
        Self::Passthrough(inner)
    }

    pub(crate) fn boxed(inner: Boxed<T, E>) -> Self {
        Self::Boxed(inner)
    }

    pub(crate) fn ready(answer: Result<T, BoundaryError<E>>) -> Self {
        Self::Ready(Some(answer))
    }
}

impl<F, T, E> Future for BoundaryFuture<F, T, E>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, BoundaryError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            BoundaryFutureProj::Passthrough(f) => {
                Poll::Ready(ready!(f.poll(cx)).map_err(BoundaryError::Inner))
            }
            BoundaryFutureProj::Boxed(f) => f.as_mut().poll(cx),
            BoundaryFutureProj::Ready(answer) => match answer.take() {
                Some(a) => Poll::Ready(a),
                // Polled after completion: a caller bug; stay pending rather than panic.
                None => Poll::Pending,
            },
        }
    }
}
