//! What runs around the service: serving a router on a loopback port, the HTTP
//! client it calls out with (through retrace's reqwest 0.12 middleware), and the
//! moderation service it calls. Shared by the example, its test and its benchmark.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::post;
use retrace_tower::reqwest_0_12::RetraceMiddleware;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Serves `app` on a free port of 127.0.0.1 until the sender is used or dropped;
/// returns its base URL.
pub async fn serve(app: Router) -> std::io::Result<(String, oneshot::Sender<()>)> {
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

/// A pool of 8 connections to the database `options` name, its tables made: how the
/// example, its tests and its benchmark start the service.
pub async fn pool_with_schema(
    options: sqlx::postgres::PgConnectOptions,
) -> Result<sqlx::PgPool, sqlx::Error> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    crate::app::migrate(&pool).await?;
    Ok(pool)
}

/// `app` with the layers a public API puts around its routes: CORS (credentials
/// allowed, the caller's origin mirrored) and compression (gzip or br, as the client
/// asks). Both go outside the record layer, so recordings hold plain bodies and no
/// CORS headers (see the record layer's docs on placement).
pub fn public(app: Router) -> Router {
    use tower_http::compression::CompressionLayer;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    app.layer(CompressionLayer::new()).layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true),
    )
}

/// The service's outgoing client: reqwest 0.12 with retrace's middleware, so its
/// calls are recorded, and answered from the recording in replay.
pub fn http_client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetraceMiddleware::new())
        .build()
}

/// The moderation service (`POST /v1/moderate {"text": ..}` → `{"allowed": ..}`,
/// refusing spam), counting the calls it answers in `calls`.
pub fn moderation(calls: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/v1/moderate",
        post(move |axum::Json(body): axum::Json<Value>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let text = body["text"].as_str().unwrap_or_default();
                let allowed = !text.to_ascii_lowercase().contains("spam");
                axum::Json(json!({ "allowed": allowed }))
            }
        }),
    )
}
