//! gRPC streams through the record layer: a real tonic 0.14 server (hand-written
//! service, no code generation) behind `RecordLayer` on 127.0.0.1, called by a real
//! tonic client over HTTP/2. A server-streaming call and a client-streaming call are
//! recorded with every message and the `grpc-status` trailer, replay identically
//! against the same server, and a stream changed by one message, or a status changed,
//! is reported as a difference.

mod support;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use retrace::Store;
use retrace_tower::{RecordLayer, ReplayError, replay_recording};
use support::*;
use tokio_stream::Stream;
use tonic::server::{ClientStreamingService, ServerStreamingService};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[derive(Clone, PartialEq, prost::Message)]
struct WatchRequest {
    #[prost(string, tag = "1")]
    sku: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StockUpdate {
    #[prost(string, tag = "1")]
    sku: String,
    #[prost(uint32, tag = "2")]
    available: u32,
}

/// How the server answers: the streamed amounts, and whether `Total` fails.
#[derive(Clone)]
struct Behaviour {
    watch: Vec<u32>,
    total_fails: bool,
}

struct Watch(Arc<Behaviour>);

impl ServerStreamingService<WatchRequest> for Watch {
    type Response = StockUpdate;
    type ResponseStream = Pin<Box<dyn Stream<Item = Result<StockUpdate, Status>> + Send>>;
    type Future = BoxFuture<Result<Response<Self::ResponseStream>, Status>>;

    fn call(&mut self, req: Request<WatchRequest>) -> Self::Future {
        let sku = req.into_inner().sku;
        let updates: Vec<_> = self
            .0
            .watch
            .iter()
            .map(|&available| {
                Ok(StockUpdate {
                    sku: sku.clone(),
                    available,
                })
            })
            .collect();
        Box::pin(async move {
            Ok(Response::new(
                Box::pin(tokio_stream::iter(updates)) as Self::ResponseStream
            ))
        })
    }
}

struct Total(Arc<Behaviour>);

impl ClientStreamingService<StockUpdate> for Total {
    type Response = StockUpdate;
    type Future = BoxFuture<Result<Response<StockUpdate>, Status>>;

    fn call(&mut self, req: Request<Streaming<StockUpdate>>) -> Self::Future {
        let fails = self.0.total_fails;
        Box::pin(async move {
            let (mut stream, mut sum, mut sku) = (req.into_inner(), 0, String::new());
            while let Some(update) = stream.message().await? {
                sum += update.available;
                sku = update.sku;
            }
            if fails {
                return Err(Status::internal("the ledger is closed"));
            }
            Ok(Response::new(StockUpdate {
                sku,
                available: sum,
            }))
        })
    }
}

/// The service, routed by path as generated code does.
#[derive(Clone)]
struct StockServer(Arc<Behaviour>);

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
        let behaviour = Arc::clone(&self.0);
        match req.uri().path() {
            "/stock.Stock/Watch" => Box::pin(async move {
                let codec = ProstCodec::<StockUpdate, WatchRequest>::default();
                let mut grpc = tonic::server::Grpc::new(codec);
                Ok(grpc.server_streaming(Watch(behaviour), req).await)
            }),
            "/stock.Stock/Total" => Box::pin(async move {
                let codec = ProstCodec::<StockUpdate, StockUpdate>::default();
                let mut grpc = tonic::server::Grpc::new(codec);
                Ok(grpc.client_streaming(Total(behaviour), req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

fn app(behaviour: Behaviour) -> axum::Router {
    axum::Router::new().route_service("/stock.Stock/{method}", StockServer(Arc::new(behaviour)))
}

fn normal() -> Behaviour {
    Behaviour {
        watch: vec![10, 20, 30],
        total_fails: false,
    }
}

/// Calls both methods through a real tonic client over HTTP/2.
async fn call_both(addr: std::net::SocketAddr) -> Result<(Vec<u32>, u32), BoxError> {
    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let mut grpc = tonic::client::Grpc::with_origin(http2, format!("http://{addr}").parse()?);
    grpc.ready().await?;
    let mut stream = grpc
        .server_streaming(
            Request::new(WatchRequest {
                sku: "apple".into(),
            }),
            PathAndQuery::from_static("/stock.Stock/Watch"),
            ProstCodec::<WatchRequest, StockUpdate>::default(),
        )
        .await?
        .into_inner();
    let mut watched = Vec::new();
    while let Some(update) = stream.message().await? {
        watched.push(update.available);
    }
    grpc.ready().await?;
    let updates: Vec<StockUpdate> = [5, 7, 30]
        .into_iter()
        .map(|available| StockUpdate {
            sku: "pear".into(),
            available,
        })
        .collect();
    let total = grpc
        .client_streaming(
            Request::new(tokio_stream::iter(updates)),
            PathAndQuery::from_static("/stock.Stock/Total"),
            ProstCodec::<StockUpdate, StockUpdate>::default(),
        )
        .await?
        .into_inner();
    Ok((watched, total.available))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_streams_record_and_replay_and_changes_are_differences() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let server = serve(app(normal()).layer(RecordLayer::new(rec))).await;
    let (watched, total) = call_both(server.addr).await.unwrap();
    assert_eq!(watched, [10, 20, 30]);
    assert_eq!(total, 42);
    drop(server);
    guard.shutdown().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let recordings: Vec<_> = store.recordings().map(Result::unwrap).collect();
    assert_eq!(recordings.len(), 2);
    let by_path = |path: &str| {
        recordings
            .iter()
            .find(|r| r.request().is_some_and(|h| h.uri.ends_with(path)))
            .unwrap_or_else(|| panic!("no recording of {path}"))
    };
    let watch = by_path("/Watch");
    let total = by_path("/Total");
    // Every message is in the recording (gRPC frames: a flag byte, a length, the
    // message), and the status trailer after them.
    assert_eq!(watch.response_body().len(), 3 * (5 + 9));
    let status = |r: &retrace::Recording| {
        r.response_end()
            .and_then(|e| e.trailers.iter().find(|h| h.name == "grpc-status"))
            .map(|h| h.value.clone())
    };
    assert_eq!(status(watch).as_deref(), Some(&b"0"[..]));
    assert_eq!(status(total).as_deref(), Some(&b"0"[..]));

    // The same server answers the recorded requests (the client stream included)
    // identically.
    for recording in [watch, total] {
        let report = replay_recording(recording, app(normal())).await.unwrap();
        assert!(report.is_identical(), "{}", report.describe());
    }

    // One message of the stream changed: a difference.
    let changed = Behaviour {
        watch: vec![10, 20, 31],
        ..normal()
    };
    let err = replay_recording(watch, app(changed))
        .await
        .expect_err("a changed message");
    assert!(matches!(err, ReplayError::Diverged(_)));
    assert!(err.to_string().contains("body"), "{err}");

    // The status changed: a difference naming the trailer.
    let failing = Behaviour {
        total_fails: true,
        ..normal()
    };
    let err = replay_recording(total, app(failing))
        .await
        .expect_err("a changed status");
    let described = err.to_string();
    assert!(described.contains("grpc-status"), "{described}");
}

/// A tonic client whose calls go through `ClientLayer`: tonic's request body is
/// collected into `Full<Bytes>` first (unary, server- and client-streaming calls end
/// their request stream before the answer), then the recorded hyper client.
fn recorded_grpc_channel() -> impl tower::Service<
    http::Request<tonic::body::Body>,
    Response = http::Response<retrace_tower::client::ClientBody<hyper::body::Incoming>>,
    Error = BoxError,
    Future = impl Send,
> + Clone {
    use http_body_util::{BodyExt, Full};
    use tower::{Layer, ServiceExt};
    let http2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let recorded = retrace_tower::ClientLayer::new().layer(http2);
    tower::service_fn(move |req: http::Request<tonic::body::Body>| {
        let recorded = recorded.clone();
        async move {
            let (parts, body) = req.into_parts();
            let bytes = body.collect().await?.to_bytes();
            let req = http::Request::from_parts(parts, Full::new(bytes));
            recorded.oneshot(req).await.map_err(BoxError::from)
        }
    })
}

/// A gateway whose handler watches the stock through the recorded tonic client.
fn gateway(stock: std::net::SocketAddr) -> axum::Router {
    axum::Router::new().route(
        "/watch/{sku}",
        axum::routing::get(
            move |axum::extract::Path(sku): axum::extract::Path<String>| async move {
                let origin: http::Uri = format!("http://{stock}").parse().expect("an origin");
                let mut grpc = tonic::client::Grpc::with_origin(recorded_grpc_channel(), origin);
                let watched = async {
                    grpc.ready().await?;
                    let mut stream = grpc
                        .server_streaming(
                            Request::new(WatchRequest { sku }),
                            PathAndQuery::from_static("/stock.Stock/Watch"),
                            ProstCodec::<WatchRequest, StockUpdate>::default(),
                        )
                        .await?
                        .into_inner();
                    let mut total = 0;
                    while let Some(update) = stream.message().await? {
                        total += update.available;
                    }
                    Ok::<u32, BoxError>(total)
                };
                match watched.await {
                    Ok(total) => format!("total {total}"),
                    Err(e) => format!("failed: {e}"),
                }
            },
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_grpc_streams_are_recorded_and_answered_in_replay() {
    let stock = serve(app(normal())).await;
    let recorded = record_get(gateway(stock.addr), "/watch/apple").await;
    assert_eq!(&recorded.answer.body[..], b"total 60");
    let stock_addr = stock.addr;
    drop(stock);
    let recording = recorded.recording;
    let calls = recording.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].call.head.uri.ends_with("/stock.Stock/Watch"));
    // The stock server is gone: the stream and its status come from the recording.
    let report = replay_recording(&recording, gateway(stock_addr))
        .await
        .unwrap();
    assert!(report.is_identical(), "{}", report.describe());
    assert_eq!(report.calls.answered, 1);
    assert_eq!(&report.response.body[..], b"total 60");
}
