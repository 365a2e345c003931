//! End-to-end overhead of the record layer against what teams use instead (issue 6).
//!
//! One process holds everything, on 127.0.0.1 only: the load generator (hyper-util's
//! client, a fixed number of requests at a fixed concurrency, each run bounded in time),
//! the service under test and, for the realistic service, a local upstream it calls.
//!
//! Ratios are paired. On a shared 2-core VM the same arm's throughput drifts by tens of
//! per cent over a minute (the host, not the code: arm 1 against itself shows it), so a
//! ratio of two medians taken minutes apart measures the drift. Each round therefore
//! runs every arm right next to a run of arm 1 (arm 1 first in even rounds, second in
//! odd ones), and an arm's ratio is the median over the rounds of its figure over that
//! neighbouring arm 1's. The tables give each figure's median over the rounds and that
//! paired ratio; the spread line shows how far arm 1 wandered.
//!
//! Services:
//! - **realistic**: axum, `POST /orders/{sku}` with a ~200 B JSON order; the handler calls
//!   `GET /inventory/{sku}` on the upstream through hyper-util's legacy `Client` (wrapped
//!   in [`ClientLayer`] in the Retrace arms), parses its ~1 KiB of JSON and answers
//!   ~1 KiB of JSON;
//! - **hello**: `GET /` answering `Hello, World!`, the worst case, where the layer's fixed
//!   cost is all there is.
//!
//! Arms ([`ARMS`]: data, one runner): 1 no layer; 2 layer with `RETRACE` off; 3 on at
//! sample rate 0; 4 at 10%; 5 at 100%; 6 everything tentative with keep-on-error and
//! nothing kept; 7 tower-http `TraceLayer` with JSON logs of request and response bodies
//! through tracing-appender's non-blocking writer; 8 a naive recorder
//! (`Mutex<BufWriter<File>>`, one serde_json line per request). Arms 7 and 8 log the
//! incoming request and its response only; Retrace also records the outgoing call and its
//! answer, so it stores more than they do. An extra arm, 5s, runs arm 5 with the writer
//! held still (a stalled disk) and a 16 MiB in-flight budget: the flood target.
//!
//! Figures per arm and run:
//! - throughput and latency (p50, p99) of the measured requests, as the load generator
//!   sees them;
//! - CPU: user + system seconds of the whole process (`getrusage`) per 1,000 requests,
//!   from the first measured request until the arm's writer has flushed what they left.
//!   The load generator and the upstream are in the same process, so the ratio to arm 1
//!   understates the layer's own share;
//! - peak RSS added: `VmHWM` at the end of the run less `VmRSS` at its start, the mark
//!   reset before each run (`malloc_trim`, then `/proc/self/clear_refs`). The growth,
//!   not the absolute peak: heap that an earlier arm fragmented stays resident and would
//!   otherwise be charged to the arms after it;
//! - bytes on disk per request: what the arm's files hold after its writer closed, over
//!   every request of the run (warm-up included, since those are recorded too);
//! - raw bytes per request: bytes on the wire of both hops, counted on the servers'
//!   sockets, the reference of the "a third of the raw bytes" target.
//!
//! The allocator matters as much as the layer: with glibc's malloc, threads that free
//! what another allocated contend for its arena, and a few extra small allocations per
//! request can move the whole process between two speeds. The heading names the
//! allocator in use; to measure under jemalloc, preload it (Debian's `libjemalloc2`):
//! `LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 cargo bench --bench e2e`.
//!
//! Run: `cargo bench --bench e2e` (about 4 minutes on 2 cores). `E2E_QUICK=1` (or
//! `cargo bench --bench e2e -- --quick`) does one short round in well under a minute.
//! `E2E_DIR` chooses where the arms write (default: the system temp directory);
//! `E2E_ARMS=1,5` and `E2E_SERVICE=realistic|hello` run a subset (for profiling: the
//! targets need arm 1), `E2E_ROUNDS=N` changes the number of rounds.

#[path = "support/cpu.rs"]
mod cpu;

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{Path as UrlPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use cpu::cpu_seconds;
use http::{Method, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use retrace::policy::{Policy, TailKeep};
use retrace::recorder::WriterPauseGuard;
use retrace::{Config, Recorder, RecorderGuard};
use retrace_tower::{ClientLayer, RecordLayer};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Level, Span};
use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The in-flight byte budget of the stalled-writer arm.
const FLOOD_BUDGET: usize = 16 << 20;
/// The index in [`ARMS`] of arm 1, the reference every ratio is taken against.
const BASE: usize = 0;
/// The fixed overhead the flood target allows on top of the budget (channel slots,
/// allocator slack), in MiB.
const FLOOD_OVERHEAD_MIB: f64 = 8.0;

// ---------------------------------------------------------------------------------------
// The plan: how much load, how many rounds.

/// How much to run.
struct Plan {
    rounds: usize,
    concurrency: usize,
    warmup: usize,
    /// Measured requests per run, by service.
    requests: fn(Service) -> usize,
    /// Longest one run's load may take.
    run_limit: Duration,
    /// No round starts past this.
    total_limit: Duration,
}

fn plan() -> Plan {
    let mut plan = base_plan();
    if let Some(rounds) = std::env::var("E2E_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        plan.rounds = rounds;
    }
    plan
}

fn base_plan() -> Plan {
    let quick = std::env::var("E2E_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
        || std::env::args().any(|a| a == "--quick");
    if quick {
        Plan {
            rounds: 1,
            concurrency: 16,
            warmup: 200,
            requests: |s| match s {
                Service::Realistic => 2_000,
                Service::Hello => 4_000,
            },
            run_limit: Duration::from_secs(20),
            total_limit: Duration::from_secs(45),
        }
    } else {
        Plan {
            rounds: 11,
            concurrency: 16,
            warmup: 1_000,
            // Arm 1 runs beside every other arm, so each round has twice the runs.
            requests: |s| match s {
                Service::Realistic => 25_000,
                Service::Hello => 75_000,
            },
            run_limit: Duration::from_secs(60),
            total_limit: Duration::from_secs(8 * 60),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Arms as data.

/// The service under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Realistic,
    Hello,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Self::Realistic => "realistic (axum + upstream call, ~1 KiB JSON)",
            Self::Hello => "hello-world (worst case)",
        }
    }
}

/// How Retrace is set up in an arm.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RetraceMode {
    /// `Config::builder().enabled(false)`.
    Off,
    /// On, ratio sampling at this rate.
    Sampled(f64),
    /// Everything tentative, kept on 5xx or a failed handler (none here).
    Tentative,
    /// 100% with the writer held still and a small in-flight budget.
    Stalled,
}

/// What records the traffic in an arm.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Capture {
    Nothing,
    Retrace(RetraceMode),
    TraceLogs,
    Naive,
}

/// One arm of the benchmark.
struct Arm {
    key: &'static str,
    label: &'static str,
    capture: Capture,
    realistic_only: bool,
}

const ARMS: &[Arm] = &[
    Arm {
        key: "1",
        label: "no layer",
        capture: Capture::Nothing,
        realistic_only: false,
    },
    Arm {
        key: "2",
        label: "layer, RETRACE off",
        capture: Capture::Retrace(RetraceMode::Off),
        realistic_only: false,
    },
    Arm {
        key: "3",
        label: "layer on, rate 0",
        capture: Capture::Retrace(RetraceMode::Sampled(0.0)),
        realistic_only: false,
    },
    Arm {
        key: "4",
        label: "rate 10%",
        capture: Capture::Retrace(RetraceMode::Sampled(0.1)),
        realistic_only: false,
    },
    Arm {
        key: "5",
        label: "rate 100%",
        capture: Capture::Retrace(RetraceMode::Sampled(1.0)),
        realistic_only: false,
    },
    Arm {
        key: "6",
        label: "tentative, nothing kept",
        capture: Capture::Retrace(RetraceMode::Tentative),
        realistic_only: false,
    },
    Arm {
        key: "7",
        label: "TraceLayer + JSON body logs",
        capture: Capture::TraceLogs,
        realistic_only: false,
    },
    Arm {
        key: "8",
        label: "naive Mutex<BufWriter> + serde_json",
        capture: Capture::Naive,
        realistic_only: false,
    },
    Arm {
        key: "5s",
        label: "100%, writer stalled, 16 MiB budget",
        capture: Capture::Retrace(RetraceMode::Stalled),
        realistic_only: true,
    },
];

// ---------------------------------------------------------------------------------------
// The arms' recorders, installed for one run.

/// A recorder of one arm, running for one run.
enum Installed {
    Nothing,
    Retrace {
        layer: RecordLayer,
        guard: RecorderGuard,
        pause: Option<WriterPauseGuard>,
    },
    TraceLogs {
        dispatch: Dispatch,
        guard: WorkerGuard,
        errors: ErrorCounter,
    },
    Naive(Arc<NaiveRecorder>),
}

/// What an arm left behind.
struct Drained {
    disk_bytes: u64,
    /// Records kept and lost, where the arm can tell.
    kept: Option<u64>,
    lost: Option<u64>,
}

impl Installed {
    fn install(capture: Capture, dir: &Path) -> Self {
        match capture {
            Capture::Nothing => Self::Nothing,
            Capture::Retrace(mode) => install_retrace(mode, dir),
            Capture::TraceLogs => install_trace_logs(dir),
            Capture::Naive => Self::Naive(Arc::new(NaiveRecorder::create(dir))),
        }
    }

    /// Whether the service's upstream client goes through [`ClientLayer`].
    fn records_calls(&self) -> bool {
        matches!(self, Self::Retrace { .. })
    }

    /// The service with this arm's layers.
    fn wrap(&self, app: Router) -> Router {
        match self {
            Self::Nothing => app,
            Self::Retrace { layer, .. } => app.layer(layer.clone()),
            Self::TraceLogs { .. } => app.layer(middleware::from_fn(log_request_body)).layer(
                TraceLayer::new_for_http()
                    .make_span_with(
                        DefaultMakeSpan::new()
                            .level(Level::INFO)
                            .include_headers(true),
                    )
                    .on_request(DefaultOnRequest::new().level(Level::INFO))
                    .on_response(
                        DefaultOnResponse::new()
                            .level(Level::INFO)
                            .include_headers(true),
                    )
                    .on_body_chunk(log_response_chunk),
            ),
            Self::Naive(recorder) => app.layer(middleware::from_fn_with_state(
                Arc::clone(recorder),
                naive_record,
            )),
        }
    }

    /// The subscriber the service's connections run under.
    fn dispatch(&self) -> Option<Dispatch> {
        match self {
            Self::TraceLogs { dispatch, .. } => Some(dispatch.clone()),
            _ => None,
        }
    }

    /// Flushes and closes what the arm writes; blocks until it is on disk.
    fn drain(self, dir: &Path) -> Drained {
        let (kept, lost) = match self {
            Self::Nothing => (None, None),
            Self::Retrace {
                layer,
                guard,
                pause,
            } => {
                drop(layer);
                drop(pause);
                let stats = guard.shutdown().expect("the recorder shuts down cleanly");
                (Some(stats.written), Some(stats.dropped_total()))
            }
            Self::TraceLogs {
                dispatch,
                guard,
                errors,
            } => {
                drop(dispatch);
                drop(guard);
                (None, Some(errors.dropped_lines() as u64))
            }
            Self::Naive(recorder) => {
                let mut out = recorder.out.lock().expect("naive recorder lock");
                out.flush().expect("flushing the naive recorder");
                (Some(recorder.entries.load(Ordering::Relaxed)), None)
            }
        };
        Drained {
            disk_bytes: dir_size(dir),
            kept,
            lost,
        }
    }
}

fn install_retrace(mode: RetraceMode, dir: &Path) -> Installed {
    let mut config = Config::builder()
        .enabled(mode != RetraceMode::Off)
        .service("e2e")
        .recording_path(dir);
    config = match mode {
        RetraceMode::Off | RetraceMode::Tentative => config,
        RetraceMode::Sampled(rate) => config.sample_rate(rate),
        RetraceMode::Stalled => config
            .sample_rate(1.0)
            .channel_capacity(65_536)
            .max_in_flight_bytes(FLOOD_BUDGET),
    };
    let (recorder, guard) =
        Recorder::new(config.build().expect("valid config")).expect("the recorder starts");
    let layer = match mode {
        RetraceMode::Tentative => RecordLayer::builder(recorder.clone())
            .policy(
                Policy::builder()
                    .sample_rate(0.0)
                    .tail(Some(TailKeep::default()))
                    .build()
                    .expect("valid policy"),
            )
            .build()
            .expect("the record layer builds"),
        _ => RecordLayer::new(recorder.clone()),
    };
    let pause = if mode == RetraceMode::Stalled {
        recorder.pause_writer()
    } else {
        None
    };
    Installed::Retrace {
        layer,
        guard,
        pause,
    }
}

fn install_trace_logs(dir: &Path) -> Installed {
    let file = File::create(dir.join("requests.log")).expect("creating the log file");
    let (writer, guard) = tracing_appender::non_blocking(file);
    let errors = writer.error_counter();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(Level::INFO)
        .with_writer(writer)
        .finish();
    Installed::TraceLogs {
        dispatch: Dispatch::new(subscriber),
        guard,
        errors,
    }
}

/// Arm 7: logs the request body (`TraceLayer` only sees the response's).
async fn log_request_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    tracing::info!(body = %String::from_utf8_lossy(&bytes), "request body");
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Arm 7: logs each response body chunk.
fn log_response_chunk(chunk: &Bytes, _latency: Duration, _span: &Span) {
    tracing::info!(body = %String::from_utf8_lossy(chunk), "response body chunk");
}

/// Arm 8: what one writes first: a mutex around a buffered file, a JSON line per request.
struct NaiveRecorder {
    out: Mutex<BufWriter<File>>,
    entries: AtomicU64,
}

#[derive(Serialize)]
struct NaiveEntry<'a> {
    duration_us: u64,
    method: &'a str,
    uri: String,
    request_headers: Vec<(&'a str, Cow<'a, str>)>,
    request_body: Cow<'a, str>,
    status: u16,
    response_headers: Vec<(&'a str, Cow<'a, str>)>,
    response_body: Cow<'a, str>,
}

impl NaiveRecorder {
    fn create(dir: &Path) -> Self {
        let file = File::create(dir.join("recordings.jsonl")).expect("creating the naive file");
        Self {
            out: Mutex::new(BufWriter::new(file)),
            entries: AtomicU64::new(0),
        }
    }

    fn write(&self, entry: &NaiveEntry<'_>) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        if serde_json::to_writer(&mut *out, entry).is_ok() && out.write_all(b"\n").is_ok() {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn header_list(headers: &http::HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

async fn naive_record(
    State(recorder): State<Arc<NaiveRecorder>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Ok(request_body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let method = parts.method.clone();
    let uri = parts.uri.to_string();
    let request_headers = parts.headers.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(request_body.clone())))
        .await;
    let (parts, body) = response.into_parts();
    let Ok(response_body) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    recorder.write(&NaiveEntry {
        duration_us: started.elapsed().as_micros() as u64,
        method: method.as_str(),
        uri,
        request_headers: header_list(&request_headers),
        request_body: String::from_utf8_lossy(&request_body),
        status: parts.status.as_u16(),
        response_headers: header_list(&parts.headers),
        response_body: String::from_utf8_lossy(&response_body),
    });
    Response::from_parts(parts, Body::from(response_body))
}

// ---------------------------------------------------------------------------------------
// The services.

#[derive(Serialize, Deserialize)]
struct Order {
    order_id: String,
    customer: String,
    quantity: u32,
    note: String,
    address: Address,
}

#[derive(Clone, Serialize, Deserialize)]
struct Address {
    street: String,
    city: String,
    postcode: String,
}

#[derive(Serialize, Deserialize)]
struct Inventory {
    sku: u32,
    name: String,
    currency: String,
    unit_price_cents: u64,
    stock: Vec<Stock>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Stock {
    warehouse: String,
    city: String,
    available: u32,
    reserved: u32,
    eta_days: u32,
}

#[derive(Serialize)]
struct Quote {
    order_id: String,
    customer: String,
    sku: u32,
    name: String,
    quantity: u32,
    currency: String,
    total_cents: u64,
    ship_to: Address,
    options: Vec<ShipOption>,
}

#[derive(Serialize)]
struct ShipOption {
    #[serde(flatten)]
    stock: Stock,
    can_fulfil: bool,
}

/// The upstream client, boxed so recorded and bare arms share the handler.
type UpstreamClient =
    BoxCloneSyncService<http::Request<Full<Bytes>>, http::Response<Body>, BoxError>;

#[derive(Clone)]
struct Front {
    upstream: UpstreamClient,
    base: Arc<str>,
}

fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c
}

fn upstream_client(recorded: bool) -> UpstreamClient {
    let client = HttpClient::builder(TokioExecutor::new()).build(connector());
    if recorded {
        boxed(
            ServiceBuilder::new()
                .layer(ClientLayer::new())
                .service(client),
        )
    } else {
        boxed(client)
    }
}

fn boxed<S, B>(client: S) -> UpstreamClient
where
    S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        client
            .map_response(|r| r.map(Body::new))
            .map_err(Into::into),
    )
}

async fn order(
    State(front): State<Front>,
    UrlPath(sku): UrlPath<u32>,
    Json(order): Json<Order>,
) -> Result<Json<Quote>, StatusCode> {
    let call = http::Request::get(format!("{}/inventory/{sku}", front.base))
        .body(Full::new(Bytes::new()))
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let answer = front
        .upstream
        .oneshot(call)
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    if !answer.status().is_success() {
        return Err(StatusCode::BAD_GATEWAY);
    }
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?
        .to_bytes();
    let inventory: Inventory =
        serde_json::from_slice(&body).map_err(|_| StatusCode::BAD_GATEWAY)?;
    let options: Vec<ShipOption> = inventory
        .stock
        .into_iter()
        .map(|stock| ShipOption {
            can_fulfil: stock.available >= order.quantity,
            stock,
        })
        .collect();
    Ok(Json(Quote {
        order_id: order.order_id,
        customer: order.customer,
        sku,
        name: inventory.name,
        quantity: order.quantity,
        currency: inventory.currency,
        total_cents: inventory.unit_price_cents * u64::from(order.quantity),
        ship_to: order.address,
        options,
    }))
}

/// The upstream: ~1 KiB of inventory, different for every call.
async fn inventory(State(calls): State<Arc<AtomicU64>>, UrlPath(sku): UrlPath<u32>) -> Response {
    let n = calls.fetch_add(1, Ordering::Relaxed);
    let cities = [
        "Lyon", "Porto", "Gdansk", "Leipzig", "Turin", "Ghent", "Malmo", "Cork",
    ];
    let mix = |k: u64| (n ^ (u64::from(sku) * 2_654_435_761)).wrapping_mul(k + 1) % 997;
    let inventory = Inventory {
        sku,
        name: format!("Stainless steel water bottle, 750 ml, model {sku:05}"),
        currency: "EUR".to_owned(),
        unit_price_cents: 1_000 + mix(1) * 7,
        stock: cities
            .iter()
            .enumerate()
            .map(|(i, city)| Stock {
                warehouse: format!("WH-{:03}-{}", (sku as usize * 7 + i) % 1000, &city[..2]),
                city: (*city).to_owned(),
                available: (mix(i as u64 + 2) % 60) as u32,
                reserved: (mix(i as u64 + 11) % 9) as u32,
                eta_days: (mix(i as u64 + 21) % 12) as u32,
            })
            .collect(),
    };
    Json(inventory).into_response()
}

fn upstream_app() -> Router {
    Router::new()
        .route("/inventory/{sku}", get(inventory))
        .with_state(Arc::new(AtomicU64::new(0)))
}

fn front_app(service: Service, upstream: Option<(UpstreamClient, SocketAddr)>) -> Router {
    match (service, upstream) {
        (Service::Realistic, Some((client, addr))) => Router::new()
            .route("/orders/{sku}", post(order))
            .with_state(Front {
                upstream: client,
                base: format!("http://{addr}").into(),
            }),
        _ => Router::new().route("/", get(|| async { "Hello, World!" })),
    }
}

// ---------------------------------------------------------------------------------------
// Servers: an accept loop serving an axum app, counting the bytes on its sockets.

/// A socket that counts the bytes through it.
struct Counted {
    inner: TcpStream,
    bytes: Arc<AtomicU64>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A running server; [`stop`](Self::stop) ends it and every connection.
struct Server {
    addr: SocketAddr,
    wire_bytes: Arc<AtomicU64>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(app: Router, dispatch: Option<Dispatch>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1");
        let addr = listener.local_addr().expect("the listener's address");
        let wire_bytes = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = oneshot::channel();
        let counter = Arc::clone(&wire_bytes);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let stream = tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                while connections.try_join_next().is_some() {}
                let _ = stream.set_nodelay(true);
                let io = TokioIo::new(Counted {
                    inner: stream,
                    bytes: Arc::clone(&counter),
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(io, TowerToHyperService::new(app.clone()));
                match &dispatch {
                    Some(d) => connections.spawn(conn.with_subscriber(d.clone())),
                    None => connections.spawn(conn),
                };
            }
            connections.shutdown().await;
        });
        Self {
            addr,
            wire_bytes,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

// ---------------------------------------------------------------------------------------
// The load generator.

type LoadClient = HttpClient<HttpConnector, Full<Bytes>>;

/// The requests sent to one service: a small rotation so bodies and paths vary.
struct Target {
    method: Method,
    requests: Vec<(Uri, Bytes)>,
    json: bool,
}

impl Target {
    fn new(service: Service, addr: SocketAddr) -> Self {
        match service {
            Service::Realistic => Self {
                method: Method::POST,
                json: true,
                requests: (0..256u32)
                    .map(|i| {
                        let sku = (i * 37) % 1000;
                        let order = Order {
                            order_id: format!("ord-{:08}", i * 7919),
                            customer: format!("customer-{:05}", i * 131 % 50_000),
                            quantity: 1 + i % 4,
                            note: "leave with the neighbour if nobody answers".to_owned(),
                            address: Address {
                                street: format!("{} rue des Tanneurs", 1 + i % 90),
                                city: "Lyon".to_owned(),
                                postcode: format!("690{:02}", i % 10),
                            },
                        };
                        let body = serde_json::to_vec(&order).expect("an order serialises");
                        let uri = format!("http://{addr}/orders/{sku}")
                            .parse()
                            .expect("a valid uri");
                        (uri, Bytes::from(body))
                    })
                    .collect(),
            },
            Service::Hello => Self {
                method: Method::GET,
                json: false,
                requests: vec![(
                    format!("http://{addr}/").parse().expect("a valid uri"),
                    Bytes::new(),
                )],
            },
        }
    }

    fn request(&self, i: usize) -> http::Request<Full<Bytes>> {
        let (uri, body) = &self.requests[i % self.requests.len()];
        let mut req = http::Request::builder()
            .method(self.method.clone())
            .uri(uri.clone());
        if self.json {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        req.body(Full::new(body.clone())).expect("a valid request")
    }
}

/// What one load phase measured.
struct Load {
    latencies_ns: Vec<u64>,
    failures: u64,
    elapsed: Duration,
    response_bytes: usize,
}

/// Sends `count` requests from `concurrency` loops, each waiting for its answer.
async fn drive(
    client: &LoadClient,
    target: &Arc<Target>,
    count: usize,
    concurrency: usize,
) -> Load {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut loops = JoinSet::new();
    for _ in 0..concurrency {
        let (client, target, next) = (client.clone(), Arc::clone(target), Arc::clone(&next));
        loops.spawn(async move {
            let mut latencies = Vec::with_capacity(count / concurrency + 1);
            let (mut failures, mut response_bytes) = (0u64, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sent = Instant::now();
                let ok = match client.request(target.request(i)).await {
                    Ok(resp) if resp.status().is_success() => {
                        match resp.into_body().collect().await {
                            Ok(body) => {
                                response_bytes = body.to_bytes().len();
                                true
                            }
                            Err(_) => false,
                        }
                    }
                    _ => false,
                };
                latencies.push(sent.elapsed().as_nanos() as u64);
                failures += u64::from(!ok);
            }
            (latencies, failures, response_bytes)
        });
    }
    let mut load = Load {
        latencies_ns: Vec::with_capacity(count),
        failures: 0,
        elapsed: Duration::ZERO,
        response_bytes: 0,
    };
    while let Some(done) = loops.join_next().await {
        let (latencies, failures, response_bytes) = done.expect("a load loop");
        load.latencies_ns.extend(latencies);
        load.failures += failures;
        load.response_bytes = load.response_bytes.max(response_bytes);
    }
    load.elapsed = started.elapsed();
    load
}

// ---------------------------------------------------------------------------------------
// Process figures.

/// A resident-set figure of `/proc/self/status` (`VmHWM`: the peak, `VmRSS`: now) in
/// MiB.
fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Returns freed heap to the system and restarts the peak-RSS mark from here.
fn reset_peak_rss() {
    // SAFETY: malloc_trim only releases free memory of glibc's allocator; it touches no
    // live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The runner: one arm, one service, one run.

/// The figures of one run.
#[derive(Clone, Debug)]
struct Sample {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_per_1k: f64,
    peak_rss_mib: f64,
    disk_per_req: f64,
    raw_per_req: f64,
    response_bytes: usize,
    failures: u64,
    kept: Option<u64>,
    lost: Option<u64>,
}

fn percentile_us(sorted_ns: &[u64], pct: usize) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let i = (sorted_ns.len() * pct / 100).min(sorted_ns.len() - 1);
    sorted_ns[i] as f64 / 1e3
}

fn run(
    rt: &tokio::runtime::Runtime,
    root: &Path,
    service: Service,
    arm: &Arm,
    plan: &Plan,
) -> Sample {
    let dir = tempfile::Builder::new()
        .prefix("retrace-e2e-")
        .tempdir_in(root)
        .expect("a scratch directory");
    let installed = Installed::install(arm.capture, dir.path());
    let count = (plan.requests)(service);
    reset_peak_rss();
    let rss_start = rss_mib("VmRSS:");
    let (load, cpu_start, raw_bytes) = rt.block_on(async {
        let upstream = match service {
            Service::Realistic => Some(Server::start(upstream_app(), None).await),
            Service::Hello => None,
        };
        let app = front_app(
            service,
            upstream
                .as_ref()
                .map(|u| (upstream_client(installed.records_calls()), u.addr)),
        );
        let front = Server::start(installed.wrap(app), installed.dispatch()).await;
        let client: LoadClient = HttpClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(plan.concurrency)
            .build(connector());
        let target = Arc::new(Target::new(service, front.addr));
        let wire = |front: &Server, upstream: &Option<Server>| {
            front.wire_bytes.load(Ordering::Relaxed)
                + upstream
                    .as_ref()
                    .map_or(0, |u| u.wire_bytes.load(Ordering::Relaxed))
        };
        let warm = drive(&client, &target, plan.warmup, plan.concurrency).await;
        assert_eq!(warm.failures, 0, "arm {}: warm-up requests failed", arm.key);
        let wire_start = wire(&front, &upstream);
        let cpu_start = cpu_seconds();
        let load = tokio::time::timeout(
            plan.run_limit,
            drive(&client, &target, count, plan.concurrency),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "arm {} on {:?} took longer than {:?}",
                arm.key, service, plan.run_limit
            )
        });
        let raw_bytes = wire(&front, &upstream) - wire_start;
        drop(client);
        front.stop().await;
        if let Some(u) = upstream {
            u.stop().await;
        }
        (load, cpu_start, raw_bytes)
    });
    let drained = installed.drain(dir.path());
    let cpu = cpu_seconds() - cpu_start;
    let peak_rss_mib = rss_mib("VmHWM:") - rss_start;
    let mut latencies = load.latencies_ns;
    latencies.sort_unstable();
    let served = (count + plan.warmup) as f64;
    Sample {
        rps: count as f64 / load.elapsed.as_secs_f64(),
        p50_us: percentile_us(&latencies, 50),
        p99_us: percentile_us(&latencies, 99),
        cpu_per_1k: cpu / count as f64 * 1000.0,
        peak_rss_mib,
        disk_per_req: drained.disk_bytes as f64 / served,
        raw_per_req: raw_bytes as f64 / count as f64,
        response_bytes: load.response_bytes,
        failures: load.failures,
        kept: drained.kept,
        lost: drained.lost,
    }
}

// ---------------------------------------------------------------------------------------
// Reporting.

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// The medians of one arm's runs.
struct Summary {
    key: &'static str,
    label: &'static str,
    capture: Capture,
    rounds: usize,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_per_1k: f64,
    peak_rss_mib: f64,
    disk_per_req: f64,
    raw_per_req: f64,
    response_bytes: usize,
    failures: u64,
    kept: Option<u64>,
    lost: Option<u64>,
    /// Throughput of each round over this arm's median: the spread.
    rps_spread: (f64, f64),
    /// Medians of this arm's figures over those of the arm 1 run beside it.
    paired: Ratios,
}

/// One arm's figures over those of the arm 1 run next to it (or their medians).
#[derive(Clone, Copy, Debug)]
struct Ratios {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu: f64,
    rss: f64,
}

impl Ratios {
    const ONE: Ratios = Ratios {
        rps: 1.0,
        p50: 1.0,
        p99: 1.0,
        cpu: 1.0,
        rss: 1.0,
    };

    fn of(arm: &Sample, base: &Sample) -> Self {
        Self {
            rps: arm.rps / base.rps,
            p50: arm.p50_us / base.p50_us,
            p99: arm.p99_us / base.p99_us,
            cpu: arm.cpu_per_1k / base.cpu_per_1k,
            rss: arm.peak_rss_mib / base.peak_rss_mib,
        }
    }

    /// The median of each ratio; `None` without pairs.
    fn median_of(pairs: &[Ratios]) -> Option<Self> {
        if pairs.is_empty() {
            return None;
        }
        let m = |f: fn(&Ratios) -> f64| median(pairs.iter().map(f));
        Some(Self {
            rps: m(|r| r.rps),
            p50: m(|r| r.p50),
            p99: m(|r| r.p99),
            cpu: m(|r| r.cpu),
            rss: m(|r| r.rss),
        })
    }
}

/// `pairs` are the arm's ratios to the arm 1 runs beside it; arm 1 itself, and an arm
/// run without arm 1 (`E2E_ARMS` without `1`), have none and show 1.0.
fn summarise(arm: &Arm, samples: &[Sample], pairs: &[Ratios]) -> Summary {
    let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f));
    let rps = m(|s| s.rps);
    let sum_opt = |f: fn(&Sample) -> Option<u64>| samples.iter().map(f).sum::<Option<u64>>();
    Summary {
        key: arm.key,
        label: arm.label,
        capture: arm.capture,
        rounds: samples.len(),
        rps,
        p50_us: m(|s| s.p50_us),
        p99_us: m(|s| s.p99_us),
        cpu_per_1k: m(|s| s.cpu_per_1k),
        peak_rss_mib: m(|s| s.peak_rss_mib),
        disk_per_req: m(|s| s.disk_per_req),
        raw_per_req: m(|s| s.raw_per_req),
        response_bytes: samples.iter().map(|s| s.response_bytes).max().unwrap_or(0),
        failures: samples.iter().map(|s| s.failures).sum(),
        kept: sum_opt(|s| s.kept),
        lost: sum_opt(|s| s.lost),
        rps_spread: (
            samples
                .iter()
                .map(|s| s.rps / rps)
                .fold(f64::INFINITY, f64::min),
            samples.iter().map(|s| s.rps / rps).fold(0.0, f64::max),
        ),
        paired: Ratios::median_of(pairs).unwrap_or(Ratios::ONE),
    }
}

fn print_table(service: Service, rows: &[Summary]) {
    let Some(base) = rows.iter().find(|r| r.capture == Capture::Nothing) else {
        return;
    };
    let raw = base.raw_per_req;
    println!(
        "\n### {} (response {} B, raw {:.0} B/request on the wire)\n",
        service.name(),
        base.response_bytes,
        raw
    );
    println!(
        "| arm | | req/s | p50 µs | p99 µs | CPU s / 1k req | peak RSS added MiB | disk B/req (× raw) | kept / lost |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let cell = |v: f64, ratio: f64, digits: usize| format!("{v:.digits$} ({ratio:.3}×)");
        let counts = match (r.kept, r.lost) {
            (None, None) => "–".to_owned(),
            (k, l) => format!(
                "{} / {}",
                k.map_or("–".to_owned(), |k| k.to_string()),
                l.map_or("–".to_owned(), |l| l.to_string())
            ),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} ({:.3}×) | {}{} |",
            r.key,
            r.label,
            cell(r.rps, r.paired.rps, 0),
            cell(r.p50_us, r.paired.p50, 0),
            cell(r.p99_us, r.paired.p99, 0),
            cell(r.cpu_per_1k, r.paired.cpu, 3),
            // A ratio to a growth of almost nothing (under jemalloc, say) says nothing.
            if base.peak_rss_mib.abs() < 0.5 {
                format!("{:.1}", r.peak_rss_mib)
            } else {
                cell(r.peak_rss_mib, r.paired.rss, 1)
            },
            r.disk_per_req,
            r.disk_per_req / raw,
            counts,
            if r.failures > 0 {
                format!(", {} FAILED requests", r.failures)
            } else {
                String::new()
            }
        );
    }
    println!(
        "\nRatios (×) are medians of paired ratios: each arm's figure over the arm 1 run \
         beside it, in the same round. Arm 1 ran {} times; its throughput spread: {:.3}× \
         to {:.3}× of its median.",
        base.rounds, base.rps_spread.0, base.rps_spread.1
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn print_targets(realistic: &[Summary], hello: &[Summary]) {
    let find = |rows: &[Summary], key: &str| rows.iter().position(|r| r.key == key);
    let (Some(b), Some(a5)) = (find(realistic, "1"), find(realistic, "5")) else {
        return;
    };
    let base = &realistic[b];
    let arm5 = &realistic[a5];
    let ratio = |key: &str| find(realistic, key).map_or(f64::NAN, |i| realistic[i].paired.rps);
    println!("\n### Targets (realistic service unless said; paired ratios)\n");
    let r5 = arm5.paired.rps;
    let p99 = arm5.paired.p99;
    println!(
        "- arm 5 throughput ≥ 0.95× arm 1: {r5:.3}× — {}",
        verdict(r5 >= 0.95)
    );
    println!(
        "- arm 5 p99 ≤ 1.05× arm 1: {p99:.3}× ({:.0} vs {:.0} µs) — {}",
        arm5.p99_us,
        base.p99_us,
        verdict(p99 <= 1.05)
    );
    for key in ["4", "2", "3", "6"] {
        if find(realistic, key).is_none() {
            continue;
        }
        let r = ratio(key);
        println!(
            "- arm {key} throughput ≥ 0.99× arm 1: {r:.3}× — {}",
            verdict(r >= 0.99)
        );
    }
    if let Some(h5) = find(hello, "5") {
        let r = hello[h5].paired.rps;
        println!(
            "- hello-world at 100% ≥ 0.85× its no-layer throughput: {r:.3}× — {}",
            verdict(r >= 0.85)
        );
    }
    for key in ["7", "8"] {
        if let Some(i) = find(realistic, key) {
            let other = &realistic[i];
            println!(
                "- arm 5 beats arm {key} on throughput ({:.3}× vs {:.3}× of arm 1, paired; medians {:.0} vs {:.0} req/s) and bytes per request ({:.0} vs {:.0} B) — {}",
                arm5.paired.rps,
                other.paired.rps,
                arm5.rps,
                other.rps,
                arm5.disk_per_req,
                other.disk_per_req,
                verdict(
                    arm5.paired.rps > other.paired.rps && arm5.disk_per_req < other.disk_per_req
                )
            );
        }
    }
    let share = arm5.disk_per_req / base.raw_per_req;
    println!(
        "- arm 5 bytes on disk ≤ 1/3 of raw request + response bytes: {:.0} of {:.0} B = {share:.3}× — {}",
        arm5.disk_per_req,
        base.raw_per_req,
        verdict(share <= 1.0 / 3.0)
    );
    if let Some(i) = find(realistic, "5s") {
        let stalled = &realistic[i];
        let growth = stalled.peak_rss_mib - arm5.peak_rss_mib;
        let budget = FLOOD_BUDGET as f64 / (1 << 20) as f64;
        let p99 = stalled.paired.p99 / arm5.paired.p99;
        println!(
            "- stalled writer: peak RSS added {:.1} MiB = arm 5's ({:.1} MiB) {:+.1} MiB, budget {budget:.0} MiB + {FLOOD_OVERHEAD_MIB} MiB allowed overhead — {}; p99 {:.0} µs = {p99:.3}× arm 5 — {}",
            stalled.peak_rss_mib,
            arm5.peak_rss_mib,
            growth,
            verdict(growth <= budget + FLOOD_OVERHEAD_MIB),
            stalled.p99_us,
            verdict(p99 <= 1.05)
        );
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or("?".to_owned(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, {cpu}, {mem} RAM, allocator: {}",
        allocator()
    )
}

/// The allocator serving this process: glibc's malloc unless another one is preloaded.
fn allocator() -> String {
    match std::env::var("LD_PRELOAD") {
        Ok(preload) if preload.contains("jemalloc") => "jemalloc (LD_PRELOAD)".to_owned(),
        Ok(preload) if preload.contains("mimalloc") => "mimalloc (LD_PRELOAD)".to_owned(),
        Ok(preload) if !preload.trim().is_empty() => format!("LD_PRELOAD={preload}"),
        _ => "glibc malloc".to_owned(),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

fn main() {
    let plan = plan();
    let started = Instant::now();
    let root = std::env::var_os("E2E_DIR").map_or_else(std::env::temp_dir, Into::into);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("machine: {}", machine());
    println!("load average at start: {}", load_average());
    println!(
        "plan: {} rounds, concurrency {}, {} / {} measured requests per run (realistic / hello), {} warm-up",
        plan.rounds,
        plan.concurrency,
        (plan.requests)(Service::Realistic),
        (plan.requests)(Service::Hello),
        plan.warmup
    );
    let services = [Service::Realistic, Service::Hello];
    let wanted_arms: Option<Vec<String>> = std::env::var("E2E_ARMS")
        .ok()
        .map(|v| v.split(',').map(|k| k.trim().to_owned()).collect());
    let wanted_service = std::env::var("E2E_SERVICE").ok();
    let selected = |service: Service, arm: &Arm| {
        (!arm.realistic_only || service == Service::Realistic)
            && wanted_arms
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k == arm.key))
            && wanted_service.as_deref().is_none_or(|w| match service {
                Service::Realistic => w == "realistic",
                Service::Hello => w == "hello",
            })
    };
    let mut samples: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); ARMS.len()]; services.len()];
    let mut pairs: Vec<Vec<Vec<Ratios>>> = vec![vec![Vec::new(); ARMS.len()]; services.len()];
    let run_one = |service: Service, a: usize, round: usize| {
        let arm = &ARMS[a];
        let sample = run(&rt, &root, service, arm, &plan);
        println!(
            "round {} {:?} arm {:>2}: {:>7.0} req/s  p50 {:>6.0} µs  p99 {:>6.0} µs  cpu {:.3} s/1k  rss +{:>6.1} MiB  disk {:>6.0} B/req",
            round + 1,
            service,
            arm.key,
            sample.rps,
            sample.p50_us,
            sample.p99_us,
            sample.cpu_per_1k,
            sample.peak_rss_mib,
            sample.disk_per_req
        );
        sample
    };
    for round in 0..plan.rounds {
        if started.elapsed() > plan.total_limit {
            println!("time bound reached: stopping after {round} rounds");
            break;
        }
        for (s, &service) in services.iter().enumerate() {
            let base_wanted = selected(service, &ARMS[BASE]);
            let others: Vec<usize> = (0..ARMS.len())
                .map(|k| (k + round) % ARMS.len())
                .filter(|&a| a != BASE && selected(service, &ARMS[a]))
                .collect();
            if others.is_empty() && base_wanted {
                let sample = run_one(service, BASE, round);
                samples[s][BASE].push(sample);
            }
            for a in others {
                if !base_wanted {
                    let sample = run_one(service, a, round);
                    samples[s][a].push(sample);
                    continue;
                }
                let (base, arm) = if round.is_multiple_of(2) {
                    let base = run_one(service, BASE, round);
                    (base, run_one(service, a, round))
                } else {
                    let arm = run_one(service, a, round);
                    (run_one(service, BASE, round), arm)
                };
                pairs[s][a].push(Ratios::of(&arm, &base));
                samples[s][BASE].push(base);
                samples[s][a].push(arm);
            }
        }
    }
    let summaries: Vec<Vec<Summary>> = services
        .iter()
        .enumerate()
        .map(|(s, _)| {
            ARMS.iter()
                .enumerate()
                .filter(|(a, _)| !samples[s][*a].is_empty())
                .map(|(a, arm)| summarise(arm, &samples[s][a], &pairs[s][a]))
                .collect()
        })
        .collect();
    for (service, rows) in services.iter().zip(&summaries) {
        print_table(*service, rows);
    }
    print_targets(&summaries[0], &summaries[1]);
    println!(
        "\nwhole run: {:.0} s; load average at end: {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
}
