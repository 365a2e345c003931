//! The noise rules of a traffic replay and where each came from, so the summary can
//! list every rule with its source:
//! - the defaults ([`DEFAULT_IGNORED_HEADERS`]), with those that layers outside the
//!   record layer add ([`OUTER_LAYER_HEADERS`]: `vary`, CORS) named as such;
//! - `--ignore-header` and `--ignore-path`;
//! - **clock values**: a JSON location whose recorded value is a time read from the
//!   clock (a reading the selection recorded with `retrace::now()` as RFC 3339 text, or
//!   a number of seconds, milliseconds or microseconds since the epoch within 400 days
//!   of the readings: a `created_at`, an expiry an hour ahead) holds the target's clock
//!   at replay, which differs by construction;
//! - **two live answers**: a safe request (GET, HEAD) is sent twice and what differs
//!   between the two answers is noise for that recording, as in-process replay learns
//!   it (`--no-learn-noise` turns this off).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

use retrace::diff::{
    DEFAULT_IGNORED_HEADERS, NoiseRuleError, NoiseRules, OUTER_LAYER_HEADERS, PathPattern,
};
use serde_json::Value;

use super::request::Prepared;

/// A rule and where it came from, for the summary.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RuleLine {
    /// `header date` or `body $.items[*].at`.
    pub(crate) rule: String,
    /// Where it came from.
    pub(crate) source: String,
}

/// The rules every comparison uses, and their lines.
#[derive(Debug)]
pub(crate) struct NoisePlan {
    /// The rules.
    pub(crate) rules: NoiseRules,
    /// One line per rule.
    pub(crate) lines: Vec<RuleLine>,
}

fn line(rule: String, source: &str) -> RuleLine {
    RuleLine {
        rule,
        source: source.to_owned(),
    }
}

/// How far from a recorded clock reading a number still counts as a time: an expiry an
/// hour or a year ahead is computed from the clock as surely as a `created_at` is.
const NEAR_CLOCK: Duration = Duration::from_secs(400 * 24 * 3600);

/// The recorded clock readings, and whether a value is one of them or near one.
struct Clock {
    /// RFC 3339 texts of every reading (to seconds, milliseconds, microseconds).
    texts: HashSet<String>,
    /// The earliest and latest reading minus and plus [`NEAR_CLOCK`], in microseconds.
    window_us: Option<(u64, u64)>,
}

impl Clock {
    fn new(prepared: &[Prepared]) -> Self {
        let readings: Vec<u64> = prepared
            .iter()
            .flat_map(|p| p.clock_us.iter().copied())
            .collect();
        let near = NEAR_CLOCK.as_micros() as u64;
        let window_us = readings
            .iter()
            .min()
            .zip(readings.iter().max())
            .map(|(lo, hi)| (lo.saturating_sub(near), hi.saturating_add(near)));
        let texts = readings
            .iter()
            .flat_map(|&us| {
                let at = UNIX_EPOCH + Duration::from_micros(us);
                [
                    humantime::format_rfc3339_seconds(at).to_string(),
                    humantime::format_rfc3339_millis(at).to_string(),
                    humantime::format_rfc3339_micros(at).to_string(),
                ]
            })
            .collect();
        Self { texts, window_us }
    }

    /// Whether `value` is a time read from the clock: a reading as RFC 3339 text, or a
    /// whole number of seconds, milliseconds or microseconds since the epoch within
    /// [`NEAR_CLOCK`] of the readings.
    fn holds(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.texts.contains(s),
            Value::Number(n) => match (n.as_u64(), self.window_us) {
                (Some(n), Some((lo, hi))) => [1_000_000, 1_000, 1].iter().any(|unit| {
                    n.checked_mul(*unit)
                        .is_some_and(|us| (lo..=hi).contains(&us))
                }),
                _ => false,
            },
            _ => false,
        }
    }
}

/// The body locations (indices widened to `[*]`) whose recorded value is a time read
/// from the clock, with how many answers had one.
fn clock_paths(prepared: &[Prepared]) -> BTreeMap<String, usize> {
    let clock = Clock::new(prepared);
    let mut paths = BTreeMap::new();
    if clock.window_us.is_none() {
        return paths;
    }
    for p in prepared {
        let Ok(doc) = serde_json::from_slice::<Value>(&p.expected_plain_body()) else {
            continue;
        };
        let mut found = HashSet::new();
        retrace::diff::for_each_scalar(&doc, &mut |path, value| {
            if clock.holds(value)
                && let Ok(pattern) = PathPattern::parse(path)
            {
                found.insert(pattern.with_any_index().to_string());
            }
        });
        for path in found {
            *paths.entry(path).or_insert(0) += 1;
        }
    }
    paths
}

impl NoisePlan {
    /// The rules from the defaults, the flags and the selection's clock readings.
    pub(crate) fn new(
        ignore_headers: &[String],
        ignore_paths: &[PathPattern],
        prepared: &[Prepared],
    ) -> Result<Self, NoiseRuleError> {
        let mut builder = NoiseRules::builder();
        let mut lines = Vec::new();
        lines.push(line(
            format!("headers {}", DEFAULT_IGNORED_HEADERS.join(", ")),
            "default",
        ));
        lines.push(line(
            format!("headers {}", OUTER_LAYER_HEADERS.join(", ")),
            "default: added by compression and CORS layers outside the record layer",
        ));
        lines.push(line(
            "header content-encoding".to_owned(),
            "default: bodies are compared decoded (gzip, deflate, br, zstd)",
        ));
        for name in ignore_headers {
            builder = builder.ignore_header(name.trim());
            lines.push(line(
                format!("header {}", name.trim().to_ascii_lowercase()),
                "--ignore-header",
            ));
        }
        for pattern in ignore_paths {
            builder = builder.ignore_path(pattern.to_string());
            lines.push(line(format!("body {pattern}"), "--ignore-path"));
        }
        for (path, answers) in clock_paths(prepared) {
            builder = builder.ignore_path(path.as_str());
            lines.push(line(
                format!("body {path}"),
                &format!(
                    "learned: a time read from the recorded clock ({answers} answer{})",
                    if answers == 1 { "" } else { "s" }
                ),
            ));
        }
        Ok(Self {
            rules: builder.build()?,
            lines,
        })
    }
}

/// The lines of rules learned from two live answers of one recording.
pub(crate) fn learned_lines(learned: &NoiseRules, route: &str) -> Vec<RuleLine> {
    let source = format!("learned: two live answers of {route} differed");
    learned
        .ignored_headers()
        .map(|h| line(format!("header {h}"), &source))
        .chain(
            learned
                .ignored_paths()
                .iter()
                .map(|p| line(format!("body {p}"), &source)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_near_a_clock_reading_are_recognised_in_every_unit() {
        let us: u64 = 1_765_000_000_123_456;
        let at = |v: Value| {
            Clock {
                texts: ["2025-12-06T05:46:40Z".to_owned()].into(),
                window_us: Some((
                    us - NEAR_CLOCK.as_micros() as u64,
                    us + NEAR_CLOCK.as_micros() as u64,
                )),
            }
            .holds(&v)
        };
        assert!(at(serde_json::json!(1_765_000_000u64)), "seconds");
        assert!(
            at(serde_json::json!(1_765_003_600u64)),
            "an hour later: an expiry"
        );
        assert!(at(serde_json::json!(1_765_000_000_123u64)), "milliseconds");
        assert!(at(serde_json::json!(us)), "microseconds");
        assert!(at(serde_json::json!("2025-12-06T05:46:40Z")));
        assert!(!at(serde_json::json!(42)), "a count");
        assert!(!at(serde_json::json!(1_700_000_000u64)), "two years away");
        assert!(!at(serde_json::json!("2025-12-07T00:00:00Z")));
        assert!(!at(serde_json::json!(-5)));
    }
}
