//! In-process replay against real recordings: record through a real axum server whose
//! handler calls a real upstream over 127.0.0.1, stop the upstream, replay offline.

mod support;

use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use retrace::diff::Change;
use retrace::{RecordReason, Recording, Store};
use retrace_tower::{ClientLayer, RecordLayer, RecordedClient, replay_recording};
use serde_json::{Value, json};
use support::*;
use tower::{Layer, ServiceExt};

type Upstream = RecordedClient<HyperClient<HttpConnector, Full<Bytes>>>;

#[derive(Clone)]
struct Shop {
    upstream: Upstream,
    base: String,
    /// A changed release: prices one higher, and an extra lookup.
    changed: bool,
}

impl Shop {
    fn new(base: String, changed: bool) -> Self {
        let http = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        Self {
            upstream: ClientLayer::new().layer(http),
            base,
            changed,
        }
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let req = http::Request::get(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = self
            .upstream
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| e.to_string())?;
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}

async fn quote(
    State(shop): State<Shop>,
    Path(sku): Path<String>,
) -> Result<axum::Json<Value>, (http::StatusCode, String)> {
    let bad_gateway = |e: String| (http::StatusCode::BAD_GATEWAY, e);
    let stock = shop
        .get(&format!("/stock/{sku}"))
        .await
        .map_err(bad_gateway)?;
    if shop.changed {
        shop.get("/stock/extra").await.map_err(bad_gateway)?;
    }
    let now_us = retrace::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let bump = if shop.changed { 1.0 } else { 0.0 };
    Ok(axum::Json(json!({
        "sku": sku,
        "price": stock["price"].as_f64().unwrap_or(0.0) + bump,
        "available": stock["available"],
        "now_us": now_us,
    })))
}

/// Three lookups at once; the upstream answers them in reverse order of asking.
async fn basket(State(shop): State<Shop>) -> axum::Json<Value> {
    let (a, b, c) = tokio::join!(
        shop.get("/stock/slow"),
        shop.get("/stock/medium"),
        shop.get("/stock/fast")
    );
    axum::Json(json!([
        a.unwrap_or_default()["sku"],
        b.unwrap_or_default()["sku"],
        c.unwrap_or_default()["sku"]
    ]))
}

fn shop_app(shop: Shop) -> Router {
    Router::new()
        .route("/quote/{sku}", get(quote))
        .route("/basket", get(basket))
        .with_state(shop)
}

fn inventory() -> Router {
    Router::new().route(
        "/stock/{sku}",
        get(|Path(sku): Path<String>| async move {
            let delay = match sku.as_str() {
                "slow" => 120,
                "medium" => 60,
                _ => 0,
            };
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let n: u32 = sku.bytes().map(u32::from).sum();
            axum::Json(json!({ "sku": sku, "available": n % 17, "price": f64::from(n % 50) + 0.5 }))
        }),
    )
}

/// Records `paths` through the shop against a live upstream, then stops the upstream.
async fn record(paths: &[&str]) -> (tempfile::TempDir, Vec<Recording>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let upstream = serve(inventory()).await;
    let base = format!("http://{}", upstream.addr);
    let shop =
        serve(shop_app(Shop::new(base.clone(), false)).layer(RecordLayer::new(rec.clone()))).await;
    let c = client();
    for p in paths {
        let answer = send(&c, get_req(&shop.url(p)).body(empty()).unwrap()).await;
        assert_eq!(answer.status, 200, "{p}: {:?}", answer.body);
    }
    drop(shop);
    drop(upstream);
    settled(&rec).await;
    guard.shutdown().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut recordings: Vec<Recording> = store.recordings().map(Result::unwrap).collect();
    recordings.sort_by_key(|r| r.id);
    (dir, recordings, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_offline_is_byte_identical_and_now_is_the_recorded_instant() {
    let (_dir, recordings, base) = record(&["/quote/apple", "/quote/pear", "/quote/fig"]).await;
    assert_eq!(recordings.len(), 3);
    for recording in &recordings {
        // The upstream is gone: every call must come from the recording.
        let report = replay_recording(recording, shop_app(Shop::new(base.clone(), false)))
            .await
            .unwrap();
        assert!(report.is_identical(), "{}", report.describe());
        assert_eq!(
            report.response.body,
            recording.response_body(),
            "byte-identical"
        );
        assert_eq!(report.calls.answered, 1);
        let recorded_clock: u64 =
            postcard::from_bytes(&recording.values().next().unwrap().value).unwrap();
        let body: Value = serde_json::from_slice(&report.response.body).unwrap();
        assert_eq!(body["now_us"], recorded_clock);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_handler_is_reported_by_json_path_with_both_values() {
    let (_dir, recordings, base) = record(&["/quote/apple"]).await;
    let lenient = retrace_tower::Replay::new().options(retrace::replay::ReplayOptions {
        strict: false,
        ..Default::default()
    });
    // The changed release also makes an extra call; lenient replay lets it through
    // (and fails it, since the upstream is gone), so look at the price with a version
    // that only bumps the price.
    let mut shop = Shop::new(base.clone(), true);
    shop.changed = true;
    let report = lenient.run(&recordings[0], shop_app(shop)).await.unwrap();
    assert!(!report.is_identical());
    assert_eq!(
        report.response.status, 502,
        "the extra call failed: the upstream is gone"
    );

    let price_only = Router::new()
        .route(
            "/quote/{sku}",
            get(
                |State(shop): State<Shop>, Path(sku): Path<String>| async move {
                    let stock = shop.get(&format!("/stock/{sku}")).await.unwrap();
                    let now_us = retrace::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_micros() as u64;
                    axum::Json(json!({
                        "sku": sku,
                        "price": stock["price"].as_f64().unwrap() + 1.0,
                        "available": stock["available"],
                        "now_us": now_us,
                    }))
                },
            ),
        )
        .with_state(Shop::new(base, false));
    let report = replay_recording(&recordings[0], price_only)
        .await
        .or_else(retrace_tower::ReplayError::into_report)
        .unwrap();
    let recorded: Value = serde_json::from_slice(&recordings[0].response_body()).unwrap();
    let old = recorded["price"].as_f64().unwrap();
    assert_eq!(report.diff.changes.len(), 1, "{}", report.diff);
    match &report.diff.changes[0] {
        Change::Json {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, "$.price");
            assert_eq!(expected.as_ref().and_then(Value::as_f64), Some(old));
            assert_eq!(actual.as_ref().and_then(Value::as_f64), Some(old + 1.0));
        }
        other => panic!("unexpected change {other:?}"),
    }
    assert!(
        report
            .describe()
            .contains(&format!("body $.price: {old} -> {}", old + 1.0)),
        "{}",
        report.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_replay_to_the_right_answers_whatever_order_they_finish_in() {
    let (_dir, recordings, base) = record(&["/basket"]).await;
    let recording = &recordings[0];
    assert_eq!(recording.calls().len(), 3);
    assert_eq!(
        serde_json::from_slice::<Value>(&recording.response_body()).unwrap(),
        json!(["slow", "medium", "fast"])
    );
    let report = replay_recording(recording, shop_app(Shop::new(base, false)))
        .await
        .unwrap();
    assert!(report.is_identical(), "{}", report.describe());
    assert_eq!(report.calls.answered, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_replay_fails_an_extra_call_naming_it_and_no_used_candidate() {
    let (_dir, recordings, base) = record(&["/quote/plum"]).await;
    // Strict replay that diverged is an error a test can `?` on, carrying the report.
    let err = replay_recording(&recordings[0], shop_app(Shop::new(base.clone(), true)))
        .await
        .expect_err("an unmatched call fails strict replay");
    assert!(
        err.to_string()
            .contains("unmatched call: no recorded call matches GET"),
        "{err}"
    );
    let report = err.into_report().unwrap();
    assert_eq!(report.response.status, 502);
    assert_eq!(report.calls.unmatched.len(), 1);
    assert_eq!(
        report.calls.unmatched[0].to_string(),
        format!("no recorded call matches GET {base}/stock/extra; every recorded call is used")
    );
    assert!(
        String::from_utf8_lossy(&report.response.body).contains("no recorded call matches GET"),
        "the handler saw the error"
    );
    assert!(!report.is_identical());
    // As a line of a replay report (what `retrace view --report` shows): different,
    // with the unmatched call named and the answer the handler gave.
    let entry = report.entry();
    assert_eq!(entry.verdict, retrace::replay::Verdict::Different);
    assert_eq!(
        entry.unmatched_calls,
        [report.calls.unmatched[0].to_string()]
    );
    let answer = entry.answer.expect("the replayed answer");
    assert_eq!(answer.status, 502);
    assert!(
        answer
            .body_text
            .is_some_and(|b| b.contains("no recorded call matches GET"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_record_one_flow_under_one_trace_and_both_replay() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let (rec_a, guard_a) = recorder(config(dir_a.path()).service("front"));
    let (rec_b, guard_b) = recorder(config(dir_b.path()).service("inventory"));
    // B records only what its caller recorded (no sampling, no trigger of its own).
    let inventory_b = serve(inventory().layer(RecordLayer::new(rec_b.clone()))).await;
    let base = format!("http://{}", inventory_b.addr);
    let front =
        serve(shop_app(Shop::new(base.clone(), false)).layer(RecordLayer::new(rec_a.clone())))
            .await;
    let c = client();
    let answer = send(
        &c,
        get_req(&front.url("/quote/kiwi"))
            .header("x-retrace-record", "1")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    // Not triggered: neither service records.
    send(
        &c,
        get_req(&front.url("/quote/lime")).body(empty()).unwrap(),
    )
    .await;
    drop(front);
    drop(inventory_b);
    settled(&rec_a).await;
    settled(&rec_b).await;
    guard_a.shutdown().unwrap();
    guard_b.shutdown().unwrap();

    let a: Vec<Recording> = Store::open(dir_a.path())
        .unwrap()
        .recordings()
        .map(Result::unwrap)
        .collect();
    let b: Vec<Recording> = Store::open(dir_b.path())
        .unwrap()
        .recordings()
        .map(Result::unwrap)
        .collect();
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].end().unwrap().reason, RecordReason::Header);
    assert_eq!(b[0].end().unwrap().reason, RecordReason::Parent);
    assert_eq!(
        a[0].summary.trace_id, b[0].summary.trace_id,
        "one flow, one trace"
    );
    assert!(a[0].summary.trace_id.is_some());

    let report_a = replay_recording(&a[0], shop_app(Shop::new(base, false)))
        .await
        .unwrap();
    assert!(report_a.is_identical(), "{}", report_a.describe());
    let report_b = replay_recording(&b[0], inventory()).await.unwrap();
    assert!(report_b.is_identical(), "{}", report_b.describe());
}

/// Signs in at an upstream auth service: the outgoing call carries a JSON password and
/// its answer a JSON access token.
async fn sign_in(State(shop): State<Shop>, Path(user): Path<String>) -> axum::Json<Value> {
    let body = json!({ "user": user, "password": format!("pw-SECRET-{user}") }).to_string();
    let req = http::Request::post(format!("{}/token", shop.base))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = shop.upstream.clone().oneshot(req).await.unwrap();
    let token: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    axum::Json(json!({ "user": user, "signed_in": token["access_token"].is_string() }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_in_outgoing_call_bodies_never_reach_disk_and_the_call_still_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let auth = serve(Router::new().route(
        "/token",
        axum::routing::post(|axum::Json(login): axum::Json<Value>| async move {
            use axum::response::IntoResponse;
            let user = login["user"].as_str().unwrap_or("").to_owned();
            let token = json!({ "access_token": format!("tok-SECRET-{user}"), "expires_in": 3600 });
            // One answer is labelled JSON, the other is JSON sent as text/plain.
            if user == "ada" {
                axum::Json(token).into_response()
            } else {
                (
                    [(http::header::CONTENT_TYPE, "text/plain")],
                    token.to_string(),
                )
                    .into_response()
            }
        }),
    ))
    .await;
    let base = format!("http://{}", auth.addr);
    let app = |base: String| {
        Router::new()
            .route("/sign-in/{user}", axum::routing::post(sign_in))
            .with_state(Shop::new(base, false))
    };
    let shop = serve(app(base.clone()).layer(RecordLayer::new(rec.clone()))).await;
    let c = client();
    for user in ["ada", "alan"] {
        let req = http::Request::post(shop.url(&format!("/sign-in/{user}")))
            .body(empty())
            .unwrap();
        let answer = send(&c, req).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    drop(shop);
    drop(auth);
    settled(&rec).await;
    guard.shutdown().unwrap();

    let everything = decompressed_store(dir.path());
    for secret in ["pw-SECRET", "tok-SECRET"] {
        assert!(
            !contains(&everything, secret.as_bytes()),
            "{secret} reached disk"
        );
    }
    assert!(
        contains(&everything, br#""user":"ada""#),
        "the rest is kept"
    );

    // The auth service is gone; the call's body is matched after the same redaction.
    let store = Store::open(dir.path()).unwrap();
    let recordings: Vec<Recording> = store.recordings().map(Result::unwrap).collect();
    assert_eq!(recordings.len(), 2);
    for recording in &recordings {
        let report = replay_recording(recording, app(base.clone()))
            .await
            .unwrap();
        assert!(report.is_identical(), "{}", report.describe());
        assert_eq!(report.calls.answered, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_replay_identically_when_the_upstream_runs_elsewhere() {
    let (_dir, recordings, _base) = record(&["/quote/plum", "/basket"]).await;
    // At replay time the upstream's address is another one (nothing listens there):
    // calls match on method, path, query and body, not on host and port.
    let elsewhere = "http://127.0.0.1:9".to_owned();
    for recording in &recordings {
        let report = replay_recording(recording, shop_app(Shop::new(elsewhere.clone(), false)))
            .await
            .unwrap();
        assert!(report.is_identical(), "{}", report.describe());
        assert!(report.calls.answered > 0);
    }
    // Asked to match on the host too, the same replay finds nothing.
    let strict_host = retrace_tower::Replay::new().options(retrace::replay::ReplayOptions {
        match_authority: true,
        ..Default::default()
    });
    let report = strict_host
        .run(
            &recordings[0],
            shop_app(Shop::new(elsewhere.clone(), false)),
        )
        .await
        .or_else(retrace_tower::ReplayError::into_report)
        .unwrap();
    assert!(!report.is_identical());
    let unmatched = report.calls.unmatched[0].to_string();
    assert!(
        unmatched.contains("host http://127.0.0.1:9, recorded http://127.0.0.1:"),
        "{unmatched}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_replay_run_opens_no_connection_to_a_live_upstream() {
    let (_dir, recordings, _base) = record(&["/quote/apple", "/basket", "/quote/plum"]).await;
    // A live upstream that counts every connection it accepts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = accepted.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    for recording in &recordings {
        let report = replay_recording(recording, shop_app(Shop::new(live.clone(), false)))
            .await
            .unwrap();
        assert!(report.is_identical(), "{}", report.describe());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the replay connected to the live upstream"
    );
    acceptor.abort();
}

/// The shop behind the layers a real service puts around its routes: compression and
/// CORS, inside or outside the record layer.
fn shop_behind_compression(
    shop: Shop,
    record: Option<RecordLayer>,
    record_outside: bool,
) -> Router {
    use tower_http::compression::CompressionLayer;
    use tower_http::compression::predicate::SizeAbove;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    // Small bodies too, so that every answer here is compressed.
    let compression = || CompressionLayer::new().compress_when(SizeAbove::new(0));
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true);
    let app = shop_app(shop);
    match (record, record_outside) {
        (Some(layer), true) => app.layer(compression()).layer(cors).layer(layer),
        (Some(layer), false) => app.layer(layer).layer(compression()).layer(cors),
        (None, _) => app.layer(compression()).layer(cors),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_answers_are_compared_decoded_wherever_the_record_layer_sits() {
    for record_outside in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
        let upstream = serve(inventory()).await;
        let base = format!("http://{}", upstream.addr);
        let app = shop_behind_compression(
            Shop::new(base.clone(), false),
            Some(RecordLayer::new(rec)),
            record_outside,
        );
        let shop = serve(app).await;
        let answer = send(
            &client(),
            get_req(&shop.url("/basket"))
                .header("accept-encoding", "br")
                .header("origin", "https://app.example")
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200);
        drop(shop);
        drop(upstream);
        guard.shutdown().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let recording = store.recordings().next().unwrap().unwrap();
        let recorded = recording.response().unwrap();
        // Inside compression the layer sees the plain body; outside, the br one, which
        // it records decoded: the same recording either way.
        assert!(
            !recorded
                .headers
                .iter()
                .any(|h| h.name.as_ref() == "content-encoding"),
            "{:?}",
            recorded.headers
        );
        serde_json::from_slice::<Value>(&recording.response_body()).unwrap();

        let replayed = replay_recording(
            &recording,
            shop_behind_compression(Shop::new(base, false), None, false),
        )
        .await
        .unwrap();
        assert!(
            replayed.is_identical(),
            "record layer outside: {record_outside}: {}",
            replayed.describe()
        );
        // The report holds the decoded answer.
        serde_json::from_slice::<Value>(&replayed.response.body).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_a_compressed_answer_is_redacted_before_it_reaches_disk() {
    use tower_http::compression::CompressionLayer;
    use tower_http::compression::predicate::SizeAbove;
    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLW9mLWFubg";
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    // The record layer outside compression: it sees gzip bytes.
    let app = Router::new()
        .route(
            "/session",
            axum::routing::post(|| async {
                axum::Json(json!({ "access_token": TOKEN, "user": "ann" }))
            }),
        )
        .layer(CompressionLayer::new().compress_when(SizeAbove::new(0)))
        .layer(RecordLayer::new(rec));
    let server = serve(app).await;
    let answer = send(
        &client(),
        http::Request::post(server.url("/session"))
            .header("accept-encoding", "gzip")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["content-encoding"], "gzip",
        "the client got gzip"
    );
    drop(server);
    guard.shutdown().unwrap();
    let stored = decompressed_store(dir.path());
    assert!(
        !contains(&stored, TOKEN.as_bytes()),
        "the token reached the disk"
    );
    let store = Store::open(dir.path()).unwrap();
    let recording = store.recordings().next().unwrap().unwrap();
    let body: Value = serde_json::from_slice(&recording.response_body()).unwrap();
    assert_eq!(body, json!({ "access_token": "[redacted]", "user": "ann" }));
}

/// Reads a stock answer the way a client that asks for gzip does: decoded when the
/// answer says it is gzip.
async fn gzip_quote(State(shop): State<Shop>, Path(sku): Path<String>) -> axum::Json<Value> {
    let req = http::Request::get(format!("{}/stock/{sku}", shop.base))
        .header("accept-encoding", "gzip")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = shop.upstream.clone().oneshot(req).await.unwrap();
    let coding = resp
        .headers()
        .get("content-encoding")
        .map(|v| v.as_bytes().to_vec());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let plain = retrace::content_coding::decode(coding.as_deref(), &bytes, 1 << 20)
        .unwrap()
        .map_or(bytes.to_vec(), |d| d);
    let stock: Value = serde_json::from_slice(&plain).unwrap();
    axum::Json(json!({ "sku": sku, "available": stock["available"], "coded": coding.is_some() }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_answer_to_an_outgoing_call_is_recorded_decoded_and_replays() {
    use tower_http::compression::CompressionLayer;
    use tower_http::compression::predicate::SizeAbove;
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let upstream =
        serve(inventory().layer(CompressionLayer::new().compress_when(SizeAbove::new(0)))).await;
    let base = format!("http://{}", upstream.addr);
    let app = |base: String| {
        Router::new()
            .route("/gzip-quote/{sku}", get(gzip_quote))
            .with_state(Shop::new(base, false))
    };
    let shop = serve(app(base.clone()).layer(RecordLayer::new(rec.clone()))).await;
    let answer = send(
        &client(),
        get_req(&shop.url("/gzip-quote/fig")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    let live: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(live["coded"], true, "the upstream answered gzip: {live}");
    drop(shop);
    drop(upstream);
    guard.shutdown().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let recording = store.recordings().next().unwrap().unwrap();
    let calls = recording.calls();
    let result = calls[0].result.expect("the call has an answer");
    let retrace::CallOutcome::Response { head, body } = &result.outcome else {
        panic!("the call has an answer: {result:?}");
    };
    assert!(
        !head
            .headers
            .iter()
            .any(|h| h.name.as_ref() == "content-encoding"),
        "{:?}",
        head.headers
    );
    serde_json::from_slice::<Value>(&body.data).expect("the answer is recorded as plain JSON");
    // In replay the client gets the plain answer, without content-encoding, and reads it.
    let report = replay_recording(&recording, app(base))
        .await
        .or_else(retrace_tower::ReplayError::into_report)
        .unwrap();
    let replayed: Value = serde_json::from_slice(&report.response.body).unwrap();
    assert_eq!(replayed["available"], live["available"]);
    assert_eq!(replayed["coded"], false, "{}", report.describe());
}
