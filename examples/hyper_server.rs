//! A plain hyper 1 server (through hyper-util's tower adapter) with the record layer,
//! built with `tower::ServiceBuilder`. Serves a few requests on 127.0.0.1 and prints the
//! recordings.
//!
//! Run: `cargo run --example hyper_server`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use retrace::{Config, Recorder, Store};
use retrace_tower::{RecordBody, RecordLayer};
use tower::ServiceBuilder;

async fn hello(
    req: http::Request<RecordBody<Incoming>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "hello, {} bytes",
        body.len()
    )))))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("retrace-hyper-example-{}", std::process::id()));
    let config = Config::builder()
        .enabled(true)
        .service("hyper-hello")
        .recording_path(&root)
        .sample_rate(1.0)
        .build()?;
    let (recorder, guard) = Recorder::new(config)?;
    let service = ServiceBuilder::new()
        .layer(RecordLayer::new(recorder))
        .service_fn(hello);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    for i in 0..3 {
        let req = http::Request::post(format!("http://{addr}/greet"))
            .body(Full::from(vec![b'x'; i * 10]))?;
        let body = client
            .request(req)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        println!("answer: {}", String::from_utf8_lossy(&body));
    }
    server.abort();
    guard.shutdown()?;
    for info in Store::open(&root)?.list().recordings {
        println!(
            "{} {} {} -> {:?}",
            info.summary.id, info.summary.method, info.summary.uri, info.summary.status
        );
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
