//! The plan: how much load, how many rounds.

use super::*;

/// How much to run.
pub(super) struct Plan {
    pub(super) rounds: usize,
    pub(super) concurrency: usize,
    pub(super) warmup: usize,
    /// Measured requests per run, by service.
    pub(super) requests: fn(Service) -> usize,
    /// Longest one run's load may take.
    pub(super) run_limit: Duration,
    /// No round starts past this.
    pub(super) total_limit: Duration,
}

pub(super) fn plan() -> Plan {
    let mut plan = base_plan();
    if let Some(rounds) = std::env::var("E2E_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        plan.rounds = rounds;
    }
    if requests_from_env().is_some() {
        plan.requests = |_| requests_from_env().unwrap_or(25_000);
    }
    plan
}

/// `E2E_REQUESTS`: measured requests per run, for either service (a long run shows
/// memory at steady state: a segment closes every 32,768 recordings).
fn requests_from_env() -> Option<usize> {
    std::env::var("E2E_REQUESTS").ok()?.parse().ok()
}

pub(super) fn base_plan() -> Plan {
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
