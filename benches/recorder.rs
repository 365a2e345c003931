//! Criterion benchmarks of the core recorder.
//!
//! - `hand_off/one_recording`: the request path's cost of one recording with 4 events
//!   and 2 KiB of bodies: start, record, finish, the non-blocking send and dropping the
//!   handle, with a real writer draining to a temporary directory on the other core.
//!   Recordings go in bursts of 1,000 that the channel holds whole and the writer
//!   drains (waiting for it is not timed), so each is a successful hand-off (the run
//!   prints `dropped` to show it: a dropped recording is cheaper).
//!   `hand_off/one_recording_saturated` does the same back to back (the handle dropped
//!   outside the timing), the writer busy throughout and part of the recordings
//!   dropped.
//! - `writer/json_traffic`: the writer thread's throughput on realistic JSON HTTP
//!   recordings: postcard, lz4, framing and the file write, measured from releasing a
//!   full queue to the flush acknowledgement. Reported in raw event bytes per second;
//!   the compression ratio is printed once.
//!
//! Run: `cargo bench --bench recorder`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use retrace::{
    BodyChunk, Config, Event, Header, Outcome, RecordReason, Recorder, RequestHead, ResponseHead,
    StartOptions,
};

fn json(size: usize, seed: usize) -> Bytes {
    let mut s = String::from("{\"items\":[");
    let mut n = seed;
    while s.len() < size - 30 {
        s.push_str(&format!(
            "{{\"id\":{n},\"sku\":\"SKU-{:05}\",\"qty\":{},\"price\":{}.{:02}}},",
            (n * 7919) % 100_000,
            n % 9 + 1,
            (n * 31) % 500,
            n % 100
        ));
        n += 1;
    }
    s.push_str("{}],\"ok\":true}");
    Bytes::from(s)
}

fn request_head(i: usize) -> RequestHead {
    RequestHead {
        method: "POST".into(),
        uri: format!("/api/orders/{i}?expand=items"),
        version: "HTTP/1.1".into(),
        headers: vec![
            Header::new("host", "shop.internal:8080"),
            Header::new("content-type", "application/json"),
            Header::new("accept", "application/json"),
            Header::new("user-agent", "checkout-web/4.2.1"),
            Header::new("x-request-id", Bytes::from(format!("{i:016x}"))),
        ],
    }
}

fn response_head() -> ResponseHead {
    ResponseHead {
        status: 200,
        version: "HTTP/1.1".into(),
        headers: vec![
            Header::new("content-type", "application/json"),
            Header::new("cache-control", "no-store"),
        ],
    }
}

fn recorder(dir: &std::path::Path, capacity: usize) -> (Recorder, retrace::RecorderGuard) {
    recorder_encrypted(dir, capacity, &[])
}

/// A recorder whose segments are encrypted to `recipients` (none: plain).
fn recorder_encrypted(
    dir: &std::path::Path,
    capacity: usize,
    recipients: &[String],
) -> (Recorder, retrace::RecorderGuard) {
    let config = Config::builder()
        .enabled(true)
        .service("bench")
        .recording_path(dir)
        .channel_capacity(capacity)
        .max_in_flight_bytes(1 << 30)
        .encrypt_to(recipients.iter().cloned())
        .build()
        .expect("valid config");
    Recorder::new(config).expect("recorder starts")
}

fn hand_off(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, guard) = recorder(dir.path(), 65_536);
    let req = request_head(1);
    let resp = response_head();
    let req_body = json(1024, 1);
    let resp_body = json(1024, 2);
    let mut group = c.benchmark_group("hand_off");
    let events = || {
        [
            Event::Request(req.clone()),
            Event::RequestBody(BodyChunk {
                at_us: 1,
                data: req_body.clone(),
            }),
            Event::Response(resp.clone()),
            Event::ResponseBody(BodyChunk {
                at_us: 2,
                data: resp_body.clone(),
            }),
        ]
    };
    // What is timed is the recorder's own work: start, four `record` calls, `finish`,
    // the non-blocking send and dropping the handle. The events are built beforehand,
    // and recordings go in bursts the channel holds whole: the writer, which polls
    // every 2 ms while traffic flows, drains each burst on the other core (mostly
    // during the flush that follows it, which is not timed), as it takes what queued
    // since its last wake in production. So every recording is a successful hand-off,
    // and the buffers the writer hands back are reused: a producer that outruns the
    // writer measures the cheaper path of a dropped recording instead.
    const BURST: u64 = 1_000;
    group.bench_function("one_recording", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let burst = left.min(BURST);
                let batch: Vec<_> = (0..burst).map(|_| events()).collect();
                let start = Instant::now();
                for events in batch {
                    if let Some(h) = rec.start(StartOptions::new(RecordReason::Sampled)) {
                        for e in events {
                            h.record(e);
                        }
                        h.finish(Some(200), Outcome::Completed);
                    }
                }
                timed += start.elapsed();
                rec.flush(Duration::from_secs(30))
                    .expect("the writer drains the burst");
                left -= burst;
            }
            timed
        })
    });
    // The same work with the producer outrunning the writer, back to back: the writer
    // is busy on the other core the whole time and part of the recordings are dropped
    // as channel-full (the run prints how many), so this mixes both paths.
    let (saturated, saturated_guard) = recorder(dir.path(), 65_536);
    group.bench_function("one_recording_saturated", |b| {
        b.iter_batched(
            events,
            |events| {
                let h = saturated.start(StartOptions::new(RecordReason::Sampled))?;
                for e in events {
                    h.record(e);
                }
                h.finish(Some(200), Outcome::Completed);
                Some(h)
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
    for (name, guard) in [("", guard), ("_saturated", saturated_guard)] {
        let stats = guard.shutdown().expect("clean shutdown");
        eprintln!(
            "hand_off/one_recording{name}: started {} written {} dropped {:?}",
            stats.started, stats.written, stats.dropped
        );
    }
}

fn writer_throughput(c: &mut Criterion) {
    const RECORDINGS: usize = 2_000;
    let req_bodies: Vec<Bytes> = (0..64)
        .map(|i| json(900 + (i * 37) % 700, i * 101))
        .collect();
    let resp_bodies: Vec<Bytes> = (0..64)
        .map(|i| json(1200 + (i * 53) % 900, i * 211))
        .collect();
    let heads: Vec<RequestHead> = (0..RECORDINGS).map(request_head).collect();
    let resp = response_head();
    let mut group = c.benchmark_group("writer");
    group.sample_size(20);
    // Measure one batch first to learn the raw size for the throughput figure.
    let raw_per_batch = {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rec, guard) = recorder(dir.path(), RECORDINGS + 16);
        fill(&rec, &heads, &resp, &req_bodies, &resp_bodies);
        let stats = guard.shutdown().expect("clean shutdown");
        eprintln!(
            "writer: {} recordings, {} raw bytes -> {} bytes on disk, compression {:.2}x",
            stats.written,
            stats.raw_bytes,
            stats.written_bytes,
            stats.raw_bytes as f64 / stats.written_bytes as f64
        );
        stats.raw_bytes
    };
    group.throughput(Throughput::Bytes(raw_per_batch));
    // Plain, then (with the `encryption` feature) encrypted to one age recipient, side
    // by side in one run: the ratio of the two is the cost of encryption at rest.
    let arms: Vec<(&str, Vec<String>)> = std::iter::once(("json_traffic", Vec::new()))
        .chain(encrypted_arm())
        .collect();
    for (name, recipients) in &arms {
        group.bench_function(BenchmarkId::new(*name, RECORDINGS), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let (rec, guard) = recorder_encrypted(dir.path(), RECORDINGS + 16, recipients);
                    let pause = rec.pause_writer().expect("enabled");
                    fill(&rec, &heads, &resp, &req_bodies, &resp_bodies);
                    let start = Instant::now();
                    drop(pause);
                    rec.flush(Duration::from_secs(60)).expect("flush");
                    total += start.elapsed();
                    drop(guard);
                }
                total
            })
        });
    }
    group.finish();
}

/// The encrypted arm, with the `encryption` feature: one fresh age recipient.
fn encrypted_arm() -> Option<(&'static str, Vec<String>)> {
    #[cfg(feature = "encryption")]
    {
        let recipient = age::x25519::Identity::generate().to_public().to_string();
        Some(("json_traffic_encrypted", vec![recipient]))
    }
    #[cfg(not(feature = "encryption"))]
    {
        None
    }
}

fn fill(
    rec: &Recorder,
    heads: &[RequestHead],
    resp: &ResponseHead,
    req_bodies: &[Bytes],
    resp_bodies: &[Bytes],
) {
    for (i, head) in heads.iter().enumerate() {
        let Some(h) = rec.start(StartOptions::new(RecordReason::Sampled)) else {
            continue;
        };
        h.record(Event::Request(head.clone()));
        h.record(Event::RequestBody(BodyChunk {
            at_us: 5,
            data: req_bodies[i % req_bodies.len()].clone(),
        }));
        h.record(Event::Response(resp.clone()));
        h.record(Event::ResponseBody(BodyChunk {
            at_us: 150,
            data: resp_bodies[(i * 7) % resp_bodies.len()].clone(),
        }));
        h.finish(Some(200), Outcome::Completed);
    }
}

criterion_group!(benches, hand_off, writer_throughput);
criterion_main!(benches);
