//! The noise rules of a traffic replay and where each came from, so the summary can
//! list every rule with its source:
//! - the defaults ([`DEFAULT_IGNORED_HEADERS`]), with those that layers outside the
//!   record layer add ([`OUTER_LAYER_HEADERS`]: `vary`, CORS) named as such;
//! - `--ignore-header` and `--ignore-path`;
//! - **clock values**: a JSON location whose recorded value is a clock reading the
//!   selection recorded (`retrace::now()`, as seconds, milliseconds or microseconds
//!   since the epoch, or as RFC 3339 text) holds the target's clock at replay, which
//!   differs by construction (a `created_at` stored by a write and read back later);
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

/// The texts a clock reading may appear as in an answer.
fn clock_forms(micros: u64) -> [String; 6] {
    let at = UNIX_EPOCH + Duration::from_micros(micros);
    [
        micros.to_string(),
        (micros / 1_000).to_string(),
        (micros / 1_000_000).to_string(),
        humantime::format_rfc3339_seconds(at).to_string(),
        humantime::format_rfc3339_millis(at).to_string(),
        humantime::format_rfc3339_micros(at).to_string(),
    ]
}

/// The body locations (indices widened to `[*]`) whose recorded value is one of the
/// selection's clock readings, with how many answers had one.
fn clock_paths(prepared: &[Prepared]) -> BTreeMap<String, usize> {
    let readings: HashSet<String> = prepared
        .iter()
        .flat_map(|p| p.clock_us.iter())
        .flat_map(|&us| clock_forms(us))
        .collect();
    let mut paths = BTreeMap::new();
    if readings.is_empty() {
        return paths;
    }
    for p in prepared {
        let Ok(doc) = serde_json::from_slice::<Value>(&p.expected_plain_body()) else {
            continue;
        };
        let mut found = HashSet::new();
        retrace::diff::for_each_scalar(&doc, &mut |path, value| {
            let text = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return,
            };
            if readings.contains(&text)
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
        let plain: Vec<&str> = DEFAULT_IGNORED_HEADERS
            .iter()
            .copied()
            .filter(|h| !OUTER_LAYER_HEADERS.contains(h))
            .collect();
        lines.push(line(format!("headers {}", plain.join(", ")), "default"));
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
                    "learned: a recorded clock reading ({answers} answer{})",
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
    fn a_clock_reading_shows_in_every_unit_and_as_text() {
        let forms = clock_forms(1_765_000_000_123_456);
        assert_eq!(forms[0], "1765000000123456");
        assert_eq!(forms[1], "1765000000123");
        assert_eq!(forms[2], "1765000000");
        assert_eq!(forms[3], "2025-12-06T05:46:40Z");
        assert_eq!(forms[4], "2025-12-06T05:46:40.123Z");
    }
}
