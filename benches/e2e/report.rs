//! Reporting.

use super::*;

pub(super) fn median(values: impl Iterator<Item = f64>) -> f64 {
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
pub(super) struct Summary {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    pub(super) capture: Capture,
    pub(super) rounds: usize,
    /// The figures over the rounds: each a median, except the largest response and
    /// the summed failures, kept and lost recordings.
    pub(super) overall: Sample,
    /// Throughput of each round over this arm's median: the spread.
    pub(super) rps_spread: (f64, f64),
    /// Medians of this arm's figures over those of the arm 1 run beside it.
    pub(super) paired: Ratios,
}

/// One arm's figures over those of the arm 1 run next to it (or their medians).
#[derive(Clone, Copy, Debug)]
pub(super) struct Ratios {
    pub(super) rps: f64,
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) cpu: f64,
    pub(super) rss: f64,
}

impl Ratios {
    pub(super) const ONE: Ratios = Ratios {
        rps: 1.0,
        p50: 1.0,
        p99: 1.0,
        cpu: 1.0,
        rss: 1.0,
    };

    pub(super) fn of(arm: &Sample, base: &Sample) -> Self {
        Self {
            rps: arm.rps / base.rps,
            p50: arm.p50_us / base.p50_us,
            p99: arm.p99_us / base.p99_us,
            cpu: arm.cpu_per_1k / base.cpu_per_1k,
            rss: arm.peak_rss_mib / base.peak_rss_mib,
        }
    }

    /// The median of each ratio; `None` without pairs.
    pub(super) fn median_of(pairs: &[Ratios]) -> Option<Self> {
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
pub(super) fn summarise(arm: &Arm, samples: &[Sample], pairs: &[Ratios]) -> Summary {
    let m = |f: fn(&Sample) -> f64| median(samples.iter().map(f));
    let rps = m(|s| s.rps);
    let sum_opt = |f: fn(&Sample) -> Option<u64>| samples.iter().map(f).sum::<Option<u64>>();
    Summary {
        key: arm.key,
        label: arm.label,
        capture: arm.capture,
        rounds: samples.len(),
        overall: Sample {
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
        },
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

pub(super) fn print_table(service: Service, rows: &[Summary]) {
    let Some(base) = rows.iter().find(|r| r.capture == Capture::Nothing) else {
        return;
    };
    let raw = base.overall.raw_per_req;
    println!(
        "\n### {} (response {} B, raw {:.0} B/request on the wire)\n",
        service.name(),
        base.overall.response_bytes,
        raw
    );
    println!(
        "| arm | | req/s | p50 µs | p99 µs | CPU s / 1k req | peak RSS added MiB | disk B/req (× raw) | kept / lost |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let cell = |v: f64, ratio: f64, digits: usize| format!("{v:.digits$} ({ratio:.3}×)");
        let counts = match (r.overall.kept, r.overall.lost) {
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
            cell(r.overall.rps, r.paired.rps, 0),
            cell(r.overall.p50_us, r.paired.p50, 0),
            cell(r.overall.p99_us, r.paired.p99, 0),
            cell(r.overall.cpu_per_1k, r.paired.cpu, 3),
            // A ratio to a growth of almost nothing (under jemalloc, say) says nothing.
            if base.overall.peak_rss_mib.abs() < 0.5 {
                format!("{:.1}", r.overall.peak_rss_mib)
            } else {
                cell(r.overall.peak_rss_mib, r.paired.rss, 1)
            },
            r.overall.disk_per_req,
            r.overall.disk_per_req / raw,
            counts,
            if r.overall.failures > 0 {
                format!(", {} FAILED requests", r.overall.failures)
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

pub(super) fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

pub(super) fn print_targets(realistic: &[Summary], hello: &[Summary]) {
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
        arm5.overall.p99_us,
        base.overall.p99_us,
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
                arm5.overall.rps,
                other.overall.rps,
                arm5.overall.disk_per_req,
                other.overall.disk_per_req,
                verdict(
                    arm5.paired.rps > other.paired.rps
                        && arm5.overall.disk_per_req < other.overall.disk_per_req
                )
            );
        }
    }
    let share = arm5.overall.disk_per_req / base.overall.raw_per_req;
    println!(
        "- arm 5 bytes on disk ≤ 1/3 of raw request + response bytes: {:.0} of {:.0} B = {share:.3}× — {}",
        arm5.overall.disk_per_req,
        base.overall.raw_per_req,
        verdict(share <= 1.0 / 3.0)
    );
    if let Some(i) = find(realistic, "5s") {
        let stalled = &realistic[i];
        let growth = stalled.overall.peak_rss_mib - arm5.overall.peak_rss_mib;
        let budget = FLOOD_BUDGET as f64 / (1 << 20) as f64;
        let p99 = stalled.paired.p99 / arm5.paired.p99;
        println!(
            "- stalled writer: peak RSS added {:.1} MiB = arm 5's ({:.1} MiB) {:+.1} MiB, budget {budget:.0} MiB + {FLOOD_OVERHEAD_MIB} MiB allowed overhead — {}; p99 {:.0} µs = {p99:.3}× arm 5 — {}",
            stalled.overall.peak_rss_mib,
            arm5.overall.peak_rss_mib,
            growth,
            verdict(growth <= budget + FLOOD_OVERHEAD_MIB),
            stalled.overall.p99_us,
            verdict(p99 <= 1.05)
        );
    }
}

/// The machine's cores, CPU and memory, and `allocator`.
pub(super) fn machine(allocator: &str) -> String {
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
    format!("{cores} cores, {cpu}, {mem} RAM, allocator: {allocator}")
}

/// The allocator serving this process: glibc's malloc unless another one is preloaded
/// and loaded. A preload the loader could not open (the library not installed) only
/// warns, so a run would otherwise measure glibc under another allocator's name: that
/// is an error naming the library.
pub(super) fn allocator() -> Result<String, String> {
    let preload = std::env::var("LD_PRELOAD").unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut named = None;
    for library in preload.split([' ', ':']).filter(|l| !l.is_empty()) {
        let file = library.rsplit('/').next().unwrap_or(library);
        if !maps.contains(file) {
            return Err(format!(
                "LD_PRELOAD names {library}, which is not loaded in this process (not \
                 installed? Debian's package for jemalloc is libjemalloc2)"
            ));
        }
        for (marker, name) in [("jemalloc", "jemalloc"), ("mimalloc", "mimalloc")] {
            if file.contains(marker) {
                named = Some(format!("{name} (LD_PRELOAD)"));
            }
        }
        named.get_or_insert_with(|| format!("LD_PRELOAD={preload}"));
    }
    Ok(named.unwrap_or_else(|| "glibc malloc".to_owned()))
}

pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}
