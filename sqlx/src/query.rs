//! Drop-in forms of sqlx's `query`, `query_as` and `query_scalar`.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Database, Encode, Executor as _, FromRow, IntoArguments, Type};

use crate::executor::Executor;
use crate::key::Capture;
use crate::result::{QueryResult, RecordedDatabase};
use crate::stream;
use crate::through::{KeyOf, through};

/// A query whose answer is recorded and replayed: built by [`query`], [`query_as`] or
/// [`query_scalar`], bound like sqlx's, run on a pool, a connection or a
/// [`Transaction`](crate::Transaction).
///
/// `M` says what a row becomes: [`Untyped`] (only [`execute`](Self::execute): an
/// untyped row cannot be rebuilt without a database), [`As<O>`] or [`Scalar<O>`].
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'q, DB: Database, M = Untyped> {
    inner: SqlxQuery<'q, DB>,
    sql: &'q str,
    capture: Capture,
    rows: PhantomData<fn() -> M>,
}

/// sqlx's query, which runs when the query really runs.
type SqlxQuery<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// Starts sqlx's query on the live executor: what a query method does when it really
/// runs.
type StartLive<'q, 'e, L, DB, R> =
    fn(L, SqlxQuery<'q, DB>) -> BoxFuture<'e, Result<R, sqlx::Error>>;

/// A query whose rows become `O` through [`FromRow`] ([`query_as`]).
pub type QueryAs<'q, DB, O> = Query<'q, DB, As<O>>;

/// A query whose rows become their first column, `O` ([`query_scalar`]).
pub type QueryScalar<'q, DB, O> = Query<'q, DB, Scalar<O>>;

/// Rows are not read: the query can only be executed.
#[derive(Debug)]
pub enum Untyped {}

/// Rows become `O` through its [`FromRow`].
#[derive(Debug)]
pub struct As<O>(PhantomData<fn() -> O>);

/// Rows become their first column, `O`.
#[derive(Debug)]
pub struct Scalar<O>(PhantomData<fn() -> O>);

/// How a row becomes the value a query returns, and is recorded as.
pub trait MapRow<DB: Database> {
    /// What a row becomes.
    type Output: Serialize + DeserializeOwned + Send + Unpin;

    /// Reads one live row.
    fn map_row(row: &DB::Row) -> Result<Self::Output, sqlx::Error>;
}

impl<DB, O> MapRow<DB> for As<O>
where
    DB: Database,
    O: for<'r> FromRow<'r, DB::Row> + Serialize + DeserializeOwned + Send + Unpin,
{
    type Output = O;

    fn map_row(row: &DB::Row) -> Result<O, sqlx::Error> {
        O::from_row(row)
    }
}

impl<DB, O> MapRow<DB> for Scalar<O>
where
    DB: Database,
    (O,): for<'r> FromRow<'r, DB::Row>,
    O: Serialize + DeserializeOwned + Send + Unpin,
{
    type Output = O;

    fn map_row(row: &DB::Row) -> Result<O, sqlx::Error> {
        <(O,)>::from_row(row).map(|(o,)| o)
    }
}

/// A recorded query that returns no rows, or whose rows are not read: `execute`.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let done = retrace_sqlx::query("UPDATE users SET bio = $1 WHERE id = $2")
///     .bind("hello")
///     .bind(7_i64)
///     .execute(&pool)
///     .await?;
/// assert_eq!(done.rows_affected(), 1);
/// # Ok(()) }
/// ```
pub fn query<DB: Database>(sql: &str) -> Query<'_, DB> {
    Query::new(sql)
}

/// A recorded query whose rows become `O` through [`FromRow`]; `O` is recorded, so it
/// is also `Serialize + DeserializeOwned`.
///
/// ```no_run
/// #[derive(sqlx::FromRow, serde::Serialize, serde::Deserialize)]
/// struct User { id: i64, email: String }
///
/// # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let user: Option<User> = retrace_sqlx::query_as("SELECT id, email FROM users WHERE email = $1")
///     .bind("alice@example.com")
///     .fetch_optional(&pool)
///     .await?;
/// # Ok(()) }
/// ```
pub fn query_as<DB: Database, O>(sql: &str) -> QueryAs<'_, DB, O> {
    Query::new(sql)
}

/// A recorded query whose rows become their first column, `O`.
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let count: i64 = retrace_sqlx::query_scalar("SELECT count(*) FROM users")
///     .fetch_one(&pool)
///     .await?;
/// # Ok(()) }
/// ```
pub fn query_scalar<DB: Database, O>(sql: &str) -> QueryScalar<'_, DB, O> {
    Query::new(sql)
}

impl<'q, DB: Database, M> Query<'q, DB, M> {
    fn new(sql: &'q str) -> Self {
        Self {
            inner: sqlx::query(sql),
            sql,
            capture: Capture::new(),
            rows: PhantomData,
        }
    }

    /// Binds the next argument, as sqlx's `bind`; it is also recorded (as JSON, under
    /// the column name the SQL gives it, through the recorder's redaction), so it is
    /// `Serialize` too.
    pub fn bind<T>(mut self, value: T) -> Self
    where
        T: 'q + Encode<'q, DB> + Type<DB> + Serialize,
    {
        self.capture.bind(&value);
        self.inner = self.inner.bind(value);
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &'q str {
        self.sql
    }
}

// The methods return `impl Future + Send` rather than being `async fn`: the future is
// then proven `Send` here, where the executor's bounds are known, and a handler that
// awaits a query on `&mut Transaction` stays `Send` (with `async fn` the compiler asks
// for the executor impl "for any lifetime" and rejects the handler).

impl<'q, DB: Database, M> Query<'q, DB, M> {
    /// Runs the query as the crossing `op`: `live` is given the live executor and
    /// sqlx's query, and only when the query really runs; `answer` turns what sqlx
    /// returned into the value the caller gets (and the recording keeps).
    ///
    /// Whether the query is recorded (or replayed) is decided here, when the query
    /// method is called: with no recording or replay current, sqlx's query is started
    /// at once (it does nothing until polled) and the future is little more than
    /// sqlx's own; otherwise the crossing is boxed, its cost small beside a recorded
    /// query's encoding.
    fn run<'e, 'c: 'e, E, R, T>(
        self,
        op: &'static str,
        executor: E,
        live: StartLive<'q, 'e, E::Live, DB, R>,
        answer: fn(R) -> Result<T, sqlx::Error>,
    ) -> QueryFuture<'e, R, T>
    where
        'q: 'e,
        M: 'e,
        E: 'e + Executor<'c, Database = DB>,
        R: Send + 'e,
        T: Serialize + DeserializeOwned + Send + 'e,
    {
        let Self {
            inner,
            sql,
            capture,
            ..
        } = self;
        if retrace::context::RetraceContext::with_current(|c| c.is_none()) {
            return match executor.into_live() {
                Ok(executor) => QueryFuture::Live {
                    query: live(executor, inner),
                    answer,
                },
                Err(e) => QueryFuture::Failed(Some(e)),
            };
        }
        QueryFuture::Crossing(Box::pin(through(
            op,
            sql,
            capture,
            move || Ok(live(executor.into_live()?, inner)),
            answer,
        )))
    }
}

/// The future of a query method: sqlx's query with its answer mapped, or, when a
/// recording or replay is current, the crossing that records or answers it. Every
/// state is a box or smaller: the future is moved around whole, so it stays small.
pub(crate) enum QueryFuture<'e, R, T> {
    Live {
        query: BoxFuture<'e, Result<R, sqlx::Error>>,
        answer: fn(R) -> Result<T, sqlx::Error>,
    },
    Failed(Option<sqlx::Error>),
    Crossing(BoxFuture<'e, Result<T, sqlx::Error>>),
}

impl<R, T> Future for QueryFuture<'_, R, T> {
    type Output = Result<T, sqlx::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Live { query, answer } => query.as_mut().poll(cx).map(|r| r.and_then(*answer)),
            Self::Failed(e) => Poll::Ready(Err(e
                .take()
                .expect("retrace-sqlx: a query future was polled after it completed"))),
            Self::Crossing(crossing) => crossing.as_mut().poll(cx),
        }
    }
}

impl<'q, DB, M> Query<'q, DB, M>
where
    DB: RecordedDatabase,
    <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
{
    /// Runs the query and returns the rows it affected (recorded as that count).
    pub fn execute<'e, 'c: 'e, E>(
        self,
        executor: E,
    ) -> impl Future<Output = Result<QueryResult, sqlx::Error>> + Send + 'e
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = DB>,
        M: 'e,
    {
        self.run(
            "sqlx.execute",
            executor,
            |live, inner| live.execute(inner),
            |done| Ok(DB::query_result(&done)),
        )
    }
}

impl<'q, DB, M> Query<'q, DB, M>
where
    DB: Database,
    M: MapRow<DB>,
    <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
{
    /// All rows (recorded as the `Vec`).
    pub fn fetch_all<'e, 'c: 'e, E>(
        self,
        executor: E,
    ) -> impl Future<Output = Result<Vec<M::Output>, sqlx::Error>> + Send + 'e
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = DB>,
        M: 'e,
    {
        self.run(
            "sqlx.fetch_all",
            executor,
            |live, inner| live.fetch_all(inner),
            |rows| rows.iter().map(M::map_row).collect(),
        )
    }

    /// Exactly one row: `RowNotFound` when there is none (recorded, and replayed, as
    /// that error).
    pub fn fetch_one<'e, 'c: 'e, E>(
        self,
        executor: E,
    ) -> impl Future<Output = Result<M::Output, sqlx::Error>> + Send + 'e
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = DB>,
        M: 'e,
    {
        self.run(
            "sqlx.fetch_one",
            executor,
            |live, inner| live.fetch_one(inner),
            |row| M::map_row(&row),
        )
    }

    /// The first row, if any.
    pub fn fetch_optional<'e, 'c: 'e, E>(
        self,
        executor: E,
    ) -> impl Future<Output = Result<Option<M::Output>, sqlx::Error>> + Send + 'e
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = DB>,
        M: 'e,
    {
        self.run(
            "sqlx.fetch_optional",
            executor,
            |live, inner| live.fetch_optional(inner),
            |row| row.as_ref().map(M::map_row).transpose(),
        )
    }

    /// The rows as a stream. Recorded as the rows the code read: when the stream is
    /// dropped early, the rows read so far; replay yields the same rows.
    pub fn fetch<'e, 'c: 'e, E>(self, executor: E) -> BoxStream<'e, Result<M::Output, sqlx::Error>>
    where
        'q: 'e,
        E: 'e + Executor<'c, Database = DB>,
        DB: 'e,
        M: 'e,
    {
        let Self {
            inner,
            sql,
            capture,
            ..
        } = self;
        let key = KeyOf {
            sql,
            capture: &capture,
        };
        stream::fetch::<DB, M>(&key, || executor.into_live().map(|e| e.fetch(inner)))
    }
}
