//! `GET /health`: `200 {"status":"ok"}`, or `503` with why the recorder is degraded.
//!
//! Cheap enough for a liveness probe: a snapshot of the recorder's atomic counters,
//! compared with the previous probe's. Degraded means, since the previous probe:
//! recordings dropped (the channel full, the disk budget reached, a write failed), or
//! the writer made no progress while messages waited for longer than
//! [`STALL_AFTER`]; and, at any time, a policy file or keys file whose latest version
//! was refused.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use retrace::{DropReason, Recorder, Stats};
use serde_json::{Value, json};

/// How long messages may wait with no write before the writer counts as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// What the previous probe saw.
#[derive(Debug, Default)]
pub(crate) struct HealthState {
    last: Mutex<Option<Seen>>,
}

#[derive(Debug)]
struct Seen {
    stats: Stats,
    /// When the writer last made progress (events received changed, or nothing
    /// waited).
    progress_at: Instant,
}

impl HealthState {
    /// The reasons the recorder is degraded now (none: healthy).
    pub(crate) fn check(&self, recorder: &Recorder, keys_problem: Option<String>) -> Vec<String> {
        let now = Instant::now();
        let stats = recorder.stats();
        let depth = recorder.queue_depth();
        let mut reasons = Vec::new();
        let mut last = self.last.lock();
        if let Some(prev) = last.as_ref() {
            for reason in DropReason::ALL {
                let n =
                    stats.dropped(reason) - prev.stats.dropped(reason).min(stats.dropped(reason));
                if n > 0 {
                    reasons.push(format!(
                        "{n} recordings dropped since the last check ({reason})"
                    ));
                }
            }
            let errors = stats.write_errors.saturating_sub(prev.stats.write_errors);
            if errors > 0 {
                reasons.push(format!("{errors} failed writes since the last check"));
            }
        }
        let progressed = depth == 0
            || last
                .as_ref()
                .is_none_or(|prev| prev.stats.events != stats.events);
        let progress_at = match last.as_ref() {
            Some(prev) if !progressed => prev.progress_at,
            _ => now,
        };
        if now.duration_since(progress_at) >= STALL_AFTER {
            reasons.push(format!(
                "the writer is stalled: {depth} messages waiting, no progress for {}s",
                now.duration_since(progress_at).as_secs()
            ));
        }
        if let Some(error) = recorder.policy().file_status().and_then(|s| s.last_error) {
            reasons.push(format!(
                "the policy file was refused (the previous policy stays): {error}"
            ));
        }
        if let Some(problem) = keys_problem {
            reasons.push(format!(
                "the API keys file was refused (the previous keys stay): {problem}"
            ));
        }
        *last = Some(Seen { stats, progress_at });
        reasons
    }
}

/// The body for these reasons.
pub(crate) fn body(reasons: &[String]) -> Value {
    if reasons.is_empty() {
        json!({ "status": "ok" })
    } else {
        json!({ "status": "degraded", "reasons": reasons })
    }
}
