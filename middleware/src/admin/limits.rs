//! What one capture may ask for, and what one key may use.
//!
//! A capture's values are clamped to the service's caps (the answer says which were),
//! and every value has a default, so nothing is unlimited. Per key, captures active at
//! once and recordings per hour are limited: a capture reserves its `max_recordings`
//! from its key's hourly allowance when it starts, and gives back what it did not use
//! when it ends. The global limits (captures active, recordings per second across
//! captures) are the policy's ([`Policy::max_active_captures`]).
//!
//! [`Policy::max_active_captures`]: retrace::policy::Policy::max_active_captures

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use retrace::CaptureId;
use retrace::policy::Policy;

/// Caps and defaults for captures, and per-key limits. Build it from the default
/// (`..AdminLimits::default()`), so a limit added later does not break your code.
///
/// ```
/// use std::time::Duration;
/// use retrace_tower::admin::AdminLimits;
///
/// let limits = AdminLimits {
///     per_key_active_captures: 1,
///     per_key_recordings_per_hour: 200,
///     ..AdminLimits::default()
/// };
/// assert_eq!(limits.default_duration, Duration::from_secs(60));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminLimits {
    /// A capture's duration when none is asked for.
    pub default_duration: Duration,
    /// A capture's `max_recordings` when none is asked for.
    pub default_recordings: u64,
    /// The most recordings one capture may ask for.
    pub max_recordings: u64,
    /// A capture's `max_bytes` when none is asked for.
    pub default_bytes: u64,
    /// The most bytes one capture may ask for.
    pub max_bytes: u64,
    /// Captures one key may have active at once.
    pub per_key_active_captures: usize,
    /// Recordings one key's captures may take per hour.
    pub per_key_recordings_per_hour: u64,
    /// The most recordings one page of `GET /recordings` holds.
    pub max_page: usize,
}

impl Default for AdminLimits {
    fn default() -> Self {
        Self {
            default_duration: Duration::from_secs(60),
            default_recordings: 100,
            max_recordings: 1_000,
            default_bytes: 16 << 20,
            max_bytes: 64 << 20,
            per_key_active_captures: 3,
            per_key_recordings_per_hour: 1_000,
            max_page: 500,
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// One key's captures over the last hour.
#[derive(Debug, Default)]
pub(crate) struct KeyUsage {
    /// Captures started, oldest first: when, which, and how many recordings they hold
    /// against the allowance (all they may take while active, what they took once
    /// ended).
    started: VecDeque<(Instant, CaptureId, u64)>,
}

/// Every key's usage.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    by_key: HashMap<String, KeyUsage>,
}

/// Why a key may not start a capture now, and when it may.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    ActiveCaptures {
        max: usize,
        retry: Duration,
    },
    Hourly {
        max: u64,
        left: u64,
        retry: Duration,
    },
}

impl Usage {
    /// Brings a key's record up to date with the policy: an ended capture holds what
    /// it took (the policy lists ended captures for an hour, as long as this looks
    /// back); one started over an hour ago is forgotten once it has ended.
    fn refresh(entry: &mut KeyUsage, policy: &Policy, now: Instant) {
        entry.started.retain_mut(|(at, id, held)| {
            let info = policy.capture(*id);
            if let Some(info) = info.as_ref().filter(|i| !i.is_active()) {
                *held = info.recorded;
            }
            let active = info.as_ref().is_some_and(|i| i.is_active());
            active || now.duration_since(*at) < HOUR
        });
    }

    /// Whether `key` may start a capture asking for `recordings`; if so the
    /// reservation is made by [`started`](Self::started).
    pub(crate) fn check(
        &mut self,
        key: &str,
        recordings: u64,
        limits: &AdminLimits,
        policy: &Policy,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        let entry = self.by_key.entry(key.to_owned()).or_default();
        Self::refresh(entry, policy, now);
        let active: Vec<Duration> = entry
            .started
            .iter()
            .filter_map(|(_, id, _)| policy.capture(*id))
            .filter(|i| i.is_active())
            .map(|i| i.remaining)
            .collect();
        if active.len() >= limits.per_key_active_captures {
            return Err(Refusal::ActiveCaptures {
                max: limits.per_key_active_captures,
                retry: active.into_iter().min().unwrap_or(Duration::from_secs(1)),
            });
        }
        let used: u64 = entry.started.iter().map(|(_, _, held)| held).sum();
        let left = limits.per_key_recordings_per_hour.saturating_sub(used);
        if recordings > left {
            // When enough of the oldest reservations have left the hour.
            let mut freed = left;
            let retry = entry
                .started
                .iter()
                .find_map(|(at, _, held)| {
                    freed += held;
                    (freed >= recordings).then(|| HOUR.saturating_sub(now.duration_since(*at)))
                })
                .unwrap_or(HOUR);
            return Err(Refusal::Hourly {
                max: limits.per_key_recordings_per_hour,
                left,
                retry,
            });
        }
        Ok(())
    }

    /// Records a capture `key` started, holding `recordings` against its allowance.
    pub(crate) fn started(&mut self, key: &str, id: CaptureId, recordings: u64) {
        self.by_key
            .entry(key.to_owned())
            .or_default()
            .started
            .push_back((Instant::now(), id, recordings));
    }
}
