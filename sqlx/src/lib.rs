//! # retrace-sqlx: record and replay database queries
//!
//! Drop-in forms of sqlx's [`query`], [`query_as`] and [`query_scalar`], and a
//! [`Transaction`], whose answers become part of the request's recording: with
//! `retrace_sqlx::` in front of the query functions, a recorded request replays with
//! the database away.
//!
//! Per query the recording holds the SQL text, the bound arguments (each as JSON under
//! the column name the SQL gives it, through the recorder's redaction: a password
//! hash bound to an `INSERT INTO users (email, password_hash)` never reaches disk),
//! its place in the request's order of events, and the answer: the rows (`O:
//! FromRow + Serialize + DeserializeOwned`, or a scalar), the rows affected, or the
//! error with its kind and SQLSTATE, so code that branches on a unique violation
//! replays the same branch.
//!
//! - **Outside a recording** a query is sqlx's, plus two thread-local reads and a
//!   function pointer mapping its answer (about 100 instructions, 10–20 ns; `cargo
//!   bench -p retrace-sqlx --bench queries`); arguments are not captured. Whether a
//!   query is recorded is decided in the task that builds it and calls its method
//!   (`fetch_all(..)`), which is where a handler's queries are.
//! - **Recording**: the query runs, then its answer is recorded.
//! - **Replay** answers from the recording and never touches the executor: no
//!   connection is made or waited for. Queries with the same SQL and arguments are
//!   answered in recorded order. A query the recording lacks stops a strict replay
//!   with `retrace::SealedReplay`, naming the closest unused recorded query and what
//!   differed (`argument 2 (email): "bob@x.io", recorded "alice@x.io"`).
//!
//! ## Building a service that can replay without a database
//!
//! Create the pool with `connect_lazy` (sqlx's `PgPoolOptions::connect_lazy`): it
//! connects on first use, so the router builds with the database away, and a replay,
//! which never uses the pool, never waits on its acquire timeout.
//!
//! ```no_run
//! use sqlx::postgres::PgPoolOptions;
//! # fn f() -> Result<(), sqlx::Error> {
//! let pool = PgPoolOptions::new()
//!     .max_connections(8)
//!     .connect_lazy("postgres://app@127.0.0.1/app")?;
//! # Ok(()) }
//! ```
//!
//! ## What is not recorded
//!
//! Queries run through sqlx directly (migrations among them: `sqlx::migrate!` runs on
//! the pool, never through this crate), sqlx's compile-time checked `query!` macros,
//! and untyped rows (`query(..).fetch*`: a `PgRow` cannot be rebuilt without a
//! database; read rows with [`query_as`] or [`query_scalar`]). In replay, a
//! database error is a [`ReplayedDatabaseError`]: it answers sqlx's `DatabaseError`
//! methods as the recorded one did, but does not downcast to the driver's error type.
//!
//! PostgreSQL is the default feature; `mysql` and `sqlite` go through the same code
//! (SQLite is tested on a real database file in `tests/sqlx_sqlite.rs`; MySQL is
//! compiled and linted by `.ci/run`, with no server to test against here).

#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

mod error;
mod executor;
mod key;
mod query;
mod result;
mod stream;
mod through;
mod transaction;

pub use error::ReplayedDatabaseError;
pub use executor::Executor;
pub use query::{
    As, MapRow, Query, QueryAs, QueryScalar, Scalar, Untyped, query, query_as, query_scalar,
};
pub use result::{QueryResult, RecordedDatabase};
pub use transaction::{Transaction, begin};
