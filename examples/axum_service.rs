//! An axum service with the record layer: a trigger header, 10% sampling, and an
//! investigation window opened at start-up. Runs for a few seconds against its own
//! traffic on 127.0.0.1, then prints what was recorded and why.
//!
//! Run: `cargo run --example axum_service`

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use retrace::policy::WindowSpec;
use retrace::{Config, Recorder, Store};
use retrace_tower::RecordLayer;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("retrace-axum-example-{}", std::process::id()));
    // Recording on, 10% sampled; the environment (RETRACE, RETRACE_SAMPLE_RATE...) wins.
    let config = Config::builder()
        .enabled(true)
        .service("orders")
        .recording_path(&root)
        .sample_rate(0.1)
        .with_env()
        .build()?;
    let policy = config.policy()?.build()?;
    let (recorder, guard) = Recorder::new(config)?;
    // For the next minute, record every POST to /orders.
    policy.open_window(
        WindowSpec::new(Duration::from_secs(60))
            .method(http::Method::POST)
            .path_prefix("/orders")
            .label("INC-1234: duplicate orders"),
    )?;

    let app = Router::new()
        .route(
            "/orders",
            post(|body: String| async move { format!("created {}", body.len()) }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(RecordLayer::builder(recorder).policy(policy).build()?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    for i in 0..50 {
        let (method, path, trigger) = match i % 5 {
            0 => ("POST", "/orders", false),
            1 => ("GET", "/health", true),
            _ => ("GET", "/health", false),
        };
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        if trigger {
            req = req.header("x-retrace-record", "1");
        }
        let resp = client
            .request(req.body(Full::from(format!("order {i}")))?)
            .await?;
        resp.into_body().collect().await?;
    }
    server.abort();
    let stats = guard.shutdown()?;
    println!(
        "started {} written {} dropped {}",
        stats.started,
        stats.written,
        stats.dropped_total()
    );

    let store = Store::open(&root)?;
    for info in store.list().recordings {
        let s = &info.summary;
        println!(
            "{}  {:4} {:8} {}  {}",
            s.id,
            s.method,
            s.uri,
            s.status.unwrap_or(0),
            s.reason.map_or("?", |r| r.as_str())
        );
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
