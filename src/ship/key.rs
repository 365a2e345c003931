//! Object keys: `{prefix}/{service}/{yyyy-mm-dd}/{hh}/{session}/{file}`.
//!
//! The date and hour (UTC) come from the newest recording the segment holds, so a
//! bucket can be listed, expired or queried by time with a key prefix alone. A session
//! that runs for hours spreads over several hour prefixes; its directory name, which is
//! unique, ties its parts together again, and its metadata goes beside each part.

use std::time::{Duration, UNIX_EPOCH};

use object_store::path::{Path as Key, PathPart};

/// The key of `file` of `session`, whose newest recording is from `unix_us`.
///
/// ```
/// let key = retrace::ship::segment_key(
///     &"recordings/prod".into(),
///     "checkout",
///     1_796_615_999_000_000,
///     "checkout_web-7f9c_20261207T035959Z_1_ab12cd34",
///     "seg-000001.rtseg",
/// );
/// assert_eq!(
///     key.as_ref(),
///     "recordings/prod/checkout/2026-12-07/03/checkout_web-7f9c_20261207T035959Z_1_ab12cd34/seg-000001.rtseg"
/// );
/// ```
pub fn segment_key(prefix: &Key, service: &str, unix_us: u64, session: &str, file: &str) -> Key {
    let (day, hour) = day_and_hour(unix_us);
    let mut parts: Vec<PathPart<'_>> = prefix.parts().collect();
    parts.push(PathPart::from(service));
    parts.push(PathPart::from(day));
    parts.push(PathPart::from(hour));
    parts.push(PathPart::from(session));
    parts.push(PathPart::from(file));
    Key::from_iter(parts)
}

/// `("yyyy-mm-dd", "hh")` in UTC.
fn day_and_hour(unix_us: u64) -> (String, String) {
    let at = UNIX_EPOCH + Duration::from_micros(unix_us);
    // "2026-12-07T03:59:59Z"
    let text = humantime::format_rfc3339_seconds(at).to_string();
    (text[..10].to_owned(), text[11..13].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_hours_are_utc_and_zero_padded() {
        assert_eq!(day_and_hour(0), ("1970-01-01".into(), "00".into()));
        // 2026-03-04T05:06:07Z
        assert_eq!(
            day_and_hour(1_772_600_767_000_000),
            ("2026-03-04".into(), "05".into())
        );
    }

    #[test]
    fn an_empty_prefix_puts_the_service_first() {
        let key = segment_key(&Key::default(), "svc", 0, "s1", "seg-000001.rtidx");
        assert_eq!(key.as_ref(), "svc/1970-01-01/00/s1/seg-000001.rtidx");
    }

    #[test]
    fn a_service_name_with_a_slash_stays_one_part() {
        let key = segment_key(&Key::default(), "a/b", 0, "s1", "f");
        assert_eq!(key.parts().count(), 5, "{key}");
    }
}
