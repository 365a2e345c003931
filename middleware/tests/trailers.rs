//! Trailers: a response's trailers (gRPC's `grpc-status` and `grpc-message`) are
//! recorded through a real server, diffed in replay, and kept in regression
//! expectations, so a status that changed from 0 to 13 is a difference, never
//! "identical".

mod support;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use retrace::Store;
use retrace_tower::{RecordLayer, Regression, RegressionError, replay_recording};
use support::*;

/// A body of one data frame followed by trailers, as a gRPC answer is.
struct WithTrailers {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

/// A gRPC-like method answering with `status` in its trailers.
fn app(status: &'static str) -> Router {
    Router::new().route(
        "/pkg.Orders/Get",
        post(move || async move {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", status.parse().unwrap());
            if status != "0" {
                trailers.insert("grpc-message", "internal".parse().unwrap());
            }
            http::Response::builder()
                .header("content-type", "application/grpc")
                .body(axum::body::Body::new(WithTrailers {
                    data: Some(Bytes::from_static(b"\0\0\0\0\x02\x08\x07")),
                    trailers: Some(trailers),
                }))
                .unwrap()
        }),
    )
}

async fn record_one() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let server = serve(app("0").layer(RecordLayer::new(rec))).await;
    let req = http::Request::builder()
        .method("POST")
        .uri(server.url("/pkg.Orders/Get"))
        .header("content-type", "application/grpc")
        .body(http_body_util::Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    assert_eq!(send(&client(), req).await.status, 200);
    drop(server);
    guard.shutdown().unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_grpc_status_is_a_difference() {
    let dir = record_one().await;
    let store = Store::open(dir.path()).unwrap();
    let recording = store.recordings().next().unwrap().unwrap();
    let recorded = &recording.response_end().expect("ended").trailers;
    assert_eq!(recorded.len(), 1);
    assert_eq!(&recorded[0].value[..], b"0");

    let same = replay_recording(&recording, app("0")).await.unwrap();
    assert!(same.is_identical(), "{}", same.describe());
    assert_eq!(same.response.trailers.len(), 1);

    let changed = replay_recording(&recording, app("13"))
        .await
        .expect_err("strict replay of a changed status fails")
        .into_report()
        .unwrap();
    assert!(!changed.is_identical());
    let described = changed.describe();
    assert!(
        described.contains("trailer grpc-status: \"0\" -> \"13\""),
        "{described}"
    );
    assert!(described.contains("trailer grpc-message"), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_expectations_keep_trailers() {
    let dir = record_one().await;
    let suite = Regression::new(dir.path());
    suite
        .clone()
        .accept(true)
        .run(|| async { app("0") })
        .await
        .unwrap();
    let stored = std::fs::read_dir(dir.path().join("expectations"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .next()
        .expect("an expectation");
    assert!(stored.contains("grpc-status"), "{stored}");
    suite
        .clone()
        .accept(false)
        .run(|| async { app("0") })
        .await
        .unwrap();
    let err = suite
        .accept(false)
        .run(|| async { app("13") })
        .await
        .expect_err("the status changed");
    match err {
        RegressionError::Changed { failures, .. } => {
            assert!(
                failures[0].contains("trailer grpc-status: \"0\" -> \"13\""),
                "{failures:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
