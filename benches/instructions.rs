//! A fixed workload for counting instructions with callgrind: repeatable on a shared
//! VM where timings drift, so it settles whether a change to the request path made
//! it cheaper.
//!
//! Runs `RETRACE_PROBE_REQUESTS` (default 5,000) requests through the record layer on
//! a current-thread runtime: 1 KiB JSON request and response bodies and an
//! `authorization` header, as in `benches/layers.rs`. `RETRACE_PROBE=none` runs the
//! handler without the layer, `bare` through the layer recording nothing (sample rate
//! 0), `server` records every request, `client` also makes one recorded outgoing call
//! per request (1 KiB JSON answer), `tentative` records every request tentatively
//! (tail keep: kept only if it fails) and keeps none. The request path runs on the
//! main thread, the writer on its own, so callgrind's per-thread totals separate them:
//!
//! ```text
//! cargo bench --bench instructions --no-run     # prints the executable's path
//! RETRACE_PROBE=server valgrind --tool=callgrind --separate-threads=yes \
//!     target/release/deps/instructions-<hash>
//! ```
//!
//! `RETRACE_PROBE_BODY=words` makes the three bodies JSON of words rather than numbers
//! (an order with its address and stock, as the e2e bench's realistic service
//! answers), where ordinary words begin like the short secret-name stems.
//!
//! The main thread's total (`callgrind.out.<pid>-01`) less that of the `bare` run,
//! over the request count, is what recording adds per request. Without valgrind it just
//! runs the workload once.
//!
//! It also counts heap allocations (a counting global allocator): at the end it prints
//! the allocations per request made on the request thread and on every other thread
//! (the writer) from the first request until the writer has shut down, so
//! `cargo bench --bench instructions` with each `RETRACE_PROBE` gives the allocation
//! figures without valgrind.

#[path = "support/bodies.rs"]
mod bodies;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use retrace::policy::{Policy, TailKeep};
use retrace::{Config, Recorder};
use retrace_tower::{ClientLayer, RecordBody, RecordLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

/// The system allocator, counting allocations (and reallocations, which may move):
/// all threads together, and this thread's own.
struct CountingAlloc;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    // `try_with`: a thread being torn down has no thread-locals left to count in.
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed on to `System` unchanged; counting allocates nothing.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `realloc`'s contract, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract, which is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// (all threads, this thread) allocations so far.
fn allocations() -> (u64, u64) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        THREAD_ALLOCATIONS.with(Cell::get),
    )
}

/// About 1 KiB of JSON, different for each seed: numbers, or with
/// `RETRACE_PROBE_BODY=words` words.
fn kib(seed: u8) -> Bytes {
    if std::env::var("RETRACE_PROBE_BODY").is_ok_and(|v| v == "words") {
        return Bytes::from(bodies::order_json(seed, 6));
    }
    let mut s = String::from("{\"items\":[");
    let mut i = usize::from(seed);
    while s.len() < 1000 {
        s.push_str(&format!("{{\"id\":{i},\"qty\":{}}},", i % 7));
        i += 1;
    }
    s.push_str("{}]}");
    Bytes::from(s)
}

fn main() {
    let requests: usize = std::env::var("RETRACE_PROBE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let mode = std::env::var("RETRACE_PROBE").unwrap_or_else(|_| "server".to_owned());
    assert!(
        matches!(
            mode.as_str(),
            "none" | "bare" | "server" | "client" | "tentative"
        ),
        "RETRACE_PROBE must be none, bare, server, client or tentative, not {mode:?}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a scratch directory");
    let config = Config::builder()
        .enabled(true)
        .service("instructions")
        .recording_path(dir.path())
        .sample_rate(if matches!(mode.as_str(), "none" | "bare" | "tentative") {
            0.0
        } else {
            1.0
        })
        .channel_capacity(65_536)
        .max_in_flight_bytes(1 << 30)
        .build()
        .expect("a valid config");
    let (recorder, guard) = Recorder::new(config).expect("the recorder starts");
    let upstream_answer = kib(3);
    let upstream = ClientLayer::new().layer(service_fn(move |_: Request<Full<Bytes>>| {
        let answer = upstream_answer.clone();
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(answer))
                    .expect("a response"),
            )
        }
    }));
    let with_call = mode == "client";
    let answer = kib(2);
    let handler = move |req: Request<RecordBody<Full<Bytes>>>| {
        let answer = answer.clone();
        let upstream = upstream.clone();
        async move {
            let _ = req.into_body().collect().await;
            if with_call {
                let call = Request::get("http://inventory.local/stock/7")
                    .body(Full::new(Bytes::new()))
                    .expect("a request");
                let reply = upstream.oneshot(call).await.expect("the upstream answers");
                let _ = reply.into_body().collect().await;
            }
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(answer))
                    .expect("a response"),
            )
        }
    };
    let body = kib(1);
    let request = || {
        Request::post("http://shop.local/orders")
            .header("content-type", "application/json")
            .header("authorization", "Bearer secret")
            .body(Full::new(body.clone()))
            .expect("a request")
    };
    let (all_before, own_before) = allocations();
    rt.block_on(async {
        if mode == "none" {
            // The same handler, its request body passed through as the layer would.
            let mut service = service_fn(move |req: Request<Full<Bytes>>| {
                handler(req.map(RecordBody::passthrough))
            });
            for _ in 0..requests {
                let response = service.ready().await.expect("ready").call(request());
                let _ = response.await.expect("served").into_body().collect().await;
            }
        } else {
            let layer = if mode == "tentative" {
                // Tail keep: every request recorded tentatively, kept only when it
                // fails; none does here.
                let policy = Policy::builder()
                    .sample_rate(0.0)
                    .tail(Some(TailKeep::default()))
                    .build()
                    .expect("a valid policy");
                RecordLayer::builder(recorder)
                    .policy(policy)
                    .build()
                    .expect("the layer builds")
            } else {
                RecordLayer::new(recorder)
            };
            let mut service = layer.layer(service_fn(handler));
            for _ in 0..requests {
                let response = service.ready().await.expect("ready").call(request());
                let _ = response.await.expect("served").into_body().collect().await;
            }
        }
    });
    let stats = guard.shutdown().expect("a clean shutdown");
    let (all_after, own_after) = allocations();
    let own = own_after - own_before;
    let others = (all_after - all_before) - own;
    let per_request = |n: u64| n as f64 / requests as f64;
    eprintln!(
        "{mode}: {requests} requests, {} recordings written, {} dropped; allocations per \
         request: {:.2} on the request thread, {:.2} on other threads (the writer)",
        stats.written,
        stats.dropped_total(),
        per_request(own),
        per_request(others),
    );
}
