//! Recording a tonic gRPC service, then replaying its recordings in-process.
//!
//! A tonic service is a tower service, so `RecordLayer` records it like any other:
//! turn tonic's `Routes` into an axum router (`Routes::into_axum_router`, tonic's
//! `router` feature) and add the layer to it, then serve the router with axum. Two
//! things to know:
//! - gRPC is HTTP/2 without TLS here ("h2c", prior knowledge): axum serves it only with
//!   its `http2` feature (`axum = { version = "0.8", features = ["http2"] }`).
//! - Each call is one recording, its messages in the body and `grpc-status` in the
//!   trailers; replay compares both, so a changed message or status is a difference.
//!
//! The service here is written by hand (no `.proto` code generation, to keep the
//! example in one file); generated servers plug into `Routes` the same way.
//!
//! Run: `cargo run --example tonic_service`

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use retrace::{Config, Recorder, Store};
use retrace_tower::RecordLayer;
use tokio_stream::Stream;
use tonic::server::{NamedService, ServerStreamingService, UnaryService};
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[derive(Clone, PartialEq, prost::Message)]
struct StockRequest {
    #[prost(string, tag = "1")]
    sku: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StockLevel {
    #[prost(string, tag = "1")]
    sku: String,
    #[prost(uint32, tag = "2")]
    available: u32,
}

fn level(sku: &str, step: u32) -> StockLevel {
    let base: u32 = sku.bytes().map(u32::from).sum();
    StockLevel {
        sku: sku.to_owned(),
        available: (base + step * 7) % 50,
    }
}

/// `stock.Stock/Check`: one level.
struct Check;

impl UnaryService<StockRequest> for Check {
    type Response = StockLevel;
    type Future = BoxFuture<Result<Response<StockLevel>, Status>>;

    fn call(&mut self, req: Request<StockRequest>) -> Self::Future {
        let sku = req.into_inner().sku;
        Box::pin(async move {
            if sku.is_empty() {
                return Err(Status::invalid_argument("no sku"));
            }
            Ok(Response::new(level(&sku, 0)))
        })
    }
}

/// `stock.Stock/Watch`: three levels, streamed.
struct Watch;

impl ServerStreamingService<StockRequest> for Watch {
    type Response = StockLevel;
    type ResponseStream = Pin<Box<dyn Stream<Item = Result<StockLevel, Status>> + Send>>;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<StockRequest>) -> Self::Future {
        let sku = req.into_inner().sku;
        let levels: Vec<_> = (1..=3).map(|step| Ok(level(&sku, step))).collect();
        Box::pin(async move {
            Ok(Response::new(
                Box::pin(tokio_stream::iter(levels)) as Self::ResponseStream
            ))
        })
    }
}

/// The `stock.Stock` service, routed by method as generated code routes.
#[derive(Clone)]
struct StockServer;

impl NamedService for StockServer {
    const NAME: &'static str = "stock.Stock";
}

impl<B> tower::Service<http::Request<B>> for StockServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let codec = ProstCodec::<StockLevel, StockRequest>::default();
        match req.uri().path() {
            "/stock.Stock/Check" => {
                Box::pin(async move { Ok(tonic::server::Grpc::new(codec).unary(Check, req).await) })
            }
            "/stock.Stock/Watch" => Box::pin(async move {
                Ok(tonic::server::Grpc::new(codec)
                    .server_streaming(Watch, req)
                    .await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// The gRPC routes as an axum router: what the record layer wraps, and what replay
/// sends the recorded calls to.
fn routes() -> axum::Router {
    Routes::new(StockServer).into_axum_router()
}

/// A tonic client over HTTP/2 to `addr`: a unary call and a streamed one per sku.
async fn clients(addr: std::net::SocketAddr, skus: &[&str]) -> Result<(), BoxError> {
    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let mut grpc = tonic::client::Grpc::with_origin(http2, format!("http://{addr}").parse()?);
    for sku in skus {
        grpc.ready().await?;
        let request = || {
            Request::new(StockRequest {
                sku: (*sku).to_owned(),
            })
        };
        let check = grpc
            .unary(
                request(),
                PathAndQuery::from_static("/stock.Stock/Check"),
                ProstCodec::<StockRequest, StockLevel>::default(),
            )
            .await;
        match check {
            Ok(level) => println!("Check {sku:<6} -> {}", level.get_ref().available),
            Err(status) => println!(
                "Check {sku:<6} -> {:?}: {}",
                status.code(),
                status.message()
            ),
        }
        grpc.ready().await?;
        let mut stream = grpc
            .server_streaming(
                request(),
                PathAndQuery::from_static("/stock.Stock/Watch"),
                ProstCodec::<StockRequest, StockLevel>::default(),
            )
            .await?
            .into_inner();
        let mut levels = Vec::new();
        while let Some(level) = stream.message().await? {
            levels.push(level.available);
        }
        println!("Watch {sku:<6} -> {levels:?}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let config = Config::builder()
        .enabled(true)
        .service("stock")
        .sample_rate(1.0)
        .recording_path(dir.path())
        .build()?;
    let (recorder, guard) = Recorder::new(config)?;

    // Record: the routes behind the record layer, served by axum (HTTP/2 included).
    let app = routes().layer(RecordLayer::new(recorder));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    clients(addr, &["apple", "pear", ""]).await?;
    server.abort();
    let stats = guard.shutdown()?;
    println!("\nrecorded {} calls", stats.written);

    // Replay each recorded call in-process against the same routes.
    let store = Store::open(dir.path())?;
    for recording in store.recordings() {
        let recording = recording?;
        let report = retrace_tower::replay_recording(&recording, routes())
            .await
            .or_else(retrace_tower::ReplayError::into_report)?;
        // In the trailers after the messages, or in the head of an error without any
        // ("trailers-only").
        let trailers = recording.response_end().map(|end| &end.trailers[..]);
        let head = recording.response().map(|head| &head.headers[..]);
        let status = [trailers, head]
            .into_iter()
            .flatten()
            .flatten()
            .find(|h| h.name == "grpc-status")
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
            .unwrap_or_default();
        println!(
            "{} {:<24} grpc-status {status}  {}",
            recording.id,
            report.route,
            if report.is_identical() {
                "identical"
            } else {
                "differs"
            }
        );
    }
    Ok(())
}
