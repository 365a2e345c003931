//! End-to-end overhead of recording on the database-backed example (issue 15): the
//! blogging service of `examples/sqlx_service` (axum, sqlx through retrace-sqlx on a
//! real PostgreSQL started by `scripts/postgres`, `#[retrace::record]` on its tag
//! repository) under a closed loop of reads, with and without the record layer.
//!
//! Arms: `none` (no layer), `off` (the layer with `enabled(false)`), `10%` and `100%`
//! (ratio sampling). The load is a fixed mix of four reads, one after the other by
//! index: a page of ten articles with their tags and favourite counts (`GET
//! /articles?limit=10`, several queries), one article (`GET /articles/{slug}`), its
//! comments, and the popular tags (`GET /tags`, the recorded repository function), on
//! a database seeded by the example's own traffic.
//!
//! As in `benches/e2e/`, ratios are paired: the VM's speed drifts by more than the
//! differences measured, so each round runs every arm right next to a run of `none`
//! (the order alternating between rounds), and an arm's ratio is the median over the
//! rounds of its figure over its neighbouring `none`'s. Figures: throughput
//! (requests/s as the load generator sees them), CPU of the whole process per request
//! (`getrusage`; load generator and PostgreSQL's client side included, PostgreSQL's
//! own processes not), p99 latency.
//!
//! Run: `cargo bench --bench sqlx_service` (about 2 minutes on 2 cores);
//! `SQLX_BENCH_ROUNDS=N` (default 5), `SQLX_BENCH_REQUESTS=N` per run (default 3,000),
//! `SQLX_BENCH_ARMS=100%` (or `off,10%`...) for a subset of the arms, each still paired
//! with `none` (for profiling), `E2E_QUICK=1` or `-- --quick` for one short round.

extern crate reqwest012 as reqwest;
extern crate reqwest_middleware04 as reqwest_middleware;

#[path = "../examples/sqlx_service/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "support/cpu.rs"]
mod cpu;
#[path = "../examples/sqlx_service/serve.rs"]
#[allow(dead_code)]
mod serve;
#[path = "../examples/sqlx_service/traffic.rs"]
#[allow(dead_code)]
mod traffic;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use retrace::{Config, Recorder};
use retrace_tower::RecordLayer;
use sqlx::PgPool;

use cpu::cpu_seconds;
use serve::{http_client, moderation, pool_with_schema, serve};

/// How the service is set up in an arm.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Arm {
    /// No record layer.
    None,
    /// The layer, with `enabled(false)`.
    Off,
    /// The layer, recording this share of requests.
    Sampled(f64),
}

const ARMS: &[(&str, Arm)] = &[
    ("none", Arm::None),
    ("off", Arm::Off),
    ("10%", Arm::Sampled(0.1)),
    ("100%", Arm::Sampled(1.0)),
];

const CONCURRENCY: usize = 16;

/// One run's figures.
#[derive(Clone, Copy, Debug)]
struct Run {
    throughput: f64,
    cpu_us_per_request: f64,
    p99_ms: f64,
}

/// The service's state, the moderation service it calls, and the read paths.
struct Setup {
    state: app::AppState,
    paths: Vec<String>,
    _moderation: tokio::sync::oneshot::Sender<()>,
}

async fn setup() -> Setup {
    let url = retrace_test_services::fresh_database("bench_sqlx_service");
    let pool = pool_with_schema(url.parse().expect("a PostgreSQL URL"))
        .await
        .expect("connects to PostgreSQL, tables made");
    let (moderation_url, stop_moderation) = serve(moderation(Default::default()))
        .await
        .expect("the moderation service");
    let settings = app::Settings {
        jwt_secret: b"a bench key of thirty-two bytes!".to_vec(),
        moderation_url,
        case_insensitive_login: false,
    };
    let state = app::AppState::new(pool.clone(), http_client(), settings);

    // Seed with the example's own traffic, unrecorded.
    let (seed_url, stop_seed) = serve(app::router(state.clone()))
        .await
        .expect("the seeding server");
    let seeded = traffic::drive(&seed_url, 400, CONCURRENCY, "seed").await;
    assert_eq!(
        seeded.total(),
        400,
        "the seed traffic is answered: {seeded:?}"
    );
    let _ = stop_seed.send(());
    Setup {
        paths: read_paths(&pool).await,
        state,
        _moderation: stop_moderation,
    }
}

/// The mix of reads: a page, then per article its page and its comments, and the tags.
async fn read_paths(pool: &PgPool) -> Vec<String> {
    let slugs: Vec<String> = sqlx::query_scalar("SELECT slug FROM articles ORDER BY id LIMIT 8")
        .fetch_all(pool)
        .await
        .expect("slugs");
    assert!(!slugs.is_empty(), "the seed traffic wrote articles");
    let mut paths = Vec::new();
    for slug in &slugs {
        paths.push("/articles?limit=10".to_owned());
        paths.push(format!("/articles/{slug}"));
        paths.push(format!("/articles/{slug}/comments"));
        paths.push("/tags".to_owned());
    }
    paths
}

/// Serves the service as `arm` says and sends it `requests` reads, `CONCURRENCY` at a
/// time, after a warm-up of a tenth as many.
async fn run(setup: &Setup, arm: Arm, requests: usize) -> Run {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let mut recorder = None;
    let mut router = app::router(setup.state.clone());
    if arm != Arm::None {
        let config = Config::builder()
            .enabled(arm != Arm::Off)
            .service("bench")
            .sample_rate(match arm {
                Arm::Sampled(rate) => rate,
                Arm::None | Arm::Off => 0.0,
            })
            .recording_path(dir.path())
            .build()
            .expect("config");
        let (r, guard) = Recorder::new(config).expect("recorder");
        router = router.layer(RecordLayer::new(r.clone()));
        recorder = Some((r, guard));
    }
    let (base, stop) = serve(router).await.expect("the service");
    let client = reqwest::Client::new();
    load(&client, &base, &setup.paths, requests / 10).await;
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut latencies = load(&client, &base, &setup.paths, requests).await;
    let elapsed = started.elapsed();
    let recording = matches!(arm, Arm::Sampled(_));
    if let (Some((recorder, _)), true) = (&recorder, recording) {
        tokio::task::block_in_place(|| recorder.flush(Duration::from_secs(30)))
            .expect("the writer drains");
    }
    let cpu = cpu_seconds() - cpu_start;
    let _ = stop.send(());
    if let (Some((_, guard)), true) = (recorder, recording) {
        let stats = tokio::task::block_in_place(|| guard.shutdown()).expect("the writer stops");
        assert_eq!(stats.dropped_total(), 0, "nothing dropped: {stats:?}");
        assert!(stats.written > 0, "the arm recorded: {stats:?}");
    }
    latencies.sort_unstable();
    Run {
        throughput: requests as f64 / elapsed.as_secs_f64(),
        cpu_us_per_request: cpu * 1e6 / requests as f64,
        p99_ms: latencies[latencies.len() * 99 / 100].as_secs_f64() * 1e3,
    }
}

/// Sends `count` GETs over `paths`, `CONCURRENCY` at a time; each must answer 200.
async fn load(
    client: &reqwest::Client,
    base: &str,
    paths: &[String],
    count: usize,
) -> Vec<Duration> {
    futures_util::stream::iter(0..count)
        .map(|i| {
            let url = format!("{base}{}", paths[i % paths.len()]);
            async move {
                let sent = Instant::now();
                let answer = client.get(&url).send().await.expect("answered");
                let status = answer.status();
                let _ = answer.bytes().await.expect("body read");
                assert_eq!(status, 200, "GET {url}");
                sent.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a count, not {v:?}")),
        Err(_) => default,
    }
}

fn main() {
    let quick = std::env::var_os("E2E_QUICK").is_some() || std::env::args().any(|a| a == "--quick");
    let rounds = if quick {
        1
    } else {
        env_usize("SQLX_BENCH_ROUNDS", 5)
    };
    let requests = if quick {
        600
    } else {
        env_usize("SQLX_BENCH_REQUESTS", 3_000)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let wanted: Option<Vec<String>> = std::env::var("SQLX_BENCH_ARMS")
        .ok()
        .map(|v| v.split(',').map(|a| a.trim().to_owned()).collect());
    let arms: Vec<(&str, Arm)> = ARMS
        .iter()
        .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w.iter().any(|a| a == name)))
        .copied()
        .collect();
    assert!(
        !arms.is_empty(),
        "SQLX_BENCH_ARMS names none of the arms: {:?}",
        ARMS.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    rt.block_on(async {
        let setup = setup().await;
        // Per arm: its runs, and each run's neighbouring `none`.
        let mut runs: Vec<Vec<(Run, Run)>> = vec![Vec::new(); arms.len()];
        for round in 0..rounds {
            for (i, (_, arm)) in arms.iter().enumerate() {
                let (first, second) = if round % 2 == 0 {
                    let base = run(&setup, Arm::None, requests).await;
                    (base, run(&setup, *arm, requests).await)
                } else {
                    let measured = run(&setup, *arm, requests).await;
                    (run(&setup, Arm::None, requests).await, measured)
                };
                runs[i].push((first, second));
            }
        }
        println!(
            "sqlx_service: {rounds} rounds of {requests} reads at {CONCURRENCY} concurrent, \
             paired with `none`"
        );
        println!("| arm | throughput (req/s) | ratio | CPU µs/req | ratio | p99 ms | ratio |");
        println!("|---|---|---|---|---|---|---|");
        for ((name, _), pairs) in arms.iter().zip(&runs) {
            let figure = |f: fn(&Run) -> f64| {
                let value = median(pairs.iter().map(|(_, r)| f(r)).collect());
                let ratio = median(pairs.iter().map(|(b, r)| f(r) / f(b)).collect());
                (value, ratio)
            };
            let (tp, tp_ratio) = figure(|r| r.throughput);
            let (cpu, cpu_ratio) = figure(|r| r.cpu_us_per_request);
            let (p99, p99_ratio) = figure(|r| r.p99_ms);
            println!(
                "| {name} | {tp:.0} | {tp_ratio:.3} | {cpu:.0} | {cpu_ratio:.3} | {p99:.2} | {p99_ratio:.3} |"
            );
        }
    });
}
