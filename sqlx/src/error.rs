//! Errors as a recording keeps them, and as replay gives them back.
//!
//! Code branches on what the database said (`23505`, a unique violation, means "that
//! email is taken"), so an error is recorded with its kind, SQLSTATE, constraint and
//! table, and replay rebuilds a [`sqlx::Error`] of the same variant: a
//! [`sqlx::Error::Database`] answers `code()`, `kind()`, `is_unique_violation()`,
//! `constraint()` and `table()` as the recorded one did. It is a
//! [`ReplayedDatabaseError`], so a downcast to the driver's own type
//! (`PgDatabaseError`) does not succeed in replay: branch on the trait's methods.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::error::{DatabaseError, ErrorKind};

/// A [`sqlx::Error`] as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RecordedError {
    kind: Kind,
    message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    Database {
        code: Option<String>,
        kind: DbKind,
        constraint: Option<String>,
        table: Option<String>,
    },
    RowNotFound,
    PoolTimedOut,
    PoolClosed,
    WorkerCrashed,
    Io,
    Protocol,
    ColumnNotFound,
    Decode,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum DbKind {
    UniqueViolation,
    ForeignKeyViolation,
    NotNullViolation,
    CheckViolation,
    Other,
}

impl From<&sqlx::Error> for RecordedError {
    fn from(e: &sqlx::Error) -> Self {
        let kind = match e {
            sqlx::Error::Database(db) => Kind::Database {
                code: db.code().map(Cow::into_owned),
                kind: match db.kind() {
                    ErrorKind::UniqueViolation => DbKind::UniqueViolation,
                    ErrorKind::ForeignKeyViolation => DbKind::ForeignKeyViolation,
                    ErrorKind::NotNullViolation => DbKind::NotNullViolation,
                    ErrorKind::CheckViolation => DbKind::CheckViolation,
                    _ => DbKind::Other,
                },
                constraint: db.constraint().map(str::to_owned),
                table: db.table().map(str::to_owned),
            },
            sqlx::Error::RowNotFound => Kind::RowNotFound,
            sqlx::Error::PoolTimedOut => Kind::PoolTimedOut,
            sqlx::Error::PoolClosed => Kind::PoolClosed,
            sqlx::Error::WorkerCrashed => Kind::WorkerCrashed,
            sqlx::Error::Io(_) => Kind::Io,
            sqlx::Error::Protocol(_) => Kind::Protocol,
            sqlx::Error::ColumnNotFound(_) => Kind::ColumnNotFound,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Kind::Decode,
            _ => Kind::Other,
        };
        let message = match e {
            sqlx::Error::Database(db) => db.message().to_owned(),
            sqlx::Error::Protocol(m) | sqlx::Error::ColumnNotFound(m) => m.clone(),
            other => other.to_string(),
        };
        Self { kind, message }
    }
}

impl From<RecordedError> for sqlx::Error {
    fn from(e: RecordedError) -> Self {
        let RecordedError { kind, message } = e;
        match kind {
            Kind::Database {
                code,
                kind,
                constraint,
                table,
            } => sqlx::Error::Database(Box::new(ReplayedDatabaseError {
                message,
                code,
                kind,
                constraint,
                table,
            })),
            Kind::RowNotFound => sqlx::Error::RowNotFound,
            Kind::PoolTimedOut => sqlx::Error::PoolTimedOut,
            Kind::PoolClosed => sqlx::Error::PoolClosed,
            Kind::WorkerCrashed => sqlx::Error::WorkerCrashed,
            Kind::Io => sqlx::Error::Io(std::io::Error::other(message)),
            Kind::Protocol => sqlx::Error::Protocol(message),
            Kind::ColumnNotFound => sqlx::Error::ColumnNotFound(message),
            Kind::Decode => sqlx::Error::Decode(Box::new(ReplayedError(message))),
            Kind::Other => sqlx::Error::Protocol(format!("{message} (replayed)")),
        }
    }
}

/// The text of a recorded error that has no structure of its own.
#[derive(Debug)]
struct ReplayedError(String);

impl fmt::Display for ReplayedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for ReplayedError {}

/// A database error given back by replay: what the database said when the query was
/// recorded (message, SQLSTATE, kind, constraint, table).
#[derive(Debug)]
pub struct ReplayedDatabaseError {
    message: String,
    code: Option<String>,
    kind: DbKind,
    constraint: Option<String>,
    table: Option<String>,
}

impl fmt::Display for ReplayedDatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (SQLSTATE {code}, replayed)", self.message),
            None => write!(f, "{} (replayed)", self.message),
        }
    }
}

impl StdError for ReplayedDatabaseError {}

impl DatabaseError for ReplayedDatabaseError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }

    fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }

    fn kind(&self) -> ErrorKind {
        match self.kind {
            DbKind::UniqueViolation => ErrorKind::UniqueViolation,
            DbKind::ForeignKeyViolation => ErrorKind::ForeignKeyViolation,
            DbKind::NotNullViolation => ErrorKind::NotNullViolation,
            DbKind::CheckViolation => ErrorKind::CheckViolation,
            DbKind::Other => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unique_violation_replays_as_one() {
        let recorded = RecordedError {
            kind: Kind::Database {
                code: Some("23505".into()),
                kind: DbKind::UniqueViolation,
                constraint: Some("users_email_key".into()),
                table: Some("users".into()),
            },
            message: "duplicate key value violates unique constraint \"users_email_key\"".into(),
        };
        let bytes = postcard::to_stdvec(&recorded).expect("encodes");
        let back: RecordedError = postcard::from_bytes(&bytes).expect("decodes");
        let e = sqlx::Error::from(back);
        let db = e.as_database_error().expect("a database error");
        assert!(db.is_unique_violation());
        assert_eq!(db.code().as_deref(), Some("23505"));
        assert_eq!(db.constraint(), Some("users_email_key"));
        assert_eq!(db.table(), Some("users"));
        assert_eq!(
            e.to_string(),
            "error returned from database: duplicate key value violates unique constraint \
             \"users_email_key\" (SQLSTATE 23505, replayed)"
        );
    }

    #[test]
    fn row_not_found_replays_as_row_not_found() {
        let e = sqlx::Error::from(RecordedError::from(&sqlx::Error::RowNotFound));
        assert!(matches!(e, sqlx::Error::RowNotFound));
    }
}
