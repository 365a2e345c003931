//! Boundaries: a serializable service wrapped in `BoundaryLayer`, `retrace::random()` and
//! `retrace::boundary()` are recorded through a real server and answered from the
//! recording in replay, without running the real thing.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use retrace::Store;
use retrace_tower::{Boundary, BoundaryLayer, RecordLayer, replay_recording};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::*;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt, service_fn};

#[derive(Serialize, Deserialize, Debug, Clone)]
struct GetOrder(u32);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Order {
    id: u32,
    version: u64,
}

type Db = Boundary<BoxCloneSyncService<GetOrder, Order, std::io::Error>>;

#[derive(Clone)]
struct App {
    db: Db,
    db_calls: Arc<AtomicU64>,
    fx_calls: Arc<AtomicU64>,
}

fn app_state() -> App {
    let db_calls = Arc::new(AtomicU64::new(0));
    let calls = db_calls.clone();
    // A database whose answers change with every call: only a recording can reproduce it.
    let db = service_fn(move |GetOrder(id): GetOrder| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if id == 404 {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("order {id} not found"),
                ))
            } else {
                Ok(Order {
                    id,
                    version: n * 7 + 1,
                })
            }
        }
    });
    App {
        db: BoundaryLayer::new("db.orders").layer(BoxCloneSyncService::new(db)),
        db_calls,
        fx_calls: Arc::new(AtomicU64::new(0)),
    }
}

async fn handler(State(app): State<App>, Path(id): Path<u32>) -> (http::StatusCode, String) {
    let nonce: u64 = retrace::random();
    let fx_calls = app.fx_calls.clone();
    let rate: f64 = retrace::boundary("fx.rate", &"EUR", || {
        fx_calls.fetch_add(1, Ordering::SeqCst) as f64 + 1.1
    });
    match app.db.clone().oneshot(GetOrder(id)).await {
        Ok(order) => (
            http::StatusCode::OK,
            json!({ "order": order.id, "version": order.version, "nonce": nonce, "rate": rate })
                .to_string(),
        ),
        Err(e) => (http::StatusCode::NOT_FOUND, e.to_string()),
    }
}

fn app(state: App) -> Router {
    Router::new()
        .route("/orders/{id}", get(handler))
        .with_state(state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boundaries_random_and_named_values_replay_without_running() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let live = app_state();
    let server = serve(app(live.clone()).layer(RecordLayer::new(rec))).await;
    let c = client();
    for path in ["/orders/1", "/orders/2", "/orders/404"] {
        send(&c, get_req(&server.url(path)).body(empty()).unwrap()).await;
    }
    drop(server);
    guard.shutdown().unwrap();
    assert_eq!(live.db_calls.load(Ordering::SeqCst), 3);

    let store = Store::open(dir.path()).unwrap();
    let replay_state = app_state();
    let mut statuses = Vec::new();
    for recording in store.recordings() {
        let recording = recording.unwrap();
        assert_eq!(
            recording.values().count(),
            3,
            "random, fx.rate and db.orders"
        );
        let report = replay_recording(&recording, app(replay_state.clone()))
            .await
            .unwrap();
        assert!(report.is_identical(), "{}", report.describe());
        assert!(report.calls.missing_values.is_empty());
        statuses.push(report.response.status);
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 404]);
    // Nothing real ran during replay.
    assert_eq!(replay_state.db_calls.load(Ordering::SeqCst), 0);
    assert_eq!(replay_state.fx_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_context_boundaries_are_plain_calls() {
    let state = app_state();
    let order = state.db.clone().oneshot(GetOrder(5)).await.unwrap();
    assert_eq!(order, Order { id: 5, version: 1 });
    let v: f64 = retrace::boundary("fx.rate", &"EUR", || 2.5);
    assert_eq!(v, 2.5);
    assert!(retrace::now() > std::time::UNIX_EPOCH);
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Login {
    email: String,
    password: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Session {
    user: String,
    session_token: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boundary_inputs_and_values_are_redacted_with_the_recorders_rules() {
    let calls = Arc::new(AtomicU64::new(0));
    let live_calls = calls.clone();
    let login = move || {
        let calls = live_calls.clone();
        async move {
            let login = Login {
                email: "ada@example.com".into(),
                password: "pw-BOUNDARY-1".into(),
            };
            let session: Session = retrace::boundary("auth.login", &login, || {
                calls.fetch_add(1, Ordering::SeqCst);
                Session {
                    user: "ada".into(),
                    session_token: "tok-BOUNDARY-2".into(),
                }
            });
            json!({ "user": session.user, "token_len": session.session_token.len() }).to_string()
        }
    };
    let recorded = record_get(Router::new().route("/login", get(login.clone())), "/login").await;
    assert_eq!(recorded.answer.status, 200);
    let everything = decompressed_store(recorded.dir.path());
    for secret in ["pw-BOUNDARY-1", "tok-BOUNDARY-2"] {
        assert!(
            !contains(&everything, secret.as_bytes()),
            "{secret} reached disk"
        );
    }
    assert!(
        contains(&everything, b"ada@example.com"),
        "the input was recorded"
    );

    // Replay redacts the live input the same way, so the recorded value is found (the
    // handler is not run for real); the value comes back redacted, as recorded.
    let report = replay_recording(
        &recorded.recording,
        Router::new().route("/login", get(login)),
    )
    .await
    .or_else(retrace_tower::ReplayError::into_report)
    .unwrap();
    assert!(
        report.calls.missing_values.is_empty(),
        "{}",
        report.describe()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not run again in replay");
    assert_eq!(
        report.response.body,
        json!({ "user": "ada", "token_len": "[redacted]".len() }).to_string()
    );
}

/// A handler whose boundary input carries a version the test changes between
/// recording and replay, and counts the real calls.
fn versioned_app(version: u32, real_calls: Arc<AtomicU64>) -> Router {
    Router::new().route(
        "/price",
        get(move || {
            let real_calls = real_calls.clone();
            async move {
                let input = format!("sku-1/v{version}");
                let price: u32 = retrace::boundary("pricing", &input, || {
                    real_calls.fetch_add(1, Ordering::SeqCst);
                    42
                });
                price.to_string()
            }
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boundary_answers_only_its_own_input_and_strict_replay_is_sealed() {
    let recorded = record_get(versioned_app(1, Arc::new(AtomicU64::new(0))), "/price").await;
    let recording = recorded.recording;

    // Same input: answered from the recording.
    let calls = Arc::new(AtomicU64::new(0));
    let report = replay_recording(&recording, versioned_app(1, calls.clone()))
        .await
        .unwrap();
    assert!(report.is_identical(), "{}", report.describe());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Another input: strict replay (the default) stops, naming the boundary, and the
    // real call is not made.
    let err = replay_recording(&recording, versioned_app(2, calls.clone()))
        .await
        .expect_err("sealed");
    assert!(
        matches!(err, retrace_tower::ReplayError::Sealed { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("no recorded Boundary value \"pricing\" for this input"),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing real ran");

    // Lenient replay makes the real call, and the report says why it is no match.
    let lenient = retrace_tower::Replay::new().options(retrace::replay::ReplayOptions {
        strict: false,
        ..Default::default()
    });
    let report = lenient
        .run(&recording, versioned_app(2, calls.clone()))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        report.calls.missing_values,
        ["Boundary pricing: recorded only with another input"]
    );
    assert!(!report.is_identical(), "a gap is never identical");
}
