//! One query through the recorder: recorded with its key when a recording is current,
//! answered from the recording in replay (where the live query is never started),
//! run as it is otherwise.
//!
//! [`Through`] is a future written out by hand rather than an `async fn` taking the
//! live future: an `async fn` keeps its by-value arguments apart from the state that
//! awaits them, so the query (its arguments, sqlx's future) would be stored, and
//! moved, twice. Here the query is started in place of what started it, and polled
//! where it lies.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project::pin_project;
use retrace::{Begun, BoundaryCall, ValueKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::RecordedError;
use crate::key::{Capture, explain_miss};

/// A query's key, built only when it is encoded: outside a recording, the SQL is
/// never scanned for argument names.
pub(crate) struct KeyOf<'a> {
    pub(crate) sql: &'a str,
    pub(crate) capture: &'a Capture,
}

impl Serialize for KeyOf<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.capture.key(self.sql).serialize(serializer)
    }
}

/// Begins the crossing `op` (`sqlx.fetch_all`) of the query `key`. A strict replay
/// with no recorded answer unwinds with `retrace::SealedReplay`, naming the closest
/// unused recorded query and what differed.
pub(crate) fn begin<T: DeserializeOwned>(op: &'static str, key: &KeyOf<'_>) -> Begun<'static, T> {
    BoundaryCall::begin_explained(ValueKind::Query, op, Some(key), explain_miss)
}

/// Runs the query `start` starts as the crossing `op` of the query `sql` with the
/// arguments `capture`; `answer` turns what the query returned into the value the
/// caller gets, which is what is recorded (the value, or the error with its kind and
/// SQLSTATE). The crossing begins when the future is first polled; in replay `start`
/// is never called.
pub(crate) fn through<'a, R, T, S, F, A>(
    op: &'static str,
    sql: &'a str,
    capture: Capture,
    start: S,
    answer: A,
) -> Through<'a, S, F, A>
where
    T: Serialize + DeserializeOwned,
    S: FnOnce() -> Result<F, sqlx::Error>,
    F: Future<Output = Result<R, sqlx::Error>>,
    A: FnOnce(R) -> Result<T, sqlx::Error>,
{
    Through {
        op,
        sql,
        capture,
        call: None,
        answer: Some(answer),
        live: Live::Start(Some(start)),
    }
}

/// The future [`through`] returns.
#[pin_project]
pub(crate) struct Through<'a, S, F, A> {
    op: &'static str,
    sql: &'a str,
    capture: Capture,
    /// The crossing, once it has begun and the query runs live.
    call: Option<BoundaryCall<'static>>,
    answer: Option<A>,
    #[pin]
    live: Live<S, F>,
}

/// The live query: what starts it, then the query itself.
#[pin_project(project = LiveProj)]
enum Live<S, F> {
    Start(Option<S>),
    Running(#[pin] F),
}

const POLLED_AFTER_COMPLETION: &str = "retrace-sqlx: a query future was polled after it completed";

impl<R, T, S, F, A> Future for Through<'_, S, F, A>
where
    T: Serialize + DeserializeOwned,
    S: FnOnce() -> Result<F, sqlx::Error>,
    F: Future<Output = Result<R, sqlx::Error>>,
    A: FnOnce(R) -> Result<T, sqlx::Error>,
{
    type Output = Result<T, sqlx::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let returned = loop {
            match this.live.as_mut().project() {
                LiveProj::Running(query) => break ready!(query.poll(cx)),
                LiveProj::Start(start) => {
                    let start = start.take().expect(POLLED_AFTER_COMPLETION);
                    let key = KeyOf {
                        sql: this.sql,
                        capture: this.capture,
                    };
                    match begin::<Result<T, RecordedError>>(this.op, &key) {
                        Begun::Replayed(answer) => {
                            return Poll::Ready(answer.map_err(sqlx::Error::from));
                        }
                        Begun::Run(call) => *this.call = Some(call),
                    }
                    match start() {
                        Ok(query) => this.live.set(Live::Running(query)),
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        let answer = this.answer.take().expect(POLLED_AFTER_COMPLETION);
        let answer = returned.and_then(answer);
        if let Some(call) = this.call.take()
            && call.recording().is_some()
        {
            call.finish(&answer.as_ref().map_err(RecordedError::from));
        }
        Poll::Ready(answer)
    }
}
