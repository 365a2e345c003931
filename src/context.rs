//! The current recording: which recording (or replay) the code running now belongs to.
//!
//! While the server layer polls a recorded request's future, that recording is
//! "current" on the polling thread, the way tracing's `Instrumented` enters a span.
//! Client layers, [`now`](crate::now) and [`random`](crate::random) deep inside the
//! handler find it without any plumbing. A task spawned from the handler runs elsewhere,
//! so it opts in by wrapping its future with [`FutureExt::with_current_context`].
//!
//! With no current context, looking it up is one thread-local read.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project::pin_project;

use crate::recorder::RecordingHandle;
use crate::replay::ReplaySession;

thread_local! {
    static CURRENT: RefCell<Option<RetraceContext>> = const { RefCell::new(None) };
}

/// What the running code belongs to.
#[derive(Clone, Debug)]
pub enum RetraceContext {
    /// A request being recorded.
    Recording(RecordingHandle),
    /// A recorded request being replayed: boundaries answer from the recording.
    Replay(Arc<ReplaySession>),
}

impl RetraceContext {
    /// The current context, if any.
    pub fn current() -> Option<RetraceContext> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Runs `f` with the current context without cloning it.
    pub fn with_current<R>(f: impl FnOnce(Option<&RetraceContext>) -> R) -> R {
        CURRENT.with(|c| f(c.borrow().as_ref()))
    }

    /// The recording, when this is a recording context.
    pub fn recording(&self) -> Option<&RecordingHandle> {
        match self {
            Self::Recording(r) => Some(r),
            Self::Replay(_) => None,
        }
    }

    /// The replay session, when this is a replay context.
    pub fn replay(&self) -> Option<&Arc<ReplaySession>> {
        match self {
            Self::Replay(s) => Some(s),
            Self::Recording(_) => None,
        }
    }

    /// Makes this context current on this thread until the guard is dropped.
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        EnterGuard { previous }
    }

    /// Makes no context current on this thread until the guard is dropped: what runs
    /// meanwhile is neither recorded nor replayed. A recorded boundary runs its body
    /// so, because replay answers the boundary whole and never runs the body: a clock
    /// read inside it, recorded, would be handed to the next read after it in replay.
    pub fn suspend() -> EnterGuard {
        let previous = CURRENT.with(|c| c.replace(None));
        EnterGuard { previous }
    }
}

/// Restores the previous context when dropped.
#[derive(Debug)]
#[must_use = "the context is current only while the guard lives"]
pub struct EnterGuard {
    previous: Option<RetraceContext>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // The thread-local may already be gone if the thread is exiting.
        let _ = CURRENT.try_with(|c| c.replace(previous));
    }
}

/// A future that makes a context current each time it is polled.
#[pin_project]
#[derive(Debug)]
pub struct WithContext<F> {
    #[pin]
    inner: F,
    context: Option<RetraceContext>,
}

impl<F> WithContext<F> {
    /// Wraps `inner`; `None` polls it with no context change.
    pub fn new(inner: F, context: Option<RetraceContext>) -> Self {
        Self { inner, context }
    }

    /// The context this future runs in.
    pub fn context(&self) -> Option<&RetraceContext> {
        self.context.as_ref()
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _guard = this.context.as_ref().map(RetraceContext::enter);
        this.inner.poll(cx)
    }
}

/// Carries the current recording into futures that run elsewhere (spawned tasks).
pub trait FutureExt: Future + Sized {
    /// Runs this future in the context that is current now, wherever it is polled.
    ///
    /// ```
    /// use retrace::context::FutureExt;
    /// # async fn work() {}
    /// # fn spawn<F: std::future::Future>(_: F) {}
    /// // Inside a recorded handler:
    /// spawn(work().with_current_context());
    /// ```
    fn with_current_context(self) -> WithContext<Self> {
        WithContext::new(self, RetraceContext::current())
    }

    /// Runs this future in the given context.
    fn with_context(self, context: RetraceContext) -> WithContext<Self> {
        WithContext::new(self, Some(context))
    }
}

impl<F: Future> FutureExt for F {}
