//! retrace-sqlx against a real PostgreSQL (started by `scripts/postgres` on first use):
//! every query form records its answer, and replays with the pool pointed at a port
//! that counts connection attempts; the count stays zero.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Duration;

use common::sealed;
use futures_util::TryStreamExt;
use retrace::context::{FutureExt, RetraceContext};
use retrace::{
    Outcome, RecordReason, Recorder, RecorderGuard, Recording, Redaction, StartOptions, Store,
    ValueKind,
};
use retrace_test_services::AwayPort;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$Zm9vYmFyYmF6cXV4";

#[derive(Clone, Debug, PartialEq, sqlx::FromRow, Serialize, Deserialize)]
struct User {
    id: i64,
    email: String,
    display_name: Option<String>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn recorder(dir: &Path) -> (Recorder, RecorderGuard) {
    common::recorder(common::config(dir).redaction(Redaction::default()))
}

/// A database of its own, with the schema the tests use.
async fn database(hint: &str) -> PgPool {
    let url = retrace_test_services::fresh_database(hint);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("connects to the test database");
    for ddl in [
        "CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE, \
         password_hash TEXT NOT NULL, display_name TEXT)",
        "CREATE TABLE follows (follower BIGINT NOT NULL, followed BIGINT NOT NULL, \
         PRIMARY KEY (follower, followed))",
    ] {
        sqlx::query(ddl).execute(&pool).await.expect("schema");
    }
    pool
}

/// A pool whose database is away: its port counts connection attempts.
struct CountingPool {
    pool: PgPool,
    away: AwayPort,
}

impl CountingPool {
    fn attempts(&self) -> usize {
        self.away.attempts()
    }
}

async fn counting_pool() -> CountingPool {
    let away = AwayPort::bind();
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&away.postgres_url())
        .expect("a lazy pool needs no database");
    CountingPool { pool, away }
}

/// [`common::record`] of an async body.
fn record<T>(
    rt: &tokio::runtime::Runtime,
    recorder: &Recorder,
    dir: &Path,
    body: impl std::future::Future<Output = T>,
) -> (T, Recording) {
    common::record(recorder, dir, || rt.block_on(body))
}

/// [`common::replay`] of an async body.
fn replay<T>(
    rt: &tokio::runtime::Runtime,
    recorder: &Recorder,
    recording: &Recording,
    body: impl std::future::Future<Output = T>,
) -> T {
    common::replay(recorder, recording, || rt.block_on(body))
}

fn query_names(recording: &Recording) -> Vec<String> {
    recording
        .values()
        .filter(|v| v.kind == ValueKind::Query)
        .map(|v| v.name.clone())
        .collect()
}

/// What a sign-up and a profile page ask of the database.
#[derive(Debug, PartialEq)]
struct Answers {
    inserted: u64,
    me: User,
    nobody: Option<User>,
    listed: Vec<User>,
    count: i64,
    streamed: Vec<String>,
    renamed: u64,
}

async fn sign_up_and_look_around(pool: &PgPool, email: &str) -> Result<Answers, sqlx::Error> {
    let inserted = retrace_sqlx::query("INSERT INTO users (email, password_hash) VALUES ($1, $2)")
        .bind(email)
        .bind(PASSWORD_HASH)
        .execute(pool)
        .await?
        .rows_affected();
    let me: User =
        retrace_sqlx::query_as("SELECT id, email, display_name FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(pool)
            .await?;
    let nobody: Option<User> =
        retrace_sqlx::query_as("SELECT id, email, display_name FROM users WHERE email = $1")
            .bind("nobody@example.com")
            .fetch_optional(pool)
            .await?;
    let listed: Vec<User> =
        retrace_sqlx::query_as("SELECT id, email, display_name FROM users ORDER BY id LIMIT $1")
            .bind(20_i64)
            .fetch_all(pool)
            .await?;
    let count: i64 = retrace_sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await?;
    let streamed: Vec<String> =
        retrace_sqlx::query_scalar("SELECT email FROM users WHERE id <= $1 ORDER BY id")
            .bind(me.id)
            .fetch(pool)
            .try_collect()
            .await?;
    let renamed = retrace_sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
        .bind("Ada")
        .bind(me.id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(Answers {
        inserted,
        me,
        nobody,
        listed,
        count,
        streamed,
        renamed,
    })
}

#[test]
fn every_query_form_replays_without_connecting() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("forms"));
    rt.block_on(
        sqlx::query("INSERT INTO users (email, password_hash) VALUES ('first@example.com', 'x')")
            .execute(&pool),
    )
    .expect("seed");

    let (recorded, recording) = record(
        &rt,
        &recorder,
        dir.path(),
        sign_up_and_look_around(&pool, "ada@example.com"),
    );
    let recorded = recorded.expect("live queries succeed");
    assert_eq!(recorded.inserted, 1);
    assert_eq!(recorded.me.email, "ada@example.com");
    assert_eq!(recorded.nobody, None);
    assert_eq!(recorded.listed.len(), 2);
    assert_eq!(recorded.count, 2);
    assert_eq!(recorded.streamed, ["first@example.com", "ada@example.com"]);
    assert_eq!(recorded.renamed, 1);
    assert_eq!(
        query_names(&recording),
        [
            "sqlx.execute",
            "sqlx.fetch_one",
            "sqlx.fetch_optional",
            "sqlx.fetch_all",
            "sqlx.fetch_one",
            "sqlx.fetch",
            "sqlx.execute"
        ]
    );

    // The database is gone from here on: the pool points at a counting port.
    let offline = rt.block_on(async { counting_pool().await });
    let replayed = replay(
        &rt,
        &recorder,
        &recording,
        sign_up_and_look_around(&offline.pool, "ada@example.com"),
    )
    .expect("replayed queries succeed");
    assert_eq!(replayed, recorded);
    assert_eq!(offline.attempts(), 0, "no connection");
}

#[test]
fn a_password_hash_bound_to_an_insert_never_reaches_disk() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("redaction"));
    let (out, recording) = record(
        &rt,
        &recorder,
        dir.path(),
        sign_up_and_look_around(&pool, "grace@example.com"),
    );
    out.expect("live queries succeed");
    let insert = recording
        .values()
        .find(|v| v.kind == ValueKind::Query)
        .expect("the insert is recorded");
    let key = String::from_utf8_lossy(insert.input.as_deref().expect("a key")).into_owned();
    assert!(key.contains("INSERT INTO users"), "{key}");
    assert!(
        key.contains("grace@example.com"),
        "the email is kept: {key}"
    );
    assert!(!key.contains("argon2id"), "{key}");

    let mut files = 0;
    for file in walk(dir.path()) {
        files += 1;
        let bytes = std::fs::read(&file).expect("readable");
        assert!(
            !bytes
                .windows(16)
                .any(|w| w == &PASSWORD_HASH.as_bytes()[..16]),
            "the hash is in {}",
            file.display()
        );
    }
    assert!(files > 0, "segments were written");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Signs up, or says the email is taken by branching on the database's answer.
async fn sign_up(pool: &PgPool, email: &str) -> Result<&'static str, sqlx::Error> {
    let inserted = retrace_sqlx::query("INSERT INTO users (email, password_hash) VALUES ($1, $2)")
        .bind(email)
        .bind("hash")
        .execute(pool)
        .await;
    match inserted {
        Ok(_) => Ok("created"),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            assert_eq!(e.code().as_deref(), Some("23505"));
            assert_eq!(e.constraint(), Some("users_email_key"));
            assert_eq!(e.table(), Some("users"));
            Ok("taken")
        }
        Err(e) => Err(e),
    }
}

#[test]
fn a_unique_violation_replays_the_same_branch() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("unique"));
    let twice = |pool: PgPool| async move {
        (
            sign_up(&pool, "lin@example.com").await,
            sign_up(&pool, "lin@example.com").await,
        )
    };
    let (recorded, recording) = record(&rt, &recorder, dir.path(), twice(pool));
    assert_eq!(recorded.0.expect("first"), "created");
    assert_eq!(recorded.1.expect("second"), "taken");

    let offline = rt.block_on(counting_pool());
    let replayed = replay(&rt, &recorder, &recording, twice(offline.pool.clone()));
    assert_eq!(replayed.0.expect("first"), "created");
    assert_eq!(replayed.1.expect("second"), "taken");
    assert_eq!(offline.attempts(), 0);

    // A missing row keeps its variant too.
    let missing = |pool: PgPool| async move {
        retrace_sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE email = $1")
            .bind("none@example.com")
            .fetch_one(&pool)
            .await
    };
    let pool = rt.block_on(database("unique_missing"));
    let (live, recording) = record(&rt, &recorder, dir.path(), missing(pool));
    assert!(matches!(live, Err(sqlx::Error::RowNotFound)), "{live:?}");
    let replayed = replay(&rt, &recorder, &recording, missing(offline.pool.clone()));
    assert!(
        matches!(replayed, Err(sqlx::Error::RowNotFound)),
        "{replayed:?}"
    );
}

async fn follow(
    pool: &PgPool,
    follower: i64,
    followed: i64,
    keep: bool,
) -> Result<i64, sqlx::Error> {
    let mut tx = retrace_sqlx::begin(pool).await?;
    retrace_sqlx::query("INSERT INTO follows (follower, followed) VALUES ($1, $2)")
        .bind(follower)
        .bind(followed)
        .execute(&mut tx)
        .await?;
    let count: i64 = retrace_sqlx::query_scalar("SELECT count(*) FROM follows WHERE followed = $1")
        .bind(followed)
        .fetch_one(&mut tx)
        .await?;
    if keep {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(count)
}

/// A handler that runs queries in a transaction is still `Send` (axum requires it).
#[allow(dead_code)]
fn a_transaction_future_is_send(pool: &'static PgPool) {
    fn is_send<T: Send>(_: T) {}
    is_send(follow(pool, 1, 2, true));
}

#[test]
fn transactions_replay_without_a_connection() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("transactions"));
    let flow = |pool: PgPool| async move {
        let kept = follow(&pool, 1, 2, true).await?;
        let undone = follow(&pool, 3, 2, false).await?;
        let after: i64 = retrace_sqlx::query_scalar("SELECT count(*) FROM follows")
            .fetch_one(&pool)
            .await?;
        Ok::<_, sqlx::Error>((kept, undone, after))
    };
    let (recorded, recording) = record(&rt, &recorder, dir.path(), flow(pool));
    assert_eq!(recorded.expect("live"), (1, 2, 1), "the rollback undid one");
    let names = query_names(&recording);
    assert_eq!(names.iter().filter(|n| *n == "sqlx.begin").count(), 2);
    assert_eq!(names.iter().filter(|n| *n == "sqlx.commit").count(), 1);
    assert_eq!(names.iter().filter(|n| *n == "sqlx.rollback").count(), 1);

    let offline = rt.block_on(counting_pool());
    let replayed = replay(&rt, &recorder, &recording, flow(offline.pool.clone()));
    assert_eq!(replayed.expect("replayed"), (1, 2, 1));
    assert_eq!(offline.attempts(), 0);
}

#[test]
fn a_query_the_recording_lacks_names_the_argument_that_differs() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("miss"));
    let lookup = |pool: PgPool, email: &'static str| async move {
        retrace_sqlx::query_as::<_, User>(
            "SELECT id, email, display_name FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&pool)
        .await
    };
    let (_, recording) = record(
        &rt,
        &recorder,
        dir.path(),
        lookup(pool, "alice@example.com"),
    );

    let offline = rt.block_on(counting_pool());
    let miss = sealed(|| {
        replay(
            &rt,
            &recorder,
            &recording,
            lookup(offline.pool.clone(), "bob@example.com"),
        )
    });
    assert_eq!(miss.kind, ValueKind::Query);
    assert_eq!(miss.name, "sqlx.fetch_optional");
    assert!(
        miss.detail
            .contains("argument 1 (email): \"bob@example.com\", recorded \"alice@example.com\""),
        "{miss}"
    );

    let changed = |pool: PgPool| async move {
        retrace_sqlx::query_as::<_, User>(
            "SELECT id, email, display_name FROM users WHERE lower(email) = $1",
        )
        .bind("alice@example.com")
        .fetch_optional(&pool)
        .await
    };
    let miss = sealed(|| replay(&rt, &recorder, &recording, changed(offline.pool.clone())));
    assert!(miss.detail.contains("the SQL differs"), "{miss}");
    assert!(miss.detail.contains("lower(email)"), "{miss}");
    assert_eq!(offline.attempts(), 0);
}

#[test]
fn outside_a_recording_queries_are_plain_sqlx() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("plain"));
    // A recording is open but not current: the queries are not part of it.
    let handle = recorder
        .start(StartOptions::new(RecordReason::Sampled))
        .expect("recording starts");
    let answers = rt
        .block_on(sign_up_and_look_around(&pool, "plain@example.com"))
        .expect("plain queries succeed");
    assert_eq!(answers.count, 1);
    assert_eq!(answers.me.email, "plain@example.com");
    handle.finish(Some(200), Outcome::Completed);
    recorder.flush(Duration::from_secs(10)).expect("flushed");
    let recording = Store::open(dir.path())
        .expect("store opens")
        .get(&handle.id().to_string())
        .expect("recording written");
    assert!(query_names(&recording).is_empty(), "nothing was recorded");
}

#[test]
fn concurrent_recordings_keep_their_own_rows() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("concurrent"));
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let handle = recorder
            .start(StartOptions::new(RecordReason::Sampled))
            .expect("recording starts");
        let pool = pool.clone();
        tasks.push(
            rt.spawn(
                async move {
                    let email = format!("user{i}@example.com");
                    sign_up(&pool, &email).await.expect("signs up");
                    let me: User = retrace_sqlx::query_as(
                        "SELECT id, email, display_name FROM users WHERE email = $1",
                    )
                    .bind(&email)
                    .fetch_one(&pool)
                    .await
                    .expect("finds itself");
                    me
                }
                .with_context(RetraceContext::Recording(handle.clone())),
            ),
        );
        handles.push(handle);
    }
    let users: Vec<User> = rt.block_on(async {
        let mut users = Vec::new();
        for task in tasks {
            users.push(task.await.expect("task"));
        }
        users
    });
    for handle in &handles {
        handle.finish(Some(200), Outcome::Completed);
    }
    recorder.flush(Duration::from_secs(10)).expect("flushed");
    let store = Store::open(dir.path()).expect("store");

    let offline = rt.block_on(counting_pool());
    for (i, (handle, user)) in handles.iter().zip(&users).enumerate() {
        let recording = store.get(&handle.id().to_string()).expect("recorded");
        assert_eq!(query_names(&recording), ["sqlx.execute", "sqlx.fetch_one"]);
        let pool = offline.pool.clone();
        let replayed: User = replay(&rt, &recorder, &recording, async move {
            retrace_sqlx::query_as("SELECT id, email, display_name FROM users WHERE email = $1")
                .bind(format!("user{i}@example.com"))
                .fetch_one(&pool)
                .await
                .expect("replayed")
        });
        assert_eq!(&replayed, user);
    }
    assert_eq!(offline.attempts(), 0);
}

#[test]
fn migrations_and_plain_sqlx_inside_a_recording_are_not_recorded() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (recorder, _guard) = recorder(dir.path());
    let pool = rt.block_on(database("migrations"));
    let migrations = tempfile::tempdir().expect("migrations dir");
    std::fs::write(
        migrations.path().join("0001_tags.sql"),
        "CREATE TABLE tags (name TEXT PRIMARY KEY);",
    )
    .expect("migration written");

    let (counted, recording) = record(&rt, &recorder, dir.path(), async {
        // A service that migrates at start-up inside a recorded request, and a query
        // through sqlx itself: neither is part of the recording.
        let migrator = sqlx::migrate::Migrator::new(migrations.path())
            .await
            .expect("migrations read");
        migrator.run(&pool).await.expect("migrated");
        sqlx::query("INSERT INTO tags (name) VALUES ('replay')")
            .execute(&pool)
            .await
            .expect("plain insert");
        retrace_sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tags")
            .fetch_one(&pool)
            .await
            .expect("recorded count")
    });
    assert_eq!(counted, 1);
    assert_eq!(query_names(&recording), ["sqlx.fetch_one"]);
}
