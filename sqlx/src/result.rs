//! What `execute` returns: the counts every driver reports, in a form replay can build.

use serde::{Deserialize, Serialize};

/// The outcome of [`Query::execute`](crate::Query::execute): sqlx's `PgQueryResult`,
/// `MySqlQueryResult` and `SqliteQueryResult` cannot be built without a database, so
/// recorded queries return this in their place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResult {
    rows_affected: u64,
    last_insert_id: Option<i64>,
}

impl QueryResult {
    /// Rows inserted, updated or deleted.
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }

    /// The id of the last inserted row, where the database reports one (MySQL's
    /// `last_insert_id`, SQLite's `last_insert_rowid`); `None` on PostgreSQL (use
    /// `RETURNING`).
    pub fn last_insert_id(&self) -> Option<i64> {
        self.last_insert_id
    }
}

/// A database whose query results can be recorded.
pub trait RecordedDatabase: sqlx::Database {
    /// The counts of a live result.
    fn query_result(result: &Self::QueryResult) -> QueryResult;
}

#[cfg(feature = "postgres")]
impl RecordedDatabase for sqlx::Postgres {
    fn query_result(result: &sqlx::postgres::PgQueryResult) -> QueryResult {
        QueryResult {
            rows_affected: result.rows_affected(),
            last_insert_id: None,
        }
    }
}

#[cfg(feature = "mysql")]
impl RecordedDatabase for sqlx::MySql {
    fn query_result(result: &sqlx::mysql::MySqlQueryResult) -> QueryResult {
        QueryResult {
            rows_affected: result.rows_affected(),
            last_insert_id: i64::try_from(result.last_insert_id()).ok(),
        }
    }
}

#[cfg(feature = "sqlite")]
impl RecordedDatabase for sqlx::Sqlite {
    fn query_result(result: &sqlx::sqlite::SqliteQueryResult) -> QueryResult {
        QueryResult {
            rows_affected: result.rows_affected(),
            last_insert_id: Some(result.last_insert_rowid()),
        }
    }
}
