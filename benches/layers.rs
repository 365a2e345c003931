//! Criterion benchmarks of the tower layers, without a network: each arm calls the
//! service directly with 1 KiB in-memory bodies on a current-thread runtime and reads
//! the whole response, so arms differ only by the layer.
//!
//! - `server/bare` vs `server/sampled_out` vs `server/recorded`: what the record layer
//!   adds when it skips a request, and when it records one (producer side: the writer
//!   runs on its own thread).
//! - `client/bare` vs `client/passthrough` vs `client/recorded`: an outgoing call with
//!   1 KiB bodies, with no recording current, and inside a recorded request.
//! - `replay/two_calls`: in-process replay of a trivial handler making two outgoing
//!   calls, answered from the recording.
//!
//! Run: `cargo bench --bench layers`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use retrace::context::RetraceContext;
use retrace::policy::Policy;
use retrace::{Config, RecordReason, Recorder, RecorderGuard, StartOptions, Store};
use retrace_tower::{ClientLayer, RecordBody, RecordLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

fn kib(seed: u8) -> Bytes {
    let mut s = String::from("{\"items\":[");
    let mut i = seed as usize;
    while s.len() < 1000 {
        s.push_str(&format!("{{\"id\":{i},\"qty\":{}}},", i % 7));
        i += 1;
    }
    s.push_str("{}]}");
    Bytes::from(s)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn recorder(dir: &std::path::Path, sample_rate: f64) -> (Recorder, RecorderGuard) {
    let config = Config::builder()
        .enabled(true)
        .service("bench")
        .recording_path(dir)
        .sample_rate(sample_rate)
        .channel_capacity(65_536)
        .max_in_flight_bytes(1 << 30)
        .build()
        .expect("config");
    Recorder::new(config).expect("recorder")
}

async fn roundtrip<S, B>(svc: &mut S, body: Bytes) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let req = Request::post("http://svc.local/orders")
        .header("content-type", "application/json")
        .header("authorization", "Bearer secret")
        .body(Full::new(body))
        .expect("request");
    let resp = svc
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("call");
    resp.into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .len()
}

/// Reads the request and answers 1 KiB of JSON.
async fn handler<B: http_body::Body>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = BodyExt::collect(req.into_body()).await;
    Ok(Response::new(Full::new(kib(2))))
}

fn server(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let request = kib(1);
    let (skip_rec, skip_guard) = recorder(dir.path(), 0.0);
    let (all_rec, all_guard) = recorder(dir.path(), 1.0);
    let mut bare = service_fn(handler::<Full<Bytes>>);
    let mut sampled_out =
        RecordLayer::new(skip_rec).layer(service_fn(handler::<RecordBody<Full<Bytes>>>));
    let mut recorded =
        RecordLayer::new(all_rec).layer(service_fn(handler::<RecordBody<Full<Bytes>>>));
    let mut g = c.benchmark_group("server");
    g.bench_function("bare", |b| {
        b.iter(|| rt.block_on(roundtrip(&mut bare, request.clone())))
    });
    g.bench_function("sampled_out", |b| {
        b.iter(|| rt.block_on(roundtrip(&mut sampled_out, request.clone())))
    });
    g.bench_function("recorded", |b| {
        b.iter(|| rt.block_on(roundtrip(&mut recorded, request.clone())))
    });
    g.finish();
    drop(skip_guard);
    let stats = all_guard.shutdown().expect("shutdown");
    eprintln!(
        "server/recorded: {} started, {} written, {} dropped",
        stats.started,
        stats.written,
        stats.dropped_total()
    );
}

fn client(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, guard) = recorder(dir.path(), 1.0);
    let response = kib(3);
    let upstream = service_fn(move |_req: Request<Full<Bytes>>| {
        let response = response.clone();
        async move { Ok::<_, Infallible>(Response::new(Full::new(response))) }
    });
    let mut bare = upstream.clone();
    let mut wrapped = ClientLayer::new().layer(upstream);
    let request = kib(4);
    let mut g = c.benchmark_group("client");
    g.bench_function("bare", |b| {
        b.iter(|| rt.block_on(roundtrip(&mut bare, request.clone())))
    });
    // The layer with no recording current: what every unrecorded request pays per call.
    g.bench_function("passthrough", |b| {
        b.iter(|| rt.block_on(roundtrip(&mut wrapped, request.clone())))
    });
    // One long-lived recording is current, as inside a recorded handler; calls add to it.
    let mut handle = rec
        .start(StartOptions::new(RecordReason::Manual))
        .expect("enabled");
    let mut calls = 0u32;
    g.bench_function("recorded", |b| {
        b.iter(|| {
            calls += 1;
            if calls.is_multiple_of(512) {
                handle.finish(Some(200), retrace::Outcome::Completed);
                handle = rec
                    .start(StartOptions::new(RecordReason::Manual))
                    .expect("enabled");
            }
            let _entered = RetraceContext::Recording(handle.clone()).enter();
            rt.block_on(roundtrip(&mut wrapped, request.clone()))
        })
    });
    g.finish();
    handle.finish(Some(200), retrace::Outcome::Completed);
    drop(guard);
}

type Upstream = retrace_tower::RecordedClient<
    tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Full<Bytes>>, Infallible>,
>;

/// A trivial handler making two outgoing calls, for request bodies of type `B`.
fn two_calls<B>(
    client: Upstream,
) -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible, Future: Send> + Clone
where
    B: Send + 'static,
{
    service_fn(move |_req: Request<B>| {
        let client = client.clone();
        async move {
            let mut total = 0;
            for path in ["http://inventory.local/a", "http://inventory.local/b"] {
                let req = Request::get(path)
                    .body(Full::new(Bytes::new()))
                    .expect("request");
                let resp = client.clone().oneshot(req).await.expect("call");
                total += resp
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
                    .len();
            }
            Ok(Response::new(Full::new(Bytes::from(format!(
                "{{\"total\":{total}}}"
            )))))
        }
    })
}

fn replay(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, guard) = recorder(dir.path(), 1.0);
    let upstream = service_fn(|req: Request<Full<Bytes>>| async move {
        let body = format!("{{\"path\":\"{}\",\"stock\":7}}", req.uri().path());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    });
    let client: Upstream =
        ClientLayer::new().layer(tower::util::BoxCloneSyncService::new(upstream));
    let mut recorded = RecordLayer::builder(rec)
        .policy(Policy::builder().sample_rate(1.0).build().expect("policy"))
        .build()
        .expect("layer")
        .layer(two_calls::<RecordBody<Full<Bytes>>>(client.clone()));
    rt.block_on(roundtrip(&mut recorded, Bytes::new()));
    guard.shutdown().expect("shutdown");
    let store = Store::open(dir.path()).expect("store");
    let recording = store
        .recordings()
        .next()
        .expect("one recording")
        .expect("readable");
    assert_eq!(recording.calls().len(), 2);
    let app = two_calls::<Full<Bytes>>(client);
    let mut g = c.benchmark_group("replay");
    g.throughput(criterion::Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("two_calls", |b| {
        b.iter(|| {
            let report = rt
                .block_on(retrace_tower::replay_recording(&recording, app.clone()))
                .expect("replay");
            assert!(report.is_identical());
        })
    });
    g.finish();
}

criterion_group!(benches, server, client, replay);
criterion_main!(benches);
