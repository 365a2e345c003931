//! Where a recorded query runs: a pool, a connection or a [`Transaction`].
//!
//! sqlx's own `Executor` cannot stand for a transaction that replay began without a
//! database, so the query methods take this trait instead. It hands the live sqlx
//! executor over only when the query really runs; replay never asks for it, so it
//! never touches the pool, and never waits on one.

use sqlx::{Database, Pool};

use crate::Transaction;

mod sealed {
    pub trait Sealed {}
}

/// Something a recorded query can run on: `&Pool`, `&mut` connection (`&mut *conn`
/// for a pooled one) or `&mut` [`Transaction`]. Sealed: the live executor behind each
/// is sqlx's.
pub trait Executor<'c>: Send + Sized + sealed::Sealed {
    /// The database it talks to.
    type Database: Database;
    /// The sqlx executor that runs a live query.
    type Live: sqlx::Executor<'c, Database = Self::Database>;

    /// The live executor; an error for a transaction that replay began, which has no
    /// connection (a lenient replay running a query the recording lacks inside it).
    fn into_live(self) -> Result<Self::Live, sqlx::Error>;
}

impl<DB: Database> sealed::Sealed for &Pool<DB> {}

// For every `'c`, as sqlx's own: the compiler can then prove a handler's future
// `Send` without knowing which lifetime the query picked.
impl<'c, DB> Executor<'c> for &'_ Pool<DB>
where
    DB: Database,
    for<'x> &'x mut DB::Connection: sqlx::Executor<'x, Database = DB>,
{
    type Database = DB;
    type Live = Self;

    fn into_live(self) -> Result<Self, sqlx::Error> {
        Ok(self)
    }
}

impl<DB: Database> sealed::Sealed for &mut Transaction<'_, DB> {}

impl<'c, DB> Executor<'c> for &'c mut Transaction<'_, DB>
where
    DB: Database,
    for<'x> &'x mut DB::Connection: sqlx::Executor<'x, Database = DB>,
{
    type Database = DB;
    type Live = &'c mut DB::Connection;

    fn into_live(self) -> Result<Self::Live, sqlx::Error> {
        self.live_connection()
    }
}

macro_rules! connection_executor {
    ($feature:literal, $connection:ty, $database:ty) => {
        #[cfg(feature = $feature)]
        impl sealed::Sealed for &mut $connection {}

        #[cfg(feature = $feature)]
        impl<'c> Executor<'c> for &'c mut $connection {
            type Database = $database;
            type Live = Self;

            fn into_live(self) -> Result<Self, sqlx::Error> {
                Ok(self)
            }
        }
    };
}

connection_executor!("postgres", sqlx::PgConnection, sqlx::Postgres);
connection_executor!("mysql", sqlx::MySqlConnection, sqlx::MySql);
connection_executor!("sqlite", sqlx::SqliteConnection, sqlx::Sqlite);
