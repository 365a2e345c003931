//! Panics around a recorded request, against a real axum server: a handler that panics
//! (uncaught, caught by tower-http's `CatchPanicLayer` inside or outside the record
//! layer, or inside a spawned task), a response body that panics mid-stream, and a
//! panicking flag source. In every case the service keeps serving, the writer keeps
//! running, and a recording whose response never completed ends as aborted.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::StatusCode;
use retrace::policy::{Policy, RequestView};
use retrace::{Outcome, Store};
use retrace_tower::RecordLayer;
use support::*;
use tower_http::catch_panic::CatchPanicLayer;

/// A body that yields one frame, then panics.
struct PanickingBody(bool);

impl http_body::Body for PanickingBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.0 {
            panic!("the body stream broke");
        }
        self.0 = true;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
            b"first frame;",
        )))))
    }
}

fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .route(
            "/spawned-panic",
            get(|| async {
                match tokio::spawn(async { panic!("task bug") }).await {
                    Ok(()) => (StatusCode::OK, "no panic"),
                    Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "task panicked"),
                }
            }),
        )
        .route(
            "/panicking-body",
            get(|| async {
                axum::response::Response::new(axum::body::Body::new(PanickingBody(false)))
            }),
        )
}

async fn ok_is_served(server: &Server, client: &HttpClient) {
    let answer = send(client, get_req(&server.url("/ok")).body(empty()).unwrap()).await;
    assert_eq!((answer.status, &answer.body[..]), (200, &b"fine"[..]));
}

/// Whatever the outcome of the panicking request, the client is answered or the
/// connection closes: it never hangs.
async fn try_send(client: &HttpClient, url: &str) -> Option<u16> {
    let req = get_req(url).body(empty()).unwrap();
    let attempt = async {
        let resp = client.request(req).await.ok()?;
        let status = resp.status().as_u16();
        http_body_util::BodyExt::collect(resp.into_body())
            .await
            .ok()?;
        Some(status)
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .expect("a panicking request must not hang the client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handlers_and_bodies_end_the_recording_aborted_and_serving_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let layer = RecordLayer::new(rec.clone());
    // Three stacks: no panic catching; CatchPanicLayer inside the record layer (it
    // turns the panic into a 500 the recording sees); CatchPanicLayer outside it (the
    // recording's future is dropped mid-poll).
    let plain = serve(routes().layer(layer.clone())).await;
    let inside = serve(routes().layer(CatchPanicLayer::new()).layer(layer.clone())).await;
    let outside = serve(routes().layer(layer).layer(CatchPanicLayer::new())).await;
    let client = client();

    for server in [&plain, &inside, &outside] {
        ok_is_served(server, &client).await;
    }
    assert_eq!(try_send(&client, &plain.url("/panic")).await, None);
    assert_eq!(try_send(&client, &inside.url("/panic")).await, Some(500));
    assert_eq!(try_send(&client, &outside.url("/panic")).await, Some(500));
    assert_eq!(
        try_send(&client, &plain.url("/spawned-panic")).await,
        Some(500)
    );
    // The body panics after its first frame: the status was already sent, the body
    // is cut short.
    assert_eq!(try_send(&client, &plain.url("/panicking-body")).await, None);
    for server in [&plain, &inside, &outside] {
        ok_is_served(server, &client).await;
    }
    // The writer is alive: a flush is acknowledged.
    rec.flush(Duration::from_secs(5))
        .expect("the writer survived");
    drop((plain, inside, outside));
    let stats = guard.shutdown().expect("the writer survived");
    assert_eq!(stats.started, 11, "{stats:?}");
    assert_eq!(stats.written, 11, "{stats:?}");

    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    let mut outcomes: Vec<(String, Option<u16>, Outcome)> = listing
        .recordings
        .iter()
        .map(|info| {
            let r = store.load(info).unwrap();
            let end = r.end().expect("every recording ended").clone();
            (info.summary.uri.clone(), end.status, end.outcome)
        })
        .filter(|(uri, _, _)| uri != "/ok")
        .collect();
    outcomes.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        outcomes,
        vec![
            ("/panic".to_owned(), None, Outcome::Aborted),
            ("/panic".to_owned(), None, Outcome::Aborted),
            ("/panic".to_owned(), Some(500), Outcome::Completed),
            ("/panicking-body".to_owned(), Some(200), Outcome::Aborted),
            ("/spawned-panic".to_owned(), Some(500), Outcome::Completed),
        ]
    );
    // The cut body kept what was sent before the panic.
    let cut = listing
        .recordings
        .iter()
        .find(|i| i.summary.uri == "/panicking-body")
        .unwrap();
    let cut = store.load(cut).unwrap();
    assert_eq!(&cut.response_body()[..], b"first frame;");
    assert!(!cut.response_end().unwrap().finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_flag_source_neither_breaks_serving_nor_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    let policy = Policy::builder()
        .flags(|r: &RequestView<'_>| -> Option<f64> {
            if r.uri.path() == "/ok" {
                panic!("the flag service is down")
            }
            None
        })
        .build()
        .unwrap();
    let layer = RecordLayer::builder(rec.clone())
        .policy(policy)
        .build()
        .unwrap();
    let server = serve(routes().layer(layer)).await;
    let client = client();
    for _ in 0..20 {
        ok_is_served(&server, &client).await;
    }
    // The panic means "no opinion": the later sources still decide, so the trigger
    // header records.
    let answer = send(
        &client,
        get_req(&server.url("/ok"))
            .header("x-retrace-record", "1")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
    drop(server);
    let stats = guard.shutdown().expect("the writer survived");
    assert_eq!((stats.started, stats.written), (1, 1), "{stats:?}");
    let listing = Store::open(dir.path()).unwrap().list();
    assert_eq!(listing.recordings.len(), 1);
    assert!(!listing.recordings[0].summary.aborted);
}
