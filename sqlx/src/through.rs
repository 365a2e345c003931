//! One query through the recorder: recorded with its key when a recording is current,
//! answered from the recording in replay (where the live query is never started),
//! run as it is otherwise.
//!
//! A query comes here, boxed, only inside a recording or replay (see `Query::run`):
//! outside one it is sqlx's own future. Transaction steps always come here.

use std::future::Future;

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
/// SQLSTATE). In replay `start` is never called.
pub(crate) async fn through<R, T, F>(
    op: &'static str,
    sql: &str,
    capture: Capture,
    start: impl FnOnce() -> Result<F, sqlx::Error>,
    answer: impl FnOnce(R) -> Result<T, sqlx::Error>,
) -> Result<T, sqlx::Error>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = Result<R, sqlx::Error>>,
{
    let key = KeyOf {
        sql,
        capture: &capture,
    };
    match begin::<Result<T, RecordedError>>(op, &key) {
        Begun::Replayed(answer) => answer.map_err(sqlx::Error::from),
        Begun::Run(call) => {
            let answer = match start() {
                Ok(query) => query.await.and_then(answer),
                Err(e) => Err(e),
            };
            if call.recording().is_some() {
                call.finish(&answer.as_ref().map_err(RecordedError::from));
            }
            answer
        }
    }
}
