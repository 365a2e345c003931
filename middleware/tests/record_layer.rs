//! The server record layer against a real axum server on 127.0.0.1 and a real HTTP
//! client: decisions, tail keep, redaction, streaming, aborts and body caps.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use rand::{Rng, SeedableRng};
use retrace::policy::{
    Policy, RequestView, TailKeep, WindowSpec, parent_header_value, ratio_sampled,
};
use retrace::{RecordReason, RecordingId, Store, TraceId, TraceParent};
use retrace_tower::RecordLayer;
use support::*;

fn app(layer: RecordLayer) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                "slow"
            }),
        )
        .route("/id", get(recording_id))
        .route(
            "/echo",
            post(|body: Bytes| async move { format!("{} bytes, crc {}", body.len(), crc(&body)) }),
        )
        .layer(layer)
}

/// The id of the recording the request is part of, or `none`.
async fn recording_id(req: Request) -> String {
    req.extensions()
        .get::<RecordingId>()
        .map_or("none".to_owned(), |id| id.to_string())
}

fn crc(b: &[u8]) -> u32 {
    b.iter()
        .fold(0u32, |a, &x| a.wrapping_mul(31).wrapping_add(x as u32))
}

fn traceparent(trace: TraceId) -> String {
    TraceParent {
        trace_id: trace,
        parent_id: retrace::SpanId::random(),
        flags: 1,
    }
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_decision_source_records_for_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    let policy = Policy::builder()
        .trigger_token(Some("open-sesame".to_owned()))
        .flags(|r: &RequestView<'_>| r.headers.contains_key("x-beta").then_some(1.0))
        .build()
        .unwrap();
    let layer = RecordLayer::builder(rec.clone())
        .policy(policy.clone())
        .build()
        .unwrap();
    let server = serve(app(layer)).await;
    let client = client();
    let send_with = |headers: Vec<(&'static str, String)>| {
        let mut b = get_req(&server.url("/id"));
        for (n, v) in headers {
            b = b.header(n, v);
        }
        send(&client, b.body(empty()).unwrap())
    };
    // Nothing asks for it: not recorded.
    assert_eq!(send_with(vec![]).await.body, "none");
    // The trigger with the right token; with a wrong one, nothing.
    let by_header = send_with(vec![("x-retrace-record", "open-sesame".into())]).await;
    assert_ne!(by_header.body, "none");
    assert_eq!(
        send_with(vec![("x-retrace-record", "guess".into())])
            .await
            .body,
        "none"
    );
    // A flag.
    let by_flag = send_with(vec![("x-beta", "1".into())]).await;
    // A window on this path.
    let window = policy
        .open_window(WindowSpec::new(Duration::from_secs(30)).path_prefix("/id"))
        .unwrap();
    let by_window = send_with(vec![]).await;
    assert!(policy.close_window(window));
    assert_eq!(send_with(vec![]).await.body, "none");
    // Sampling, changed at run time.
    policy.set_sample_rate(1.0).unwrap();
    let by_sampling = send_with(vec![]).await;
    policy.set_sample_rate(0.0).unwrap();
    // A parent: signed with the token it is honoured; forged or unsigned it is not.
    let trace = TraceId::random();
    let parent = RecordingId::new();
    let signed = parent_header_value(Some("open-sesame"), trace, parent);
    let by_parent = send_with(vec![
        ("traceparent", traceparent(trace)),
        ("x-retrace-parent", signed.clone()),
    ])
    .await;
    let forged = parent_header_value(Some("wrong"), trace, parent);
    assert_eq!(
        send_with(vec![
            ("traceparent", traceparent(trace)),
            ("x-retrace-parent", forged)
        ])
        .await
        .body,
        "none"
    );
    assert_eq!(
        send_with(vec![
            ("traceparent", traceparent(TraceId::random())),
            ("x-retrace-parent", signed)
        ])
        .await
        .body,
        "none",
        "a signature is bound to its trace"
    );
    // Switched off at run time: not even the trigger records.
    policy.set_enabled(false);
    assert_eq!(
        send_with(vec![("x-retrace-record", "open-sesame".into())])
            .await
            .body,
        "none"
    );
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.started, 5);
    assert_eq!(stats.written, 5);

    let store = Store::open(dir.path()).unwrap();
    let reason_of = |body: &Bytes| {
        let id = std::str::from_utf8(body).unwrap();
        store.get(id).unwrap().end().unwrap().reason
    };
    assert_eq!(reason_of(&by_header.body), RecordReason::Header);
    assert_eq!(reason_of(&by_flag.body), RecordReason::Flag);
    assert_eq!(reason_of(&by_window.body), RecordReason::Window);
    assert_eq!(reason_of(&by_sampling.body), RecordReason::Sampled);
    assert_eq!(reason_of(&by_parent.body), RecordReason::Parent);
    let parent_rec = store
        .get(std::str::from_utf8(&by_parent.body).unwrap())
        .unwrap();
    assert_eq!(parent_rec.summary.trace_id, Some(trace));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_sampling_records_exactly_the_predicted_traces() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(0.1));
    let server = serve(app(RecordLayer::new(rec))).await;
    let client = client();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261123);
    let mut predicted = HashSet::new();
    for _ in 0..1_000 {
        let trace = TraceId::from_bytes(rng.random::<u128>().to_be_bytes()).unwrap();
        if ratio_sampled(trace, 0.1) {
            predicted.insert(trace);
        }
        let req = get_req(&server.url("/hello"))
            .header("traceparent", traceparent(trace))
            .body(empty())
            .unwrap();
        assert_eq!(send(&client, req).await.body, "hello");
    }
    drop(server);
    guard.shutdown().unwrap();
    let recorded: HashSet<TraceId> = Store::open(dir.path())
        .unwrap()
        .list()
        .recordings
        .iter()
        .map(|r| r.summary.trace_id.unwrap())
        .collect();
    assert!((60..140).contains(&predicted.len()), "{}", predicted.len());
    assert_eq!(recorded, predicted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_keep_keeps_errors_and_slow_requests_and_writes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    let policy = Policy::builder()
        .tail(Some(
            TailKeep::default().latency(Some(Duration::from_millis(100))),
        ))
        .build()
        .unwrap();
    let server = serve(app(RecordLayer::builder(rec.clone())
        .policy(policy)
        .build()
        .unwrap()))
    .await;
    let client = client();
    for _ in 0..20 {
        assert_eq!(
            send(
                &client,
                get_req(&server.url("/hello")).body(empty()).unwrap()
            )
            .await
            .status,
            200
        );
    }
    rec.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(
        rec.stats().written_bytes,
        0,
        "a 200 leaves no bytes on disk"
    );
    assert_eq!(rec.stats().discarded, 20);
    let failed = send(
        &client,
        get_req(&server.url("/fail")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(failed.status, 500);
    let slow = send(
        &client,
        get_req(&server.url("/slow")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(slow.body, "slow");
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.started, stats.written, stats.discarded), (22, 2, 20));
    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    let kept: Vec<_> = listing
        .recordings
        .iter()
        .map(|r| (r.summary.uri.clone(), r.summary.reason))
        .collect();
    assert!(kept.contains(&(
        "/fail".to_owned(),
        Some(RecordReason::KeptOnOutcome(retrace::KeepCause::Status))
    )));
    assert!(kept.contains(&(
        "/slow".to_owned(),
        Some(RecordReason::KeptOnOutcome(retrace::KeepCause::Latency))
    )));
    // The kept 500 has every event: request, its end, response, body, end.
    let info = listing
        .recordings
        .iter()
        .find(|r| r.summary.uri == "/fail")
        .unwrap();
    let failed = store.load(info).unwrap();
    assert_eq!(failed.response().unwrap().status, 500);
    assert_eq!(failed.response_body(), "boom");
    assert!(failed.request_end().is_some());
    assert!(info.summary.complete());
}

/// A tentative recording whose status the rule cannot keep is discarded when its
/// response head is known, while its body is still being sent (no capture, no
/// redaction of it, no echoed id); with a latency threshold a slow body could still
/// keep it, so it waits for the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_keep_discards_an_answer_it_cannot_keep_at_its_head() {
    use tokio::sync::mpsc;
    for latency in [None, Some(Duration::from_secs(60))] {
        let dir = tempfile::tempdir().unwrap();
        let (rec, guard) = recorder(config(dir.path()));
        let policy = Policy::builder()
            .tail(Some(TailKeep::default().latency(latency)))
            .build()
            .unwrap();
        let (body_tx, body_rx) = mpsc::channel::<mpsc::Receiver<Bytes>>(1);
        let body_rx = Arc::new(tokio::sync::Mutex::new(body_rx));
        let app = Router::new()
            .route(
                "/stream",
                get(move || {
                    let body_rx = body_rx.clone();
                    async move { streaming(body_rx.lock().await.recv().await.unwrap()) }
                }),
            )
            .layer(
                RecordLayer::builder(rec.clone())
                    .policy(policy)
                    .echo_recording_id(true)
                    .build()
                    .unwrap(),
            );
        let server = serve(app).await;
        let (frames, rx) = mpsc::channel::<Bytes>(1);
        body_tx.send(rx).await.unwrap();
        let resp = client()
            .request(get_req(&server.url("/stream")).body(empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let echoed = resp.headers().contains_key("x-retrace-recording-id");
        // The head has arrived; the body has not begun.
        let discarded_at_head = rec.stats().discarded;
        frames
            .send(Bytes::from_static(b"data: one\n\n"))
            .await
            .unwrap();
        drop(frames);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "data: one\n\n");
        let stats = settled(&rec).await;
        drop(server);
        match latency {
            None => {
                assert_eq!(discarded_at_head, 1, "discarded at the head");
                assert!(!echoed, "no id of a recording that will not exist");
            }
            Some(_) => {
                assert_eq!(discarded_at_head, 0, "a slow body could still keep it");
                assert!(echoed);
            }
        }
        assert_eq!((stats.started, stats.discarded), (1, 1), "{stats:?}");
        let stats = guard.shutdown().unwrap();
        assert_eq!((stats.written, stats.written_bytes), (0, 0), "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) =
        recorder(config(dir.path()).trigger_token(Some("trigger-T0KEN-42".to_owned())));
    let layer = RecordLayer::new(rec);
    let server = serve(app(layer)).await;
    let client = client();
    for i in 0..5 {
        let req = http::Request::builder()
            .method("POST")
            .uri(server.url(&format!("/echo?access_token=qs-SECRET-{i}&page=2")))
            .header("x-retrace-record", "trigger-T0KEN-42")
            .header("authorization", "Bearer auth-SECRET-abc")
            .header("cookie", "session=cookie-SECRET-xyz")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"user":"ada","password":"pw-SECRET-{i}","n":{i}}}"#
            ))))
            .unwrap();
        let answer = send(&client, req).await;
        assert_eq!(answer.status, 200);
        assert!(
            answer.body.starts_with(b"4"),
            "the handler saw the original body"
        );
    }
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 5);
    let everything = decompressed_store(dir.path());
    for secret in [
        "auth-SECRET",
        "cookie-SECRET",
        "pw-SECRET",
        "trigger-T0KEN-42",
        "qs-SECRET",
    ] {
        assert!(
            !contains(&everything, secret.as_bytes()),
            "{secret} reached disk"
        );
    }
    // What is not secret is still there.
    for kept in ["ada", "page=2", "/echo", "authorization"] {
        assert!(contains(&everything, kept.as_bytes()), "{kept} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_event_by_event_and_a_disconnect_aborts_the_recording() {
    use tokio::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    // The handler sends event n only after the client confirmed event n-1: if the layer
    // held frames back, the test would stall.
    let (ack_tx, ack_rx) = mpsc::channel::<usize>(1);
    let ack_rx = std::sync::Arc::new(tokio::sync::Mutex::new(ack_rx));
    let app = Router::new()
        .route(
            "/events",
            get(move || {
                let ack_rx = ack_rx.clone();
                async move {
                    let (tx, rx) = mpsc::channel::<Bytes>(1);
                    tokio::spawn(async move {
                        let mut acks = ack_rx.lock().await;
                        for n in 0..100 {
                            if tx
                                .send(Bytes::from(format!("data: event {n}\n\n")))
                                .await
                                .is_err()
                            {
                                return;
                            }
                            match tokio::time::timeout(Duration::from_secs(10), acks.recv()).await {
                                Ok(Some(got)) if got == n => {}
                                _ => return,
                            }
                        }
                    });
                    streaming(rx)
                }
            }),
        )
        .layer(RecordLayer::new(rec.clone()));
    let server = serve(app).await;
    let client = client();

    let resp = client
        .request(get_req(&server.url("/events")).body(empty()).unwrap())
        .await
        .unwrap();
    let mut body = resp.into_body();
    for n in 0..100 {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("event arrived while streaming")
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), format!("data: event {n}\n\n"));
        ack_tx.send(n).await.unwrap();
    }
    assert!(body.frame().await.is_none());

    // A client that goes away after 10 events.
    let resp = client
        .request(get_req(&server.url("/events")).body(empty()).unwrap())
        .await
        .unwrap();
    let mut body = resp.into_body();
    for n in 0..10 {
        body.frame().await.unwrap().unwrap();
        ack_tx.send(n).await.unwrap();
    }
    drop(body);
    settled(&rec).await;
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 2, "{stats:?}");
    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    let (aborted, whole): (Vec<_>, Vec<_>) =
        listing.recordings.iter().partition(|r| r.summary.aborted);
    assert_eq!((aborted.len(), whole.len()), (1, 1));
    let whole = store.load(whole[0]).unwrap();
    assert_eq!(
        whole.response_body().len(),
        (0..100)
            .map(|n| format!("data: event {n}\n\n").len())
            .sum::<usize>()
    );
    assert!(whole.response_end().unwrap().finished);
    let aborted = store.load(aborted[0]).unwrap();
    assert!(!aborted.response_end().unwrap().finished);
    assert!(
        aborted
            .response_body()
            .starts_with(b"data: event 0\n\ndata: event 1\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_upload_is_served_intact_and_recorded_up_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let layer = RecordLayer::builder(rec)
        .body_cap(64 * 1024)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/echo",
            post(|body: Bytes| async move { format!("{} bytes, crc {}", body.len(), crc(&body)) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(32 << 20))
        .layer(layer);
    let server = serve(app).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let upload: Vec<u8> = (0..10 << 20).map(|_| rng.random::<u8>()).collect();
    let req = http::Request::builder()
        .method("POST")
        .uri(server.url("/echo"))
        .body(Full::new(Bytes::from(upload.clone())))
        .unwrap();
    let answer = send(&client(), req).await;
    assert_eq!(
        answer.body,
        format!("{} bytes, crc {}", 10 << 20, crc(&upload))
    );
    drop(server);
    guard.shutdown().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let recording = store
        .get(&store.list().recordings[0].summary.id.to_string())
        .unwrap();
    let end = recording.request_end().unwrap();
    assert_eq!(end.total_len, 10 << 20);
    assert_eq!(end.captured_len, 64 * 1024);
    assert_eq!(recording.request_body(), &upload[..64 * 1024]);
    assert_eq!(end.digest, Some(*blake3::hash(&upload).as_bytes()));
    assert!(recording.summary.truncated);
    assert!(
        recording
            .end()
            .unwrap()
            .losses
            .contains(&retrace::Loss::RequestBodyTruncated {
                dropped_bytes: (10 << 20) - 64 * 1024
            })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_id_is_echoed_when_asked_and_limits_decline() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let layer = RecordLayer::builder(rec.clone())
        .echo_recording_id(true)
        .build()
        .unwrap();
    let server = serve(app(layer)).await;
    let answer = send(
        &client(),
        get_req(&server.url("/id")).body(empty()).unwrap(),
    )
    .await;
    let echoed = answer
        .headers
        .get("x-retrace-recording-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(echoed, std::str::from_utf8(&answer.body).unwrap());
    drop(server);

    // With one place in flight, a second concurrent request is declined and counted.
    let layer = RecordLayer::builder(rec.clone())
        .max_in_flight(1)
        .build()
        .unwrap();
    // `/hold` takes the one place and keeps it until the second request is answered.
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let hold = {
        let (entered, release) = (entered.clone(), release.clone());
        move || async move {
            entered.notify_one();
            release.notified().await;
            "held"
        }
    };
    let server = serve(
        Router::new()
            .route("/hold", get(hold))
            .route("/id", get(recording_id))
            .layer(layer),
    )
    .await;
    let c = client();
    let held = send(&c, get_req(&server.url("/hold")).body(empty()).unwrap());
    let second = async {
        entered.notified().await;
        let answer = send(&c, get_req(&server.url("/id")).body(empty()).unwrap()).await;
        release.notify_one();
        answer
    };
    let (held, second) = tokio::join!(held, second);
    assert_eq!(held.body, "held");
    assert_eq!(second.body, "none");
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!(
        stats.declined,
        vec![(retrace::DropReason::InFlightLimit, 1)]
    );
    assert_eq!(stats.written, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_shutdown_is_served_and_counted_as_declined() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let server = serve(app(RecordLayer::new(rec.clone()))).await;
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.declined, vec![]);
    let answer = send(
        &client(),
        get_req(&server.url("/id")).body(empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (answer.status, &answer.body[..]),
        (200, &b"none"[..]),
        "served, not recorded"
    );
    assert_eq!(
        rec.stats().declined,
        vec![(retrace::DropReason::AfterShutdown, 1)]
    );
}

/// Runs one recorded request through the layer, its request and response bodies each a
/// `len`-byte slice of a larger buffer, and says whether those buffers are still
/// referenced once the request is done and its recording waits for a stalled writer.
async fn buffers_pinned_while_queued(len: usize, content_type: &'static str) -> (bool, bool) {
    use tower::{Layer, ServiceExt};
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).sample_rate(1.0));
    let stall = rec.pause_writer().unwrap();
    let request_buffer = Bytes::from(vec![b'a'; len + 8192]);
    let response_buffer = Bytes::from(vec![b'b'; len + 8192]);
    let answer = response_buffer.slice(..len);
    let service = RecordLayer::new(rec.clone()).layer(tower::service_fn(
        move |req: http::Request<retrace_tower::RecordBody<Full<Bytes>>>| {
            let answer = answer.clone();
            async move {
                let _ = req.into_body().collect().await;
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .header("content-type", content_type)
                        .body(Full::new(answer))
                        .unwrap(),
                )
            }
        },
    ));
    let req = http::Request::post("http://shop.local/upload")
        .header("content-type", content_type)
        .body(Full::new(request_buffer.slice(..len)))
        .unwrap();
    let response = service.oneshot(req).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), len);
    drop(body);
    assert_eq!(rec.stats().started, 1);
    let pinned = (!request_buffer.is_unique(), !response_buffer.is_unique());
    drop(stall);
    assert_eq!(guard.shutdown().unwrap().written, 1);
    pinned
}

#[tokio::test]
async fn a_queued_recording_does_not_pin_the_buffers_its_small_frames_came_from() {
    // Kept by reference, a 1 KiB frame would hold its 9 KiB buffer (hyper's read
    // buffer, in a server) until the writer took the recording: the in-flight budget
    // counts the frame, not the buffer.
    for content_type in ["application/octet-stream", "application/json"] {
        assert_eq!(
            buffers_pinned_while_queued(1024, content_type).await,
            (false, false),
            "{content_type}"
        );
    }
    // A frame past 64 KiB is most of its buffer: kept by reference, not copied. This is
    // also what shows the check above can see a reference.
    assert_eq!(
        buffers_pinned_while_queued(128 * 1024, "application/octet-stream").await,
        (true, true)
    );
}
