//! Criterion benchmarks of retrace-sqlx against a real PostgreSQL (started by
//! `scripts/postgres` on first use), arms side by side in one process:
//!
//! - `fetch_all_20/{plain,retrace_off,recording}`: `SELECT` of 20 rows of 5 columns
//!   into a struct, with sqlx's `query_as`, with retrace-sqlx's outside a recording,
//!   and inside one (each iteration starts a recording, runs the query, finishes it:
//!   the rows are encoded through the recorder's redaction and handed to the writer).
//! - `closed_pool/{plain,retrace_off}`: the same query on a closed pool, which fails
//!   without I/O: the difference is what retrace-sqlx adds to a query when no
//!   recording is current (goal: under 50 ns). `closed_pool/execute_{plain,retrace_off}`
//!   is the same for `execute`, where both arms take the very same path through sqlx.
//! - `replay/20_queries`: a recorded request of 20 queries (an `execute`, a
//!   `fetch_all` of 20 rows, 18 `fetch_one`s) answered from its recording, no
//!   database; the rate is 20 / time (goal: at least 50k queries/s).
//!
//! Run: `cargo bench -p retrace-sqlx --bench queries`. Timings of the closed-pool
//! arms drift by more than their difference on a shared VM; their instruction counts
//! do not:
//!
//! ```text
//! cargo bench -p retrace-sqlx --bench queries --no-run   # prints the executable
//! RETRACE_PROBE=execute_retrace_off valgrind --tool=callgrind target/release/deps/queries-<hash>
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use retrace::context::{FutureExt, RetraceContext};
use retrace::replay::{ReplayOptions, ReplaySession};
use retrace::{Config, Outcome, RecordReason, Recorder, Redaction, StartOptions, Store};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::runtime::Runtime;

#[derive(Debug, sqlx::FromRow, Serialize, Deserialize)]
struct Article {
    id: i64,
    slug: String,
    title: String,
    author: String,
    favourites: i64,
}

const TWENTY: &str =
    "SELECT id, slug, title, author, favourites FROM articles ORDER BY id LIMIT $1";

async fn database() -> PgPool {
    let url = retrace_test_services::fresh_database("bench");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connects");
    sqlx::query(
        "CREATE TABLE articles (id BIGSERIAL PRIMARY KEY, slug TEXT NOT NULL, \
         title TEXT NOT NULL, author TEXT NOT NULL, favourites BIGINT NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("schema");
    sqlx::query(
        "INSERT INTO articles (slug, title, author, favourites) \
         SELECT 'article-' || n, 'Notes on replay, part ' || n, 'writer' || (n % 7), n * 3 \
         FROM generate_series(1, 100) AS n",
    )
    .execute(&pool)
    .await
    .expect("rows");
    pool
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn queries(c: &mut Criterion) {
    let rt = runtime();
    let pool = rt.block_on(database());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::builder()
        .enabled(true)
        .service("bench")
        .recording_path(dir.path())
        .redaction(Redaction::default())
        .build()
        .expect("config");
    let (recorder, _guard) = Recorder::new(config).expect("recorder");

    let mut group = c.benchmark_group("fetch_all_20");
    group.bench_function("plain", |b| {
        b.iter(|| {
            rt.block_on(async {
                let rows: Vec<Article> = sqlx::query_as(TWENTY)
                    .bind(20_i64)
                    .fetch_all(&pool)
                    .await
                    .expect("rows");
                black_box(rows)
            })
        })
    });
    group.bench_function("retrace_off", |b| {
        b.iter(|| {
            rt.block_on(async {
                let rows: Vec<Article> = retrace_sqlx::query_as(TWENTY)
                    .bind(20_i64)
                    .fetch_all(&pool)
                    .await
                    .expect("rows");
                black_box(rows)
            })
        })
    });
    group.bench_function("recording", |b| {
        b.iter(|| {
            let handle = recorder
                .start(StartOptions::new(RecordReason::Sampled))
                .expect("recording starts");
            let rows = rt.block_on(
                async {
                    let rows: Vec<Article> = retrace_sqlx::query_as(TWENTY)
                        .bind(20_i64)
                        .fetch_all(&pool)
                        .await
                        .expect("rows");
                    rows
                }
                .with_context(RetraceContext::Recording(handle.clone())),
            );
            handle.finish(Some(200), Outcome::Completed);
            black_box(rows)
        })
    });
    group.finish();

    let closed = rt.block_on(closed_pool());
    let mut group = c.benchmark_group("closed_pool");
    for (arm, run) in CLOSED_ARMS {
        group.bench_function(*arm, |b| b.iter(|| black_box(rt.block_on(run(&closed)))));
    }
    group.finish();

    // A request of 20 queries, recorded once, replayed with the database away.
    let request = |pool: PgPool| async move {
        retrace_sqlx::query("UPDATE articles SET favourites = favourites + 1 WHERE id = $1")
            .bind(1_i64)
            .execute(&pool)
            .await
            .expect("update");
        let rows: Vec<Article> = retrace_sqlx::query_as(TWENTY)
            .bind(20_i64)
            .fetch_all(&pool)
            .await
            .expect("rows");
        for id in 2..20_i64 {
            let one: Article = retrace_sqlx::query_as(
                "SELECT id, slug, title, author, favourites FROM articles WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
            black_box(one);
        }
        rows.len()
    };
    let handle = recorder
        .start(StartOptions::new(RecordReason::Sampled))
        .expect("recording starts");
    rt.block_on(request(pool.clone()).with_context(RetraceContext::Recording(handle.clone())));
    handle.finish(Some(200), Outcome::Completed);
    recorder.flush(Duration::from_secs(10)).expect("flushed");
    let recording = Store::open(dir.path())
        .expect("store")
        .get(&handle.id().to_string())
        .expect("recorded");
    let redaction = recorder.redaction().expect("on").clone();
    let offline = rt.block_on(async {
        PgPoolOptions::new()
            .connect_lazy("postgres://app@127.0.0.1:9/app")
            .expect("lazy pool")
    });
    let mut group = c.benchmark_group("replay");
    group.bench_function("20_queries", |b| {
        b.iter(|| {
            let session =
                ReplaySession::new(&recording, ReplayOptions::default(), redaction.clone());
            let n =
                rt.block_on(request(offline.clone()).with_context(RetraceContext::Replay(session)));
            black_box(n)
        })
    });
    group.finish();
}

/// A pool that is closed: a query on it fails at once, without I/O, so what remains
/// is the query's own cost.
async fn closed_pool() -> PgPool {
    let closed = PgPoolOptions::new()
        .connect_lazy("postgres://app@127.0.0.1:9/app")
        .expect("lazy pool");
    closed.close().await;
    closed
}

const UPDATE: &str = "UPDATE articles SET favourites = favourites + 1 WHERE id = $1";

type ClosedArm = for<'p> fn(&'p PgPool) -> futures_util::future::BoxFuture<'p, bool>;

/// The closed-pool arms, by name: each runs one query and says whether it failed.
const CLOSED_ARMS: &[(&str, ClosedArm)] = &[
    ("plain", |pool| {
        Box::pin(async move {
            let rows: Result<Vec<Article>, _> = sqlx::query_as(black_box(TWENTY))
                .bind(20_i64)
                .fetch_all(pool)
                .await;
            rows.is_err()
        })
    }),
    ("retrace_off", |pool| {
        Box::pin(async move {
            let rows: Result<Vec<Article>, _> = retrace_sqlx::query_as(black_box(TWENTY))
                .bind(20_i64)
                .fetch_all(pool)
                .await;
            rows.is_err()
        })
    }),
    ("execute_plain", |pool| {
        Box::pin(async move {
            let done = sqlx::query(black_box(UPDATE))
                .bind(1_i64)
                .execute(pool)
                .await;
            done.is_err()
        })
    }),
    ("execute_retrace_off", |pool| {
        Box::pin(async move {
            let done = retrace_sqlx::query(black_box(UPDATE))
                .bind(1_i64)
                .execute(pool)
                .await;
            done.is_err()
        })
    }),
];

/// `RETRACE_PROBE=<closed-pool arm>`: runs that arm `RETRACE_PROBE_QUERIES` times
/// (default 20,000) and nothing else, for callgrind (no PostgreSQL needed):
/// the difference of two arms' totals over the count is what retrace-sqlx adds.
fn probe(arm: &str) {
    let count: usize = std::env::var("RETRACE_PROBE_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let Some((_, run)) = CLOSED_ARMS.iter().find(|(name, _)| *name == arm) else {
        panic!("RETRACE_PROBE must name a closed-pool arm, not {arm:?}");
    };
    let rt = runtime();
    let closed = rt.block_on(closed_pool());
    for _ in 0..count {
        assert!(rt.block_on(run(&closed)), "a query on a closed pool fails");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = queries
}
fn main() {
    if let Ok(arm) = std::env::var("RETRACE_PROBE") {
        return probe(&arm);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
