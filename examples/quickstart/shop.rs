//! The quickstart's services: a "shop" whose handlers ask an "inventory" service through
//! a recorded HTTP client, the inventory itself, and the burst of traffic the quickstart
//! sends. Apart from `main.rs` so the viewer's tests (`cli/tests/view.rs`) record the
//! same traffic the quickstart does.

use std::time::UNIX_EPOCH;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use retrace::context::FutureExt;
use retrace_tower::RecordedClient;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tower::ServiceExt;

/// The SKUs the traffic asks about.
pub const SKUS: [&str; 6] = ["apple", "pear", "plum", "fig", "kiwi", "lime"];

/// The inventory service: stock and price of a SKU, made up from its name; `markup`
/// is added to every price (0 for the quickstart's own inventory).
pub fn inventory_app(markup: f64) -> Router {
    Router::new().route(
        "/stock/{sku}",
        get(move |Path(sku): Path<String>| async move {
            let n: u32 = sku.bytes().map(u32::from).sum();
            Json(json!({ "sku": sku, "available": n % 17, "price": f64::from(n % 50) + 0.99 + markup }))
        }),
    )
}

/// Sends the quickstart's burst of `count` requests to the shop at `shop_url`: orders,
/// quotes and health checks in turn, every fourth with the trigger header.
pub async fn send_burst(
    http: &HyperClient<HttpConnector, Full<Bytes>>,
    shop_url: &str,
    count: usize,
) -> anyhow::Result<()> {
    for i in 0..count {
        let sku = SKUS[i % SKUS.len()];
        let mut req = match i % 3 {
            0 => http::Request::post(format!("{shop_url}/order"))
                .header("content-type", "application/json")
                .body(Full::from(
                    json!({ "items": [sku, SKUS[(i + 1) % 6], SKUS[(i + 2) % 6]] }).to_string(),
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
    Ok(())
}

/// The shop's recorded HTTP client.
pub type Upstream = RecordedClient<HyperClient<HttpConnector, Full<Bytes>>>;

/// The shop: where its inventory is and the client it asks it through.
#[derive(Clone)]
pub struct Shop {
    /// The recorded client.
    pub upstream: Upstream,
    /// The inventory service's base URL.
    pub inventory: String,
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

/// The shop's routes: `GET /quote/{sku}`, `POST /order`, `GET /health`.
pub fn shop_app(shop: Shop) -> Router {
    Router::new()
        .route("/quote/{sku}", get(quote))
        .route("/order", post(order))
        .route("/health", get(|| async { "ok" }))
        .with_state(shop)
}

/// Serves `app` on a free loopback port: its URL, and the sender that stops it.
pub async fn serve(app: Router) -> anyhow::Result<(String, oneshot::Sender<()>)> {
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
