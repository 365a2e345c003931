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
//! targets need arm 1), `E2E_ROUNDS=N` changes the number of rounds,
//! `E2E_REQUESTS=N` the measured requests per run.

#[path = "../support/cpu.rs"]
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

mod arms;
mod install;
mod load;
mod plan;
mod process;
mod report;
mod runner;
mod server;
mod service;

use arms::*;
use install::*;
use load::*;
use plan::*;
use process::*;
use report::*;
use runner::*;
use server::*;
use service::*;

fn main() {
    let plan = plan();
    let started = Instant::now();
    let root = std::env::var_os("E2E_DIR").map_or_else(std::env::temp_dir, Into::into);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let allocator = report::allocator().unwrap_or_else(|problem| {
        eprintln!("e2e: {problem}");
        std::process::exit(2)
    });
    println!("machine: {}", machine(&allocator));
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
