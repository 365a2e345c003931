//! Tail keep: record every request speculatively and keep only the ones whose outcome
//! asks for it (an error status, a failed handler, a slow answer).
//!
//! This replaces "re-run the request with recording on" with no re-execution: the
//! recording is buffered in memory and either sent or discarded without a byte written.

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::event::KeepCause;

/// When a tentative recording is kept.
///
/// ```
/// use std::time::Duration;
/// use retrace::KeepCause;
/// use retrace::policy::TailKeep;
///
/// let rule = TailKeep::default()
///     .statuses("5xx,429")?
///     .latency(Some(Duration::from_secs(2)));
/// assert_eq!(rule.keep(Some(503), false, Duration::ZERO), Some(KeepCause::Status));
/// assert_eq!(rule.keep(Some(200), false, Duration::from_secs(3)), Some(KeepCause::Latency));
/// assert_eq!(rule.keep(Some(200), false, Duration::from_millis(40)), None);
/// # Ok::<(), retrace::policy::StatusSetError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailKeep {
    statuses: Vec<RangeInclusive<u16>>,
    on_error: bool,
    latency: Option<Duration>,
}

impl Default for TailKeep {
    /// Keep 5xx answers and failed handlers.
    fn default() -> Self {
        Self {
            statuses: vec![500..=599],
            on_error: true,
            latency: None,
        }
    }
}

/// A status set that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status set {text:?}: expected codes or classes such as `5xx,429`")]
pub struct StatusSetError {
    /// The text given.
    pub text: String,
}

impl TailKeep {
    /// Keeps answers whose status is in `set`, written as codes and classes: `5xx,429`.
    pub fn statuses(mut self, set: &str) -> Result<Self, StatusSetError> {
        self.statuses = parse_status_set(set)?;
        Ok(self)
    }

    /// Whether to keep requests whose service returned an error (default: yes).
    pub fn on_error(mut self, keep: bool) -> Self {
        self.on_error = keep;
        self
    }

    /// Keeps requests that took longer than `threshold`.
    pub fn latency(mut self, threshold: Option<Duration>) -> Self {
        self.latency = threshold;
        self
    }

    /// Why to keep a request with this outcome, or `None` to discard it.
    pub fn keep(&self, status: Option<u16>, failed: bool, elapsed: Duration) -> Option<KeepCause> {
        if failed && self.on_error {
            return Some(KeepCause::Error);
        }
        if let Some(s) = status
            && self.statuses.iter().any(|r| r.contains(&s))
        {
            return Some(KeepCause::Status);
        }
        if self.latency.is_some_and(|t| elapsed > t) {
            return Some(KeepCause::Latency);
        }
        None
    }

    /// Whether a request answered with `status` may still be kept once its answer has
    /// begun: by its status, or by the time its body takes when the rule keeps slow
    /// requests. A failed handler has no answer, and a body cut short does not count
    /// as one, so when this is false nothing that follows can keep the request: a
    /// tentative recording is discarded at the response head, before its body is
    /// captured (or redacted).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retrace::policy::TailKeep;
    ///
    /// assert!(!TailKeep::default().may_keep_answer(200));
    /// assert!(TailKeep::default().may_keep_answer(503));
    /// let slow = TailKeep::default().latency(Some(Duration::from_secs(2)));
    /// assert!(slow.may_keep_answer(200));
    /// ```
    pub fn may_keep_answer(&self, status: u16) -> bool {
        self.latency.is_some() || self.statuses.iter().any(|r| r.contains(&status))
    }
}

/// Parses `5xx,429,400-404` into status ranges.
pub fn parse_status_set(text: &str) -> Result<Vec<RangeInclusive<u16>>, StatusSetError> {
    let bad = || StatusSetError {
        text: text.to_owned(),
    };
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            if let Some(class) = lower.strip_suffix("xx") {
                let c: u16 = class.parse().map_err(|_| bad())?;
                if !(1..=5).contains(&c) {
                    return Err(bad());
                }
                return Ok(c * 100..=c * 100 + 99);
            }
            let (lo, hi) = lower.split_once('-').unwrap_or((&lower, &lower));
            let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
            if !(100..=599).contains(&lo) || !(lo..=599).contains(&hi) {
                return Err(bad());
            }
            Ok(lo..=hi)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_by_status_error_and_latency() {
        let t = TailKeep::default()
            .statuses("5xx, 429")
            .unwrap()
            .latency(Some(Duration::from_millis(100)));
        let fast = Duration::from_millis(1);
        assert_eq!(t.keep(Some(503), false, fast), Some(KeepCause::Status));
        assert_eq!(t.keep(Some(429), false, fast), Some(KeepCause::Status));
        assert_eq!(t.keep(Some(200), false, fast), None);
        assert_eq!(t.keep(None, true, fast), Some(KeepCause::Error));
        assert_eq!(
            t.keep(Some(200), false, Duration::from_secs(1)),
            Some(KeepCause::Latency)
        );
        assert_eq!(
            parse_status_set("5xx,6xx").unwrap_err().to_string(),
            "invalid status set \"5xx,6xx\": expected codes or classes such as `5xx,429`"
        );
        assert_eq!(parse_status_set("400-404").unwrap(), vec![400..=404]);
    }

    #[test]
    fn an_answer_may_be_kept_by_its_status_or_while_slowness_can_keep_it() {
        let t = TailKeep::default().statuses("5xx,429").unwrap();
        assert!(t.may_keep_answer(503));
        assert!(t.may_keep_answer(429));
        assert!(!t.may_keep_answer(200));
        assert!(!t.may_keep_answer(404));
        // With a latency threshold, a slow body may still keep a 200.
        assert!(
            t.latency(Some(Duration::from_millis(1)))
                .may_keep_answer(200)
        );
    }
}
