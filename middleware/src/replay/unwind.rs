//! Catching the unwinding a sealed replay raises.
//!
//! `retrace::boundary()` returns its value directly, so when a strict replay has no
//! recorded value for it there is nothing to return: it unwinds with a
//! [`SealedReplay`] payload instead of making the real call. The replay driver runs the
//! service inside [`CatchUnwind`] and turns that payload into
//! [`ReplayError::Sealed`](super::ReplayError::Sealed); any other panic goes on
//! unwinding, as it would have without replay.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use retrace::SealedReplay;

/// A future whose polls catch unwinding.
#[pin_project]
pub(crate) struct CatchUnwind<F> {
    #[pin]
    inner: F,
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, SealedReplay>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        // The future is not polled again after it unwound, so no broken invariant of
        // it can be observed.
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(payload) => Poll::Ready(Err(sealed_or_resume(payload))),
        }
    }
}

/// Runs `f`, catching a sealed replay's unwinding.
pub(crate) fn catch_sealed<T>(f: impl FnOnce() -> T) -> Result<T, SealedReplay> {
    catch_unwind(AssertUnwindSafe(f)).map_err(sealed_or_resume)
}

/// The sealed replay a payload carries; any other panic goes on unwinding.
fn sealed_or_resume(payload: Box<dyn Any + Send>) -> SealedReplay {
    match payload.downcast::<SealedReplay>() {
        Ok(sealed) => *sealed,
        Err(other) => resume_unwind(other),
    }
}
