//! The reqwest-middleware adapters, for reqwest 0.13 (`retrace_tower::reqwest`) and
//! reqwest 0.12 (`retrace_tower::reqwest_0_12`): the same scenario for each, a handler
//! calling its upstream through a `reqwest_middleware` client, recorded through a real
//! server, then replayed with the upstream gone. Both record the same call and replay
//! identically.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use retrace::{Config, Recorder, Store};
use retrace_tower::RecordLayer;
use tokio::sync::oneshot;

async fn serve(router: Router) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (url, stop)
}

/// One GET with a plain hyper client: the status and the body.
async fn fetch(url: String) -> (u16, bytes::Bytes) {
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let resp = http
        .request(http::Request::get(url).body(Full::default()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

/// The scenario for one version pair of `reqwest` and `reqwest-middleware`.
macro_rules! scenario {
    ($module:ident, $reqwest:ident, $middleware:ident, $adapter:ident) => {
        mod $module {
            use super::*;
            use retrace_tower::$adapter::RetraceMiddleware;
            use $middleware::{ClientBuilder, ClientWithMiddleware};
            use $reqwest as reqwest;

            #[derive(Clone)]
            struct App {
                client: ClientWithMiddleware,
                upstream: String,
            }

            async fn price(
                State(app): State<App>,
                Path(sku): Path<String>,
            ) -> (http::StatusCode, String) {
                let url = format!("{}/price/{sku}", app.upstream);
                match app.client.get(url).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.text().await.unwrap_or_default();
                        (http::StatusCode::OK, format!("upstream {status}: {body}"))
                    }
                    Err(e) => (http::StatusCode::BAD_GATEWAY, e.to_string()),
                }
            }

            /// The price, then an audit call from a task spawned without the context
            /// (the seal sees an escaped call once the client has answered for the
            /// replay: see the README).
            async fn audited(
                State(app): State<App>,
                Path(sku): Path<String>,
            ) -> (http::StatusCode, String) {
                let audit = app.client.get(format!("{}/audit/{sku}", app.upstream));
                let (status, text) = price(State(app), Path(sku)).await;
                let audited = tokio::spawn(async move { audit.send().await.is_ok() })
                    .await
                    .unwrap_or(false);
                (status, format!("{text}; audited {audited}"))
            }

            fn app(state: App) -> Router {
                Router::new()
                    .route("/price/{sku}", get(price))
                    .route("/audited/{sku}", get(audited))
                    .with_state(state)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_call_escaping_a_strict_replay_is_refused_and_named() {
                use std::sync::atomic::{AtomicU64, Ordering};
                let dir = tempfile::tempdir().unwrap();
                let config = Config::builder()
                    .enabled(true)
                    .recording_path(dir.path())
                    .sample_rate(1.0)
                    .build()
                    .unwrap();
                let (rec, guard) = Recorder::new(config).unwrap();
                let served = std::sync::Arc::new(AtomicU64::new(0));
                let counter = served.clone();
                let upstream = Router::new().fallback(move || {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        "{}"
                    }
                });
                let (upstream_url, stop_upstream) = serve(upstream).await;
                let state = || App {
                    client: ClientBuilder::new(reqwest::Client::new())
                        .with(RetraceMiddleware::new())
                        .build(),
                    upstream: upstream_url.clone(),
                };
                let (shop_url, stop_shop) =
                    serve(app(state()).layer(RecordLayer::new(rec.clone()))).await;
                let (status, _) = fetch(format!("{shop_url}/audited/fig")).await;
                assert_eq!(status, 200);
                let _ = stop_shop.send(());
                tokio::task::block_in_place(|| rec.wait_settled(Duration::from_secs(10)))
                    .expect("every recording ended");
                guard.shutdown().unwrap();
                assert_eq!(served.load(Ordering::SeqCst), 2);

                let store = Store::open(dir.path()).unwrap();
                let recording = store.recordings().next().unwrap().unwrap();
                // The upstream is still up: a replay must not reach it.
                let err = retrace_tower::replay_recording(&recording, app(state()))
                    .await
                    .expect_err("an escaped call is a divergence");
                let report = err.into_report().unwrap();
                assert_eq!(
                    served.load(Ordering::SeqCst),
                    2,
                    "the replay reached the upstream"
                );
                assert_eq!(
                    report.calls.escaped,
                    [format!(
                        "GET {upstream_url}/audit/fig from a task without context"
                    )]
                );
                let _ = stop_upstream.send(());
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn recorded_and_replayed_offline() {
                let dir = tempfile::tempdir().unwrap();
                let config = Config::builder()
                    .enabled(true)
                    .recording_path(dir.path())
                    .sample_rate(1.0)
                    .build()
                    .unwrap();
                let (rec, guard) = Recorder::new(config).unwrap();
                let upstream = Router::new().route(
                    "/price/{sku}",
                    get(|Path(sku): Path<String>| async move {
                        format!("{{\"sku\":\"{sku}\",\"cents\":{}}}", sku.len() * 100)
                    }),
                );
                let (upstream_url, stop_upstream) = serve(upstream).await;
                let state = App {
                    client: ClientBuilder::new(reqwest::Client::new())
                        .with(RetraceMiddleware::new())
                        .build(),
                    upstream: upstream_url,
                };
                let (shop_url, stop_shop) =
                    serve(app(state.clone()).layer(RecordLayer::new(rec.clone()))).await;
                let (_, live) = fetch(format!("{shop_url}/price/plum")).await;
                assert_eq!(live, "upstream 200: {\"sku\":\"plum\",\"cents\":400}");
                let _ = stop_shop.send(());
                let _ = stop_upstream.send(());
                tokio::task::block_in_place(|| rec.wait_settled(Duration::from_secs(10)))
                    .expect("every recording ended");
                guard.shutdown().unwrap();

                let store = Store::open(dir.path()).unwrap();
                let recording = store.recordings().next().unwrap().unwrap();
                let calls = recording.calls();
                assert_eq!(calls.len(), 1);
                assert!(calls[0].call.head.uri.ends_with("/price/plum"));
                assert!(
                    calls[0].call.head.header("traceparent").is_some(),
                    "propagated"
                );
                let report = retrace_tower::replay_recording(&recording, app(state))
                    .await
                    .unwrap();
                assert!(report.is_identical(), "{}", report.describe());
                assert_eq!(report.response.body, live);
                assert_eq!(report.calls.answered, 1);
                assert_eq!(calls[0].call.head.method, "GET");
            }
        }
    };
}

scenario!(reqwest_0_13, reqwest, reqwest_middleware, reqwest);
scenario!(reqwest_0_12, reqwest012, reqwest_middleware04, reqwest_0_12);
