//! Sealed replay: while a strict replay runs, nothing real happens behind a boundary.
//! A real upstream on 127.0.0.1 counts the requests it gets: a replay of a handler
//! whose spawned task forgot the replay's context makes none, and the escaped call is
//! named in the report.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use retrace_tower::{ClientLayer, ReplayError, replay_recording};
use support::*;
use tower::{Service, ServiceBuilder, ServiceExt};

type Wrapped = retrace_tower::RecordedClient<
    Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
>;

#[derive(Clone)]
struct Shop {
    upstream: String,
    client: Wrapped,
}

async fn get_text(client: &mut Wrapped, url: String) -> Result<String, String> {
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = client
        .ready()
        .await
        .map_err(|e| e.to_string())?
        .call(req)
        .await
        .map_err(|e| e.to_string())?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

/// Reads a rate (within the request's context) and, in a task spawned without the
/// context, reports an audit event.
async fn rates(State(shop): State<Shop>) -> String {
    let mut client = shop.client.clone();
    let rate = get_text(&mut client, format!("{}/rate", shop.upstream))
        .await
        .unwrap_or_else(|e| e);
    let mut audit = shop.client.clone();
    let url = format!("{}/audit", shop.upstream);
    // Forgot `.with_current_context()`.
    let audited = tokio::spawn(async move { get_text(&mut audit, url).await })
        .await
        .unwrap();
    format!("rate {rate}; audit {}", audited.is_ok())
}

fn shop(upstream: String) -> Router {
    let client = ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    Router::new()
        .route("/rates", get(rates))
        .with_state(Shop { upstream, client })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escaped_call_is_refused_and_named_and_nothing_reaches_the_upstream() {
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let upstream = serve(Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            "1.25"
        }
    }))
    .await;
    let base = format!("http://{}", upstream.addr);

    let recorded = record_get(shop(base.clone()), "/rates").await;
    assert_eq!(&recorded.answer.body[..], b"rate 1.25; audit true");
    // Recording: both calls were real.
    assert_eq!(served.load(Ordering::SeqCst), 2);
    let recording = recorded.recording;
    assert_eq!(
        recording.calls().len(),
        1,
        "the escaped call was not recorded"
    );

    // Replay with the upstream still up: nothing reaches it.
    let before = served.load(Ordering::SeqCst);
    let err = replay_recording(&recording, shop(base.clone()))
        .await
        .expect_err("an escaped call is a divergence");
    assert!(matches!(err, ReplayError::Diverged(_)), "{err:?}");
    let report = err.into_report().unwrap();
    assert_eq!(
        served.load(Ordering::SeqCst),
        before,
        "the replay reached the upstream"
    );
    assert_eq!(
        report.calls.escaped,
        [format!("GET {base}/audit from a task without context")]
    );
    assert!(
        report.describe().contains("escaped call (refused): GET"),
        "{}",
        report.describe()
    );
    assert_eq!(report.calls.answered, 1);

    // After the replay, the same kind of client calls for real again.
    let live = shop(base.clone());
    let text = live
        .oneshot(
            http::Request::get("/rates")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(text.status(), 200);
    assert_eq!(served.load(Ordering::SeqCst), before + 2);
}

/// Calls the upstream with a volatile query parameter, as request signing or cache
/// busting does.
async fn stamped(State(shop): State<Shop>) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut client = shop.client.clone();
    get_text(
        &mut client,
        format!("{}/rate?cur=EUR&ts={nanos}", shop.upstream),
    )
    .await
    .unwrap_or_else(|e| e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_key_function_drops_a_volatile_query_parameter() {
    let upstream = serve(Router::new().fallback(|| async { "1.25" })).await;
    let base = format!("http://{}", upstream.addr);
    let app = |base: String| {
        let client = ServiceBuilder::new()
            .layer(ClientLayer::new())
            .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
        Router::new()
            .route("/stamped", get(stamped))
            .with_state(Shop {
                upstream: base,
                client,
            })
    };
    let recording = record_get(app(base.clone()), "/stamped").await.recording;

    // By default the stamp is part of the key: no recorded call matches, and the error
    // says the query differs.
    let report = replay_recording(&recording, app(base.clone()))
        .await
        .expect_err("the stamp differs")
        .into_report()
        .unwrap();
    let unmatched = report.calls.unmatched[0].to_string();
    assert!(unmatched.contains("query \"cur=EUR&ts="), "{unmatched}");

    // Without it, the call is answered.
    let report = retrace_tower::Replay::new()
        .call_key(|key| key.query.retain(|p| !p.starts_with("ts=")))
        .run(&recording, app(base))
        .await
        .unwrap();
    assert!(report.is_identical(), "{}", report.describe());
    assert_eq!(report.calls.answered, 1);
}
