//! Transactions whose `BEGIN`, `COMMIT` and `ROLLBACK` are recorded, and replayed
//! without a database: a replayed transaction has no connection, and the queries run
//! in it are answered from the recording like any other.

use sqlx::{Database, Pool};

use crate::key::Capture;
use crate::through::through;

/// A database transaction that replay can stand in for. Run queries in it with
/// `&mut tx` (where sqlx takes `&mut *tx`). Dropped without [`commit`](Self::commit),
/// a live transaction rolls back, as sqlx's does; that rollback is not recorded, and
/// replay has nothing to undo.
#[must_use = "a transaction rolls back when dropped without commit"]
pub struct Transaction<'c, DB: Database> {
    live: Option<sqlx::Transaction<'c, DB>>,
}

impl<DB: Database> std::fmt::Debug for Transaction<'_, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("replayed", &self.live.is_none())
            .finish()
    }
}

/// Begins a transaction on `pool` (recorded as `BEGIN`).
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// let mut tx = retrace_sqlx::begin(&pool).await?;
/// retrace_sqlx::query("INSERT INTO follows (follower, followed) VALUES ($1, $2)")
///     .bind(1_i64)
///     .bind(2_i64)
///     .execute(&mut tx)
///     .await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub async fn begin<DB: Database>(pool: &Pool<DB>) -> Result<Transaction<'static, DB>, sqlx::Error> {
    let mut live = None;
    step("sqlx.begin", "BEGIN", async {
        live = Some(pool.begin().await?);
        Ok(())
    })
    .await?;
    Ok(Transaction { live })
}

/// Runs one transaction step as the crossing `op` keyed by `sql`.
async fn step<F>(op: &'static str, sql: &str, live: F) -> Result<(), sqlx::Error>
where
    F: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    through(op, sql, Capture::new(), || Ok(live), Ok).await
}

impl<'c, DB: Database> Transaction<'c, DB> {
    /// Begins a transaction on a connection the code holds (recorded as `BEGIN`).
    pub async fn begin_on(connection: &'c mut DB::Connection) -> Result<Self, sqlx::Error> {
        let mut live = None;
        step("sqlx.begin", "BEGIN", async {
            live = Some(sqlx::Connection::begin(connection).await?);
            Ok(())
        })
        .await?;
        Ok(Self { live })
    }

    /// Commits (recorded as `COMMIT`).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let live = self.live;
        step("sqlx.commit", "COMMIT", async {
            match live {
                Some(tx) => tx.commit().await,
                None => Err(no_connection()),
            }
        })
        .await
    }

    /// Rolls back (recorded as `ROLLBACK`).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let live = self.live;
        step("sqlx.rollback", "ROLLBACK", async {
            match live {
                Some(tx) => tx.rollback().await,
                None => Err(no_connection()),
            }
        })
        .await
    }

    /// Whether replay began this transaction (it has no connection).
    pub fn is_replayed(&self) -> bool {
        self.live.is_none()
    }

    /// The sqlx transaction, for what this crate does not wrap; `None` when replayed.
    /// Queries run on it directly are neither recorded nor replayed.
    pub fn live_mut(&mut self) -> Option<&mut sqlx::Transaction<'c, DB>> {
        self.live.as_mut()
    }

    pub(crate) fn live_connection(&mut self) -> Result<&mut DB::Connection, sqlx::Error> {
        match &mut self.live {
            Some(tx) => Ok(&mut **tx),
            None => Err(no_connection()),
        }
    }
}

/// A replayed transaction asked to run something live: only a lenient replay of a
/// step the recording lacks gets here.
fn no_connection() -> sqlx::Error {
    sqlx::Error::Configuration(
        "retrace-sqlx: this transaction was begun by a replay and has no connection; \
         the recording lacks this query (a strict replay would have stopped)"
            .into(),
    )
}
