//! Break glass: capture production traffic on demand, over HTTP, with a key that
//! allows only that.
//!
//! 1. Starts a "shop" service on 127.0.0.1 with recording on but nothing sampled, and
//!    the admin service mounted at `/_retrace`, with two API keys: `oncall` (scope
//!    `capture`) and `dashboards` (scope `read`), read from a keys file that holds
//!    only their hashes.
//! 2. The on-call engineer starts a capture: the next 5 checkouts of tenant 42, for
//!    five minutes.
//! 3. Traffic flows: checkouts of tenants 42 and 7, and catalog reads.
//! 4. Shows the capture's progress, lists the recordings it took, shows a refusal
//!    (the read-only key may not start a capture), and prints the audit log.
//!
//! Run: `cargo run --example break_glass`

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use retrace::{Config, Recorder};
use retrace_tower::RecordLayer;
use retrace_tower::admin::{Admin, ApiKeys, Scope};
use serde_json::{Value, json};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Sends one request; the status and the body as JSON (or as text when it is not).
async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let resp = client.request(req.body(Full::new(body))?).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, value))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Recording on, nothing sampled: only captures record.
    let config = Config::builder()
        .enabled(true)
        .service("shop")
        .recording_path(dir.path().join("recordings"))
        .build()?;
    let (recorder, guard) = Recorder::new(config)?;

    // The keys file holds hashes only; the keys themselves go to their holders.
    let oncall_key = ApiKeys::generate();
    let dashboards_key = ApiKeys::generate();
    let keys_file = dir.path().join("admin-keys");
    std::fs::write(
        &keys_file,
        format!(
            "# id scope hash\n{}\n{}\n",
            ApiKeys::file_line("oncall", Scope::Capture, &oncall_key),
            ApiKeys::file_line("dashboards", Scope::Read, &dashboards_key)
        ),
    )?;
    let admin = Admin::builder(&recorder).keys_file(&keys_file).build()?;

    let app: Router = Router::new()
        .route("/checkout", post(|| async { "{\"order\":\"accepted\"}" }))
        .route("/catalog", get(|| async { "[\"fig\",\"plum\"]" }))
        .layer(RecordLayer::new(recorder.clone()))
        .nest_service("/_retrace", admin.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    println!("== 1. oncall starts a capture: the next 5 checkouts of tenant 42, for 5 minutes");
    let (status, capture) = call(
        &client,
        "POST",
        &format!("{base}/_retrace/captures"),
        Some(&oncall_key),
        &[("content-type", "application/json")],
        Some(json!({
            "match": {
                "method": "POST",
                "path": {"prefix": "/checkout"},
                "header": {"name": "x-tenant", "value": "42"}
            },
            "max_recordings": 5,
            "duration": "5m",
            "label": "INC-1234: checkout failures for tenant 42"
        })),
    )
    .await?;
    println!("{status} {}", serde_json::to_string_pretty(&capture)?);
    let id = capture["id"].as_str().unwrap_or_default().to_owned();

    println!("\n== 2. traffic: 8 checkouts of tenant 42, 8 of tenant 7, 8 catalog reads");
    for i in 0..8 {
        for (method, path, tenant) in [
            ("POST", "/checkout", "42"),
            ("POST", "/checkout", "7"),
            ("GET", "/catalog", "42"),
        ] {
            let request_id = format!("req-{tenant}-{i}");
            let headers = [("x-tenant", tenant), ("x-request-id", request_id.as_str())];
            call(
                &client,
                method,
                &format!("{base}{path}"),
                None,
                &headers,
                None,
            )
            .await?;
        }
    }
    recorder.wait_settled(Duration::from_secs(10))?;

    println!("\n== 3. the capture's progress");
    let (_, progress) = call(
        &client,
        "GET",
        &format!("{base}/_retrace/captures/{id}"),
        Some(&dashboards_key),
        &[],
        None,
    )
    .await?;
    println!(
        "state {}, recorded {} of {}, {} bytes",
        progress["state"], progress["recorded"], progress["max_recordings"], progress["bytes"]
    );

    println!("\n== 4. its recordings (GET /_retrace/recordings?capture={id})");
    let (_, listing) = call(
        &client,
        "GET",
        &format!("{base}/_retrace/recordings?capture={id}"),
        Some(&dashboards_key),
        &[],
        None,
    )
    .await?;
    for r in listing["recordings"].as_array().into_iter().flatten() {
        println!(
            "{}  {} {}  {}  reason {}",
            r["id"].as_str().unwrap_or(""),
            r["method"].as_str().unwrap_or(""),
            r["uri"].as_str().unwrap_or(""),
            r["status"],
            r["reason"].as_str().unwrap_or("")
        );
    }

    println!("\n== 5. the read-only key may not start a capture");
    let (status, refusal) = call(
        &client,
        "POST",
        &format!("{base}/_retrace/captures"),
        Some(&dashboards_key),
        &[],
        Some(json!({})),
    )
    .await?;
    println!("{status} {refusal}");

    println!(
        "\n== 6. the audit log (retrace audit ls {})",
        dir.path().join("recordings").display()
    );
    let audit = admin.audit_log().map(|log| log.path().to_owned());
    if let Some(path) = audit {
        for entry in retrace::audit::read(&path)? {
            let line = entry?;
            println!(
                "{:>3} {} {:<10} {:<16} {:<8} {}",
                line.seq,
                line.at,
                line.who,
                line.action,
                line.outcome,
                line.target.as_deref().unwrap_or("")
            );
        }
    }

    server.abort();
    let stats = guard.shutdown()?;
    println!(
        "\n{} requests seen, {} recorded (all by the capture), {} dropped",
        stats.requests_seen,
        stats.written,
        stats.dropped_total()
    );
    Ok(())
}
