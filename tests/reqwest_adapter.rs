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

            fn app(state: App) -> Router {
                Router::new()
                    .route("/price/{sku}", get(price))
                    .with_state(state)
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
                    serve(app(state.clone()).layer(RecordLayer::new(rec).unwrap())).await;
                let http = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http::<Full<bytes::Bytes>>();
                let resp = http
                    .request(
                        http::Request::get(format!("{shop_url}/price/plum"))
                            .body(Full::default())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                let live = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(live, "upstream 200: {\"sku\":\"plum\",\"cents\":400}");
                let _ = stop_shop.send(());
                let _ = stop_upstream.send(());
                tokio::time::sleep(Duration::from_millis(50)).await;
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
                let report = retrace_tower::replay(&recording, app(state)).await.unwrap();
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
