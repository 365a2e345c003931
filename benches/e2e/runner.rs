//! The runner: one arm, one service, one run.

use super::*;

/// The figures of one run.
#[derive(Clone, Debug)]
pub(super) struct Sample {
    pub(super) rps: f64,
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
    pub(super) cpu_per_1k: f64,
    pub(super) peak_rss_mib: f64,
    pub(super) disk_per_req: f64,
    pub(super) raw_per_req: f64,
    pub(super) response_bytes: usize,
    pub(super) failures: u64,
    pub(super) kept: Option<u64>,
    pub(super) lost: Option<u64>,
}

pub(super) fn percentile_us(sorted_ns: &[u64], pct: usize) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let i = (sorted_ns.len() * pct / 100).min(sorted_ns.len() - 1);
    sorted_ns[i] as f64 / 1e3
}

pub(super) fn run(
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
