//! The regression harness: recordings replayed as a test suite, failing with a
//! per-recording diff, and an accept mode that stores new expectations.

mod support;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use retrace_tower::{RecordLayer, Regression, RegressionError};
use serde_json::json;
use support::*;

fn app(greeting: &'static str) -> Router {
    Router::new().route(
        "/greet/{name}",
        get(move |Path(name): Path<String>| async move {
            axum::Json(json!({ "greeting": format!("{greeting}, {name}"), "length": name.len() }))
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_become_a_suite_with_an_accept_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let server = serve(app("hello").layer(RecordLayer::new(rec))).await;
    let c = client();
    for name in ["ada", "grace", "linus"] {
        send(
            &c,
            get_req(&server.url(&format!("/greet/{name}")))
                .body(empty())
                .unwrap(),
        )
        .await;
    }
    drop(server);
    guard.shutdown().unwrap();

    let suite = Regression::new(dir.path()).accept(false);
    let passed = suite.run(|| async { app("hello") }).await.unwrap();
    assert_eq!((passed.checked, passed.accepted), (3, 0));

    let err = suite.run(|| async { app("hi") }).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("3 of 3 recordings changed (run with RETRACE_ACCEPT=1 to accept):"),
        "{text}"
    );
    assert!(
        text.contains(r#"body $.greeting: "hello, grace" -> "hi, grace""#),
        "{text}"
    );
    assert!(matches!(err, RegressionError::Changed { checked: 3, .. }));

    // The change was intended: accept it; the new answers become the expectations.
    let accepted = suite
        .clone()
        .accept(true)
        .run(|| async { app("hi") })
        .await
        .unwrap();
    assert_eq!(accepted.accepted, 3);
    assert_eq!(
        std::fs::read_dir(dir.path().join("expectations"))
            .unwrap()
            .count(),
        3
    );
    suite.run(|| async { app("hi") }).await.unwrap();
    let err = suite.run(|| async { app("hello") }).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"body $.greeting: "hi, ada" -> "hello, ada""#),
        "{err}"
    );
}
