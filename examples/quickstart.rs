//! The quickstart: record real traffic, then replay it offline.
//!
//! 1. Starts an upstream "inventory" service and a "shop" service on 127.0.0.1. The
//!    shop's handler asks the inventory through a recorded HTTP client and stamps its
//!    answer with `retrace::now()`.
//! 2. Sends a burst of real requests: some carry the trigger header, some are sampled.
//! 3. Stops the inventory service: from here on there is no upstream.
//! 4. Replays every recording in-process against the shop, configured with another
//!    inventory address as a laptop would be, with each outgoing call answered from the
//!    recording, and prints a table of the results.
//!
//! The recordings stay in `./recordings` (or `$RETRACE_RECORDING_PATH`) for the CLI:
//! `cargo run -p retrace-cli -- ls`.
//!
//! Run: `cargo run --example quickstart`

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use retrace::context::FutureExt;
use retrace::{Config, Recorder, Store};
use retrace_tower::{ClientLayer, RecordLayer, RecordedClient};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower::{Layer, ServiceExt};

type Upstream = RecordedClient<HyperClient<HttpConnector, Full<Bytes>>>;

#[derive(Clone)]
struct Shop {
    upstream: Upstream,
    inventory: String,
}

impl Shop {
    /// Asks the inventory service for one SKU, through the recorded client.
    async fn stock(&self, sku: &str) -> Value {
        let req = http::Request::get(format!("{}/stock/{sku}", self.inventory))
            .body(Full::new(Bytes::new()))
            .expect("valid request");
        let answer = async {
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
                .map_err(|e| e.to_string())?;
            serde_json::from_slice::<Value>(&body.to_bytes()).map_err(|e| e.to_string())
        };
        answer.await.unwrap_or_else(|e| json!({ "error": e }))
    }
}

fn stamp() -> u64 {
    retrace::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn quote(State(shop): State<Shop>, Path(sku): Path<String>) -> Json<Value> {
    let stock = shop.stock(&sku).await;
    Json(json!({ "sku": sku, "stock": stock, "quoted_at": stamp() }))
}

async fn order(State(shop): State<Shop>, Json(order): Json<Value>) -> Json<Value> {
    let items: Vec<String> = order["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let lookups = items.iter().cloned().map(|sku| {
        let shop = shop.clone();
        async move { shop.stock(&sku).await }
    });
    let stock = futures_join_all(lookups).await;
    let total: f64 = stock.iter().filter_map(|s| s["price"].as_f64()).sum();
    Json(json!({ "items": items, "total": total, "placed_at": stamp() }))
}

/// Runs the lookups concurrently on spawned tasks; `with_current_context` carries the
/// recording (or, in replay, the replay session) into each task.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<Value>
where
    F: std::future::Future<Output = Value> + Send + 'static,
{
    let tasks: Vec<_> = futures
        .map(|f| tokio::spawn(f.with_current_context()))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(
            task.await
                .unwrap_or_else(|e| json!({ "error": e.to_string() })),
        );
    }
    out
}

fn shop_app(shop: Shop) -> Router {
    Router::new()
        .route("/quote/{sku}", get(quote))
        .route("/order", post(order))
        .route("/health", get(|| async { "ok" }))
        .with_state(shop)
}

async fn serve(app: Router) -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((url, stop))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::builder()
        .enabled(true)
        .service("shop")
        .sample_rate(0.5)
        .with_env()
        .build()?;
    let root = config.recording_path.clone();
    let (recorder, guard) = Recorder::new(config)?;
    let session = recorder.session_dir().map(|p| p.to_path_buf());

    // The upstream: an inventory service.
    let inventory = Router::new().route(
        "/stock/{sku}",
        get(|Path(sku): Path<String>| async move {
            let n: u32 = sku.bytes().map(u32::from).sum();
            Json(json!({ "sku": sku, "available": n % 17, "price": f64::from(n % 50) + 0.99 }))
        }),
    );
    let (inventory_url, stop_inventory) = serve(inventory).await?;

    // The shop, recorded.
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let shop = Shop {
        upstream: ClientLayer::new().layer(http.clone()),
        inventory: inventory_url,
    };
    let recorded_app = shop_app(shop.clone()).layer(RecordLayer::new(recorder.clone()));
    let (shop_url, stop_shop) = serve(recorded_app).await?;

    // A burst of real traffic.
    let skus = ["apple", "pear", "plum", "fig", "kiwi", "lime"];
    for i in 0..24 {
        let sku = skus[i % skus.len()];
        let mut req = match i % 3 {
            0 => http::Request::post(format!("{shop_url}/order"))
                .header("content-type", "application/json")
                .body(Full::from(
                    json!({ "items": [sku, skus[(i + 1) % 6], skus[(i + 2) % 6]] }).to_string(),
                ))?,
            1 => http::Request::get(format!("{shop_url}/quote/{sku}")).body(Full::default())?,
            _ => http::Request::get(format!("{shop_url}/health")).body(Full::default())?,
        };
        if i % 4 == 0 {
            req.headers_mut()
                .insert("x-retrace-record", http::HeaderValue::from_static("1"));
        }
        let resp = http.request(req).await?;
        resp.into_body().collect().await?;
    }
    let _ = stop_shop.send(());
    let _ = stop_inventory.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = guard.shutdown()?;
    println!(
        "recorded {} of 24 requests ({} written, {} dropped); the inventory service is now stopped\n",
        stats.started,
        stats.written,
        stats.dropped_total()
    );

    // Offline: replay each recording of this session against the shop, configured as
    // on another machine: its inventory would be at another address, where nothing
    // runs. Calls match on what they ask (method, path, query, body), not on where.
    let shop = Shop {
        inventory: "http://127.0.0.1:9".to_owned(),
        ..shop
    };
    let store = Store::open(&root)?;
    let mut recordings: Vec<_> = store
        .list()
        .recordings
        .into_iter()
        .filter(|r| Some(&r.session.dir) == session.as_ref())
        .collect();
    recordings.reverse();
    println!(
        "{:<12} {:<20} {:>6} {:>16}  diff",
        "recording", "route", "status", "calls replayed"
    );
    let mut identical = 0;
    for info in &recordings {
        let recording = store.load(info)?;
        // A strict replay that diverged is an error carrying its report: shown too.
        let report = retrace_tower::replay_recording(&recording, shop_app(shop.clone()))
            .await
            .or_else(retrace_tower::ReplayError::into_report)?;
        let recorded_calls = recording.calls().len();
        let verdict = if report.is_identical() {
            identical += 1;
            "identical".to_owned()
        } else {
            format!(
                "differs: {}",
                report.diff.to_string().lines().next().unwrap_or("")
            )
        };
        println!(
            "{:<12} {:<20} {:>6} {:>16}  {verdict}",
            &recording.id.to_string()[..12],
            report.route,
            report.response.status,
            format!("{}/{recorded_calls}", report.calls.answered),
        );
    }
    println!(
        "\n{identical} of {} recordings replayed identically with no network; recordings are in {}",
        recordings.len(),
        root.display()
    );
    println!(
        "next: cargo run -p retrace-cli -- ls --path {}",
        root.display()
    );
    Ok(())
}
