//! `fetch`: rows as a stream, recorded row by row as the code reads them.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use futures_core::stream::BoxStream;
use retrace::{Begun, BoundaryCall};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::Database;

use crate::error::RecordedError;
use crate::query::MapRow;
use crate::through::{KeyOf, begin};

/// A stream as recorded: each row encoded (and redacted) on its own as it was read,
/// then the error that ended it, if one did.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StreamRecord {
    rows: Vec<Bytes>,
    end: Option<Bytes>,
}

/// The rows of the query `key`: the live rows of `live()` (recorded when a recording
/// is current), or in replay the recorded ones.
pub(crate) fn fetch<'e, DB, M>(
    key: &KeyOf<'_>,
    live: impl FnOnce() -> Result<BoxStream<'e, Result<DB::Row, sqlx::Error>>, sqlx::Error>,
) -> BoxStream<'e, Result<M::Output, sqlx::Error>>
where
    DB: Database,
    M: MapRow<DB> + 'e,
{
    match begin::<StreamRecord>("sqlx.fetch", key) {
        Begun::Replayed(record) => Box::pin(Replayed::<M::Output> {
            rows: record.rows.into_iter(),
            end: record.end,
            output: PhantomData,
        }),
        Begun::Run(call) => {
            let call = call.recording().is_some().then_some(call);
            Box::pin(Live::<'e, DB, M> {
                rows: live().map_err(Some),
                call,
                record: StreamRecord::default(),
                map: PhantomData,
            })
        }
    }
}

struct Replayed<O> {
    rows: std::vec::IntoIter<Bytes>,
    end: Option<Bytes>,
    output: PhantomData<fn() -> O>,
}

impl<O: DeserializeOwned> Stream for Replayed<O> {
    type Item = Result<O, sqlx::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(row) = self.rows.next() {
            return Poll::Ready(Some(
                postcard::from_bytes(&row).map_err(|e| sqlx::Error::Decode(Box::new(e))),
            ));
        }
        Poll::Ready(self.end.take().map(|end| {
            Err(match postcard::from_bytes::<RecordedError>(&end) {
                Ok(e) => e.into(),
                Err(e) => sqlx::Error::Decode(Box::new(e)),
            })
        }))
    }
}

struct Live<'e, DB: Database, M: MapRow<DB>> {
    /// The live rows, or the error that kept the query from starting (given once).
    rows: Result<BoxStream<'e, Result<DB::Row, sqlx::Error>>, Option<sqlx::Error>>,
    /// Present while the stream is being recorded.
    call: Option<BoundaryCall<'static>>,
    record: StreamRecord,
    map: PhantomData<fn() -> M>,
}

impl<DB: Database, M: MapRow<DB>> Live<'_, DB, M> {
    fn keep(&mut self, row: &M::Output) {
        if let Some(bytes) = self.encode(row) {
            self.record.rows.push(bytes);
        }
    }

    fn encode<T: Serialize>(&self, value: &T) -> Option<Bytes> {
        let call = self.call.as_ref()?;
        call.recording()?.redaction().encode_value(value)
    }

    fn finish(&mut self, error: Option<&sqlx::Error>) {
        if self.call.is_none() {
            return;
        }
        self.record.end = error.and_then(|e| self.encode(&RecordedError::from(e)));
        if let Some(call) = self.call.take()
            && let Ok(value) = postcard::to_stdvec(&self.record)
        {
            call.finish_encoded(value.into());
        }
    }
}

impl<DB: Database, M: MapRow<DB>> Stream for Live<'_, DB, M> {
    type Item = Result<M::Output, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (the live rows are boxed).
        let this = self.get_mut();
        let rows = match &mut this.rows {
            Ok(rows) => rows,
            Err(error) => return Poll::Ready(error.take().map(Err)),
        };
        let item = match ready!(rows.as_mut().poll_next(cx)) {
            Some(Ok(row)) => M::map_row(&row),
            Some(Err(e)) => Err(e),
            None => {
                this.finish(None);
                return Poll::Ready(None);
            }
        };
        match &item {
            Ok(row) => this.keep(row),
            Err(e) => this.finish(Some(e)),
        }
        Poll::Ready(Some(item))
    }
}

/// A stream dropped before its end is recorded with the rows read so far.
impl<DB: Database, M: MapRow<DB>> Drop for Live<'_, DB, M> {
    fn drop(&mut self) {
        self.finish(None);
    }
}
