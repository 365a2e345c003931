//! Times as the command line reads and prints them. Recordings store microseconds since
//! the Unix epoch; people type durations (`1h`, `30m`, `7d`) or UTC timestamps
//! (`2024-05-01T12:00:00Z`, `2024-05-01 12:00`, `2024-05-01`), and read UTC RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time given on the command line: a duration back from now, or a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum When {
    /// This long before now.
    Ago(Duration),
    /// This many microseconds since the Unix epoch.
    At(u64),
}

impl When {
    /// Microseconds since the Unix epoch, with `now_us` as the present.
    pub(crate) fn unix_us(self, now_us: u64) -> u64 {
        match self {
            Self::Ago(d) => now_us.saturating_sub(micros(d)),
            Self::At(us) => us,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The present, in microseconds since the Unix epoch.
pub(crate) fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, micros)
}

/// Parses a duration such as `90s`, `1h`, `7d` or `1h 30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e}; expected a duration such as `30m`, `1h` or `7d`"))
}

/// Parses `--since` / `--until`: a duration back from now or a UTC timestamp.
pub(crate) fn parse_when(text: &str) -> Result<When, String> {
    let text = text.trim();
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(When::Ago(d));
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.to_owned()
    };
    let at = humantime::parse_rfc3339_weak(&full).map_err(|_| {
        "expected a duration back from now (`1h`, `30m`, `7d`) or a UTC timestamp \
         (`2024-05-01T12:00:00Z`, `2024-05-01 12:00`, `2024-05-01`)"
            .to_owned()
    })?;
    let us = at.duration_since(UNIX_EPOCH).map_or(0, micros);
    Ok(When::At(us))
}

fn system_time(unix_us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(unix_us)
}

/// `2024-05-01T12:00:00Z`.
pub(crate) fn rfc3339_seconds(unix_us: u64) -> String {
    formatted(unix_us, humantime::format_rfc3339_seconds)
}

/// `2024-05-01T12:00:00.123Z`.
pub(crate) fn rfc3339_millis(unix_us: u64) -> String {
    formatted(unix_us, humantime::format_rfc3339_millis)
}

/// A time formatted by `format`, or, past what RFC 3339 writes (the year 9999: a
/// damaged or hand-made recording), the microseconds themselves.
fn formatted<D: std::fmt::Display>(unix_us: u64, format: fn(SystemTime) -> D) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match write!(out, "{}", format(system_time(unix_us))) {
        Ok(()) => out,
        Err(_) => format!("{unix_us}µs after 1970 (past the year 9999)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_past_the_year_9999_is_shown_not_a_panic() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_millis(u64::MAX),
            format!("{}µs after 1970 (past the year 9999)", u64::MAX)
        );
    }

    #[test]
    fn durations_and_timestamps_are_both_accepted() {
        assert_eq!(parse_when("1h"), Ok(When::Ago(Duration::from_secs(3600))));
        assert_eq!(
            When::Ago(Duration::from_secs(2)).unix_us(5_000_000),
            3_000_000
        );
        let at = When::At(1_714_564_800_000_000);
        assert_eq!(parse_when("2024-05-01T12:00:00Z"), Ok(at));
        assert_eq!(parse_when("2024-05-01 12:00:00"), Ok(at));
        assert_eq!(parse_when("2024-05-01 12:00"), Ok(at));
        assert_eq!(
            parse_when("2024-05-01"),
            Ok(When::At(1_714_564_800_000_000 - 12 * 3_600_000_000))
        );
        assert!(parse_when("yesterday").is_err());
    }

    #[test]
    fn timestamps_print_in_utc() {
        assert_eq!(
            rfc3339_seconds(1_714_564_800_123_456),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339_millis(1_714_564_800_123_456),
            "2024-05-01T12:00:00.123Z"
        );
    }
}
