//! retrace-sqlx on SQLite (in-process, a real database file in a temp directory): the
//! same code as PostgreSQL records every query form, a unique violation and a
//! transaction, and replays them with the database file gone.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{record, replay, sealed};
use retrace::Config;
use retrace::Recorder;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

#[derive(Clone, Debug, PartialEq, sqlx::FromRow, Serialize, Deserialize)]
struct Note {
    id: i64,
    title: String,
}

#[derive(Debug, PartialEq)]
struct Answers {
    first_id: Option<i64>,
    duplicate_is_unique_violation: bool,
    duplicate_code: Option<String>,
    notes: Vec<Note>,
    count: i64,
    missing: Option<Note>,
    renamed: u64,
}

async fn work(pool: &SqlitePool, title: &str) -> Result<Answers, sqlx::Error> {
    let mut tx = retrace_sqlx::begin(pool).await?;
    let first = retrace_sqlx::query("INSERT INTO notes (title) VALUES ($1)")
        .bind(title)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    let duplicate = retrace_sqlx::query("INSERT INTO notes (title) VALUES ($1)")
        .bind(title)
        .execute(pool)
        .await
        .expect_err("titles are unique");
    let db = duplicate.as_database_error().expect("a database error");
    let notes: Vec<Note> = retrace_sqlx::query_as("SELECT id, title FROM notes ORDER BY id")
        .fetch_all(pool)
        .await?;
    let count: i64 = retrace_sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(pool)
        .await?;
    let missing: Option<Note> = retrace_sqlx::query_as("SELECT id, title FROM notes WHERE id = $1")
        .bind(999_i64)
        .fetch_optional(pool)
        .await?;
    let renamed = retrace_sqlx::query("UPDATE notes SET title = title || '!' WHERE title = $1")
        .bind(title)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(Answers {
        first_id: first.last_insert_id(),
        duplicate_is_unique_violation: db.is_unique_violation(),
        duplicate_code: db.code().map(|c| c.into_owned()),
        notes,
        count,
        missing,
        renamed,
    })
}

async fn database(dir: &Path) -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(dir.join("notes.db"))
                .create_if_missing(true),
        )
        .await
        .expect("opens SQLite");
    sqlx::query("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE)")
        .execute(&pool)
        .await
        .expect("schema");
    pool
}

#[test]
fn sqlite_queries_record_and_replay_with_the_database_file_gone() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = tempfile::tempdir().expect("data dir");
    let recordings = tempfile::tempdir().expect("recordings dir");
    let config = Config::builder()
        .enabled(true)
        .service("notes")
        .recording_path(recordings.path())
        .build()
        .expect("config");
    let (recorder, _guard) = Recorder::new(config).expect("recorder");
    let pool = rt.block_on(database(data.path()));

    let (recorded, recording) = record(&recorder, recordings.path(), || {
        rt.block_on(work(&pool, "replay"))
    });
    let recorded = recorded.expect("live queries succeed");
    assert_eq!(recorded.first_id, Some(1));
    assert!(recorded.duplicate_is_unique_violation);
    assert_eq!(
        recorded.duplicate_code.as_deref(),
        Some("2067"),
        "SQLITE_CONSTRAINT_UNIQUE"
    );
    assert_eq!(
        recorded.notes,
        [Note {
            id: 1,
            title: "replay".into()
        }]
    );
    assert_eq!(
        (recorded.count, recorded.missing.clone(), recorded.renamed),
        (1, None, 1)
    );

    // The database goes away: the pool points at a file in a directory that is gone.
    rt.block_on(pool.close());
    let gone = data.path().join("notes.db");
    drop(data);
    let _runtime = rt.enter();
    let offline = SqlitePoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(SqliteConnectOptions::new().filename(&gone));
    let replayed = replay(&recorder, &recording, || {
        rt.block_on(work(&offline, "replay"))
    })
    .expect("replayed from the recording");
    assert_eq!(replayed, recorded);
    assert_eq!(offline.size(), 0, "no connection was opened");
    assert!(!gone.exists());

    // Another title is another argument: a strict replay stops and says which.
    let miss = sealed(|| {
        replay(&recorder, &recording, || {
            rt.block_on(work(&offline, "other"))
        })
    });
    assert!(miss.detail.contains("\"other\""), "{miss}");
    assert!(miss.detail.contains("\"replay\""), "{miss}");
}
