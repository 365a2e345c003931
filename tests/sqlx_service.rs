//! The PostgreSQL example, end to end: 200 mixed requests and three users' flows (45
//! requests through compression and CORS) recorded at 100%, against a real PostgreSQL (started by `scripts/postgres`) and a real
//! moderation service; then both are stopped and every recording is replayed
//! in-process with the pool and the moderation client pointed at ports that count
//! connection attempts. Every replay must be identical, with no attempt; a log-in
//! query whose SQL changed must fail naming it.

extern crate reqwest012 as reqwest;
extern crate reqwest_middleware04 as reqwest_middleware;

#[path = "../examples/sqlx_service/app.rs"]
mod app;
#[path = "../examples/sqlx_service/serve.rs"]
mod serve;
#[path = "../examples/sqlx_service/traffic.rs"]
mod traffic;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use retrace::{Config, Recorder, Store, ValueKind};
use retrace_test_services::AwayPort;
use retrace_tower::{RecordLayer, ReplayError};
use serve::{http_client, moderation, pool_with_schema, public, serve};
use sqlx::postgres::PgPoolOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_requests_replay_identically_with_postgres_stopped() {
    let url = retrace_test_services::fresh_database("sqlx_service");
    let pool = pool_with_schema(url.parse().expect("a PostgreSQL URL"))
        .await
        .expect("connects, tables made");

    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::builder()
        .enabled(true)
        .service("blog")
        .sample_rate(1.0)
        .recording_path(dir.path())
        .build()
        .expect("config");
    let (recorder, guard) = Recorder::new(config).expect("recorder");

    let moderated = Arc::new(AtomicUsize::new(0));
    let (moderation_url, stop_moderation) = serve(moderation(moderated.clone()))
        .await
        .expect("the moderation service");
    let settings = app::Settings {
        jwt_secret: b"a test key of thirty-two bytes!!".to_vec(),
        moderation_url,
        case_insensitive_login: false,
    };
    let live = app::AppState::new(pool.clone(), http_client(), settings.clone());
    let (blog_url, stop_blog) = serve(public(
        app::router(live).layer(RecordLayer::new(recorder.clone())),
    ))
    .await
    .expect("the service");

    let summary = traffic::drive(&blog_url, 200, 16, "t").await;
    assert_eq!(summary.total(), 200, "{summary:?}");
    for status in [200, 201, 401, 404, 409, 422] {
        assert!(
            summary.statuses.contains_key(&status),
            "the mix has a {status}: {summary:?}"
        );
    }
    assert!(moderated.load(Ordering::SeqCst) > 0);
    // Three users' flows through compression and CORS: every step succeeds.
    let flows = traffic::user_flows(&blog_url, 3, "t").await;
    assert_eq!(flows.total(), 45, "{flows:?}");
    assert!(
        flows.statuses.keys().all(|s| (200..300).contains(s)),
        "{flows:?}"
    );

    // Everything real goes away.
    let _ = stop_blog.send(());
    let _ = stop_moderation.send(());
    pool.close().await;
    tokio::task::block_in_place(|| recorder.wait_settled(Duration::from_secs(10)))
        .expect("every recording ended");
    let stats = guard.shutdown().expect("shut down");
    assert_eq!(stats.written, 245, "every request recorded: {stats:?}");
    assert_eq!(stats.dropped_total(), 0);
    tokio::task::spawn_blocking(retrace_test_services::stop_and_wait)
        .await
        .expect("PostgreSQL stopped");

    let database = AwayPort::bind();
    let upstream = AwayPort::bind();
    let offline_pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&database.postgres_url())
        .expect("lazy pool");
    let offline_settings = app::Settings {
        moderation_url: upstream.http_url(),
        ..settings
    };
    let offline = app::AppState::new(
        offline_pool.clone(),
        http_client(),
        offline_settings.clone(),
    );

    let store = Store::open(dir.path()).expect("store");
    let recordings = store.list().recordings;
    assert_eq!(recordings.len(), 245);
    let mut queries = 0;
    let mut calls = 0;
    let mut login = None;
    for info in &recordings {
        let recording = store.load(info).expect("loads");
        queries += recording
            .values()
            .filter(|v| v.kind == ValueKind::Query)
            .count();
        let report = retrace_tower::replay_recording(&recording, app::router(offline.clone()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.is_identical(), "{}", report.describe());
        calls += report.calls.answered;
        let head = recording.request().expect("a request");
        if head.uri == "/users/login" && report.response.status == 200 {
            login = Some(recording);
        }
    }
    assert!(queries > 300, "the recordings hold the queries: {queries}");
    assert!(
        calls > 0,
        "moderation calls were answered from the recordings"
    );
    assert_eq!(database.attempts(), 0, "no database connection");
    assert_eq!(upstream.attempts(), 0, "no moderation call");

    // One query's SQL changed: its replay fails, naming the query.
    let changed = app::AppState::new(
        offline_pool,
        http_client(),
        app::Settings {
            case_insensitive_login: true,
            ..offline_settings
        },
    );
    let login = login.expect("a successful log-in was recorded");
    let error = retrace_tower::replay_recording(&login, app::router(changed))
        .await
        .expect_err("the changed query is not in the recording");
    let ReplayError::Sealed { source, .. } = &error else {
        panic!("a sealed replay error, not {error}");
    };
    assert_eq!(source.kind, ValueKind::Query);
    assert_eq!(source.name, "sqlx.fetch_optional");
    let text = error.to_string();
    assert!(text.contains("the SQL differs"), "{text}");
    assert!(text.contains("lower(email) = lower($1)"), "{text}");
    assert!(
        text.contains("SELECT id, username, password_hash FROM users WHERE email = $1"),
        "names the recorded query: {text}"
    );
    assert_eq!(database.attempts(), 0);
}
