//! Shipping a recording root to S3 and reading the bucket back with `retrace ls`
//! (issue 20), against a real S3-compatible server: moto, started on a loopback port
//! through `retrace-test-services` (`scripts/s3`).
//!
//! Each recording root is written by the real recorder: 10,000 realistic requests
//! (head, ~1 KiB request body, one outgoing call, response head, ~1 KiB response body)
//! whose bodies are mostly random tokens, so that compression leaves them near their
//! size; the writer is flushed every 20 recordings, as a writer draining a moderate
//! load writes small frames. Two layouts of the same recordings:
//!
//! - `pods4-seg1m`: four sessions (four pods, one after the other) of 2,500
//!   recordings, segments closed at 1 MiB;
//! - `pods40-seg64k`: forty sessions of 250, segments closed at 64 KiB: many more
//!   objects for the same recordings, the case a listing pays for per request.
//!
//! For each layout:
//!
//! 1. Shipping: [`Shipper::ship_pending`] in this process on a current-thread runtime
//!    (as `retrace ship` runs it), five times, each into a fresh prefix of the same
//!    bucket (`LAYOUT-run-0` … `LAYOUT-run-4`). Reported: bytes uploaded per second
//!    (segments, indexes, their Parquet copies, metadata) and segments per second.
//! 2. Reading: the `retrace` binary (built with the bench profile),
//!    `retrace ls --path s3://BUCKET/LAYOUT-run-0 --json`, five times cold (an empty
//!    `RETRACE_CACHE_DIR`) each followed by a warm run on the same cache; every run must
//!    list exactly 10,000 recordings. The goal of issue 20: under 2 s cold.
//!
//! Beside those, what a cold `ls` is made of: the bucket listing alone, the mirror's
//! sync ([`Mirror::sync`], the list and one GET per index and metadata file, 16 at a
//! time) in this process, and the same GETs one at a time, five times each.
//!
//! Run: `cargo bench -p retrace-cli --bench ship`. moto is a Python server (a thread
//! per request under one interpreter lock), so the figures are a floor for a real S3:
//! they are dominated by moto's cost per request.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Noise, body, header};
use futures_util::TryStreamExt;
use retrace::segment::{INDEX_EXT, SEGMENT_EXT};
use retrace::ship::{Destination, Mirror, ShipOptions, Shipper};
use retrace::{
    BodyChunk, BodyEnd, CallOutcome, Config, Event, OutboundCall, OutboundResult, Outcome,
    RecordReason, Recorder, RecordingHandle, RequestHead, ResponseHead, StartOptions, WholeBody,
};

/// Recordings in each recording root.
const RECORDINGS: usize = 10_000;
/// Bytes of each of the two bodies of a recording.
const BODY_BYTES: usize = 1_024;
/// Recordings handed to the writer between two flushes: small frames, as a writer
/// draining a moderate load writes them, and far under the channel's 1,024 messages,
/// so that none is dropped.
const FLUSH_EVERY: usize = 20;
const RUNS: usize = 5;
/// The goal of issue 20 for a cold `retrace ls` over 10,000 recordings.
const LS_GOAL: Duration = Duration::from_secs(2);

/// The events of one request: head, body, one outgoing call, response.
fn request_events(handle: &RecordingHandle, noise: &mut Noise, i: usize) -> Vec<Event> {
    let req_body = body(noise, i, BODY_BYTES);
    let resp_body = body(noise, i + 1, BODY_BYTES);
    let call_id = handle.next_seq();
    let end = |at_us, len: usize| BodyEnd {
        at_us,
        total_len: len as u64,
        captured_len: len as u64,
        finished: true,
        ..BodyEnd::default()
    };
    vec![
        Event::Request(RequestHead {
            method: if i.is_multiple_of(3) { "POST" } else { "GET" }.into(),
            uri: format!("/orders/{i}?expand=items"),
            version: "HTTP/1.1".into(),
            headers: vec![
                header("host", "shop.local".to_owned()),
                header("content-type", "application/json".to_owned()),
                header("x-request-id", noise.token(24)),
            ],
        }),
        Event::RequestBody(BodyChunk {
            at_us: 10,
            data: req_body.clone(),
        }),
        Event::RequestEnd(end(11, req_body.len())),
        Event::Call(Box::new(OutboundCall {
            call_id,
            target: "inventory.local:8080".to_owned(),
            at_us: 20,
            head: RequestHead {
                method: "GET".into(),
                uri: format!("http://inventory.local:8080/stock/{i}"),
                version: "HTTP/1.1".into(),
                headers: vec![header("accept", "application/json".to_owned())],
            },
            body: WholeBody::default(),
        })),
        Event::CallResult(Box::new(OutboundResult {
            call_id,
            duration_us: 300,
            outcome: CallOutcome::Response {
                head: ResponseHead {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: vec![header("content-type", "application/json".to_owned())],
                },
                body: WholeBody {
                    data: Bytes::from(format!("{{\"sku\":{i},\"available\":{}}}", i % 13)),
                    end: BodyEnd::default(),
                },
            },
        })),
        Event::Response(ResponseHead {
            status: if i.is_multiple_of(10) { 500 } else { 200 },
            version: "HTTP/1.1".into(),
            headers: vec![
                header("content-type", "application/json".to_owned()),
                header("content-length", resp_body.len().to_string()),
            ],
        }),
        Event::ResponseBody(BodyChunk {
            at_us: 400,
            data: resp_body.clone(),
        }),
        Event::ResponseEnd(end(401, resp_body.len())),
    ]
}

/// How a root's [`RECORDINGS`] are spread over sessions and segments.
struct Layout {
    name: &'static str,
    /// Sessions (pods), one after the other.
    sessions: usize,
    segment_max_bytes: u64,
}

/// Records `layout.sessions` sessions of an equal share of [`RECORDINGS`] into `root`,
/// each session's recorder shut down at its end (which closes its last segment).
fn record_root(root: &Path, layout: &Layout) {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let per_session = RECORDINGS / layout.sessions;
    assert_eq!(per_session * layout.sessions, RECORDINGS);
    for session in 0..layout.sessions {
        let config = Config::builder()
            .enabled(true)
            .service("bench-svc")
            .recording_path(root)
            .segment_max_bytes(layout.segment_max_bytes)
            .build()
            .expect("valid config");
        let (recorder, guard) = Recorder::new(config).expect("recorder starts");
        for n in 0..per_session {
            let i = session * per_session + n;
            let handle = recorder
                .start(StartOptions::new(RecordReason::Sampled))
                .expect("recording starts");
            for event in request_events(&handle, &mut noise, i) {
                handle.record(event);
            }
            let status = if i.is_multiple_of(10) { 500 } else { 200 };
            handle.finish(Some(status), Outcome::Completed);
            if (n + 1) % FLUSH_EVERY == 0 {
                recorder
                    .flush(Duration::from_secs(10))
                    .expect("writer flushes");
            }
        }
        let stats = guard.shutdown().expect("writer shuts down");
        assert_eq!(stats.written, per_session as u64, "every recording written");
        assert_eq!(stats.dropped_total(), 0, "no recording dropped");
    }
}

/// Closed segments (with their index) under `root`, and their bytes with the indexes'.
fn closed_segments(root: &Path) -> (usize, u64) {
    let (mut count, mut bytes) = (0, 0);
    for session in fs::read_dir(root).expect("read root").flatten() {
        if !session.path().is_dir() {
            continue;
        }
        for file in fs::read_dir(session.path())
            .expect("read session")
            .flatten()
        {
            let path = file.path();
            let index = path.with_extension(INDEX_EXT);
            if path.extension().is_some_and(|e| e == SEGMENT_EXT) && index.exists() {
                count += 1;
                bytes += file.metadata().expect("segment").len();
                bytes += fs::metadata(&index).expect("index").len();
            }
        }
    }
    (count, bytes)
}

fn s3_options() -> Vec<(String, String)> {
    retrace_test_services::s3::env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn destination(url: &str) -> Destination {
    Destination::parse_with(url, s3_options()).expect("destination")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One shipping pass of `root` into `url`: wall time, segments shipped, bytes uploaded.
fn ship_once(root: &Path, url: &str) -> (Duration, u64, u64) {
    let rt = runtime();
    let started = Instant::now();
    let mut shipper =
        Shipper::new(root, destination(url), ShipOptions::default()).expect("shipper");
    let report = rt.block_on(shipper.ship_pending()).expect("shipping pass");
    let took = started.elapsed();
    assert!(
        report.failures.is_empty(),
        "failures: {:?}",
        report.failures
    );
    (took, report.segments, report.bytes)
}

/// Objects under `url`'s prefix, by kind: (all, indexes, metadata files).
fn objects(url: &str) -> (usize, usize, usize) {
    let destination = destination(url);
    let metas: Vec<_> = runtime()
        .block_on(
            destination
                .store()
                .list(Some(destination.prefix()))
                .try_collect(),
        )
        .expect("list the bucket");
    let named = |suffix: &str| {
        metas
            .iter()
            .filter(|m| m.location.as_ref().ends_with(suffix))
            .count()
    };
    let indexes = named(&format!(".{INDEX_EXT}"));
    let metadata = named("/metadata.json") + named("/counters.json");
    (metas.len(), indexes, metadata)
}

/// The bucket listing alone, as the mirror's sync starts with it.
fn list_once(url: &str) -> Duration {
    let destination = destination(url);
    let rt = runtime();
    let started = Instant::now();
    let metas: Vec<_> = rt
        .block_on(
            destination
                .store()
                .list(Some(destination.prefix()))
                .try_collect(),
        )
        .expect("list the bucket");
    let took = started.elapsed();
    assert!(!metas.is_empty());
    took
}

/// The mirror's sync into an empty cache, in this process: (wall time, files
/// downloaded).
fn sync_once(url: &str) -> (Duration, usize) {
    let cache = tempfile::tempdir().expect("cache dir");
    let mirror = Mirror::new(destination(url), cache.path());
    let started = Instant::now();
    let report = mirror.sync().expect("sync");
    (started.elapsed(), report.downloaded)
}

/// The GETs of a cold sync (every index and metadata file under `url`) one at a
/// time, in this process: what the sync's concurrent downloads are measured against.
fn gets_one_at_a_time(url: &str) -> Duration {
    let destination = destination(url);
    let store = destination.store();
    let rt = runtime();
    let metas: Vec<_> = rt
        .block_on(store.list(Some(destination.prefix())).try_collect())
        .expect("list the bucket");
    let wanted: Vec<_> = metas
        .into_iter()
        .map(|m| m.location)
        .filter(|key| {
            let key = key.as_ref();
            key.ends_with(&format!(".{INDEX_EXT}"))
                || key.ends_with("/metadata.json")
                || key.ends_with("/counters.json")
        })
        .collect();
    let started = Instant::now();
    rt.block_on(async {
        for key in &wanted {
            let found = store.get_opts(key, Default::default()).await.expect("get");
            found.bytes().await.expect("body");
        }
    });
    started.elapsed()
}

/// `retrace ls --path URL --json` with `cache` as `RETRACE_CACHE_DIR`: its wall time;
/// panics unless it lists exactly [`RECORDINGS`] recordings.
fn ls_once(url: &str, cache: &Path) -> Duration {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(["ls", "--path", url, "--json"])
        .env_remove("RETRACE_RECORDING_PATH")
        .envs(retrace_test_services::s3::env())
        .env("RETRACE_CACHE_DIR", cache)
        .output()
        .expect("run retrace ls");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "retrace ls failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("ls --json prints a JSON array");
    assert_eq!(listed.len(), RECORDINGS, "ls lists every recording");
    took
}

/// Median, min and max.
fn spread(mut xs: Vec<f64>) -> (f64, f64, f64) {
    xs.sort_by(f64::total_cmp);
    (xs[xs.len() / 2], xs[0], xs[xs.len() - 1])
}

fn row(what: &str, unit: &str, xs: Vec<f64>) {
    let (median, min, max) = spread(xs);
    println!("| {what} | {median:.2} {unit} | {min:.2} | {max:.2} |");
}

/// Records `layout` into a fresh root, ships it [`RUNS`] times into fresh prefixes of
/// `bucket` and reads the first of them back; prints the tables.
fn bench(bucket: &str, layout: &Layout) {
    let root = tempfile::tempdir().expect("recording root");
    let started = Instant::now();
    record_root(root.path(), layout);
    let (segments, segment_bytes) = closed_segments(root.path());
    println!(
        "{}: recorded {RECORDINGS} recordings in {} sessions, segments closed at {} KiB: \
         {segments} closed segments, {:.1} MiB of segments and indexes, in {:.1} s",
        layout.name,
        layout.sessions,
        layout.segment_max_bytes >> 10,
        segment_bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let mut mb_per_s = Vec::new();
    let mut seg_per_s = Vec::new();
    let mut wall = Vec::new();
    let mut uploaded = 0;
    for run in 0..RUNS {
        let url = format!("{bucket}/{}-run-{run}", layout.name);
        let (took, shipped, bytes) = ship_once(root.path(), &url);
        assert_eq!(shipped, segments as u64, "every closed segment shipped");
        let secs = took.as_secs_f64();
        mb_per_s.push(bytes as f64 / 1e6 / secs);
        seg_per_s.push(shipped as f64 / secs);
        wall.push(secs);
        uploaded = bytes;
        println!(
            "  ship {url}: {secs:.2} s, {shipped} segments, {:.2} MB",
            bytes as f64 / 1e6
        );
    }

    let url = format!("{bucket}/{}-run-0", layout.name);
    let (all, indexes, metadata) = objects(&url);
    // All arms in each round, so that the VM's changes of speed fall on all alike.
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut list = Vec::new();
    let mut sync = Vec::new();
    let mut sequential = Vec::new();
    let mut downloaded = 0;
    for _ in 0..RUNS {
        let cache = tempfile::tempdir().expect("cache dir");
        cold.push(ls_once(&url, cache.path()).as_secs_f64());
        warm.push(ls_once(&url, cache.path()).as_secs_f64());
        list.push(list_once(&url).as_secs_f64());
        let (took, files) = sync_once(&url);
        sync.push(took.as_secs_f64());
        downloaded = files;
        sequential.push(gets_one_at_a_time(&url).as_secs_f64());
    }

    println!();
    println!(
        "{}: shipping {segments} segments ({:.2} MB uploaded a run, Parquet indexes and \
         metadata included), {RUNS} runs, each into a fresh prefix; reading the first \
         ({all} objects: {indexes} indexes, {metadata} metadata files), {RUNS} runs:",
        layout.name,
        uploaded as f64 / 1e6
    );
    println!();
    println!("| measure | median | min | max |");
    println!("|---|---|---|---|");
    row("ship: wall time", "s", wall);
    row("ship: throughput", "MB/s", mb_per_s);
    row("ship: segments", "segments/s", seg_per_s);
    let cold_median = spread(cold.clone()).0;
    row("`retrace ls --json`, cold cache", "s", cold);
    row("`retrace ls --json`, warm cache", "s", warm);
    row("bucket listing alone (in process)", "s", list);
    row(
        &format!("mirror sync, cold, in process ({downloaded} GETs, 16 at a time)"),
        "s",
        sync,
    );
    row(
        &format!("the same {downloaded} GETs one at a time (in process)"),
        "s",
        sequential,
    );
    println!();
    println!(
        "{}: goal of issue 20, cold `ls` of {RECORDINGS} recordings under {} s: {}",
        layout.name,
        LS_GOAL.as_secs(),
        if cold_median < LS_GOAL.as_secs_f64() {
            "met"
        } else {
            "MISSED"
        }
    );
    println!();
}

fn main() {
    // The arguments `cargo bench` passes (`--bench`, a filter) choose nothing here.
    let started = Instant::now();
    let bucket = retrace_test_services::s3::fresh_bucket("bench-ship");
    println!("moto at {}", retrace_test_services::s3::endpoint());
    let layouts = [
        Layout {
            name: "pods4-seg1m",
            sessions: 4,
            segment_max_bytes: 1 << 20,
        },
        Layout {
            name: "pods40-seg64k",
            sessions: 40,
            segment_max_bytes: 64 << 10,
        },
    ];
    for layout in &layouts {
        bench(&bucket, layout);
    }
    println!("total bench time {:.0} s", started.elapsed().as_secs_f64());
}
