//! Selecting recordings by what their summaries say. `ls` and any later subcommand that
//! selects recordings (`stats`, replay as traffic) take the same options, so a filter
//! tried with `ls` selects the same recordings everywhere. Filters read summaries only,
//! never bodies, so they cost nothing beyond the listing.

use clap::Args;
use retrace::{CaptureId, RecordReason, RecordingInfo};

use std::time::Duration;

use crate::time::{When, now_unix_us, parse_duration, parse_when};

/// The filter options.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct FilterArgs {
    /// Only recordings of this service (repeat for several)
    #[arg(long, value_name = "NAME")]
    pub(crate) service: Vec<String>,
    /// Only these statuses: a code (404), a class (5xx) or `none` (no response);
    /// comma-separated or repeated
    #[arg(long, value_name = "STATUS", value_delimiter = ',', value_parser = StatusMatch::parse)]
    pub(crate) status: Vec<StatusMatch>,
    /// Only requests whose path starts with this
    #[arg(long, value_name = "PREFIX")]
    pub(crate) path_prefix: Option<String>,
    /// Only this distributed trace (32 hex digits, or a prefix of them)
    #[arg(long, value_name = "HEX", value_parser = parse_trace_prefix)]
    pub(crate) trace_id: Option<String>,
    /// Only recordings started at or after this: a duration back from now (1h, 30m,
    /// 7d) or a UTC timestamp (2024-05-01T12:00:00Z, 2024-05-01)
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub(crate) since: Option<When>,
    /// Only recordings started at or before this (same forms as --since)
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub(crate) until: Option<When>,
    /// Only recordings kept for this reason: sampled, header, flag, window, parent,
    /// manual, capture, kept-on-status, kept-on-error, kept-on-latency, or kept (any
    /// kept-on-*); comma-separated or repeated
    #[arg(long, value_name = "REASON", value_delimiter = ',', value_parser = ReasonMatch::parse)]
    pub(crate) reason: Vec<ReasonMatch>,
    /// Only recordings made in this pod (a name or its prefix: web-7f9c)
    #[arg(long, value_name = "NAME")]
    pub(crate) pod: Option<String>,
    /// Only recordings made on this node (a name or its prefix)
    #[arg(long, value_name = "NAME")]
    pub(crate) node: Option<String>,
    /// Only recordings made in this namespace
    #[arg(long, value_name = "NAME")]
    pub(crate) namespace: Option<String>,
    /// Only recordings made by a build of this commit (a hash or its prefix)
    #[arg(long, value_name = "HASH")]
    pub(crate) commit: Option<String>,
    /// Only recordings taken by this capture (its id, as the admin service gave it)
    #[arg(long, value_name = "ID", value_parser = parse_capture)]
    pub(crate) capture: Option<CaptureId>,
    /// Only recordings with parts missing (never ended, a chunk lost on the way to disk)
    #[arg(long)]
    pub(crate) incomplete: bool,
    /// Only requests with this method (GET, POST, ...; repeat for several)
    #[arg(long, value_name = "METHOD", value_delimiter = ',')]
    pub(crate) method: Vec<String>,
    /// Only recordings that took at least this long (250ms, 2s)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) min_duration: Option<Duration>,
    /// Only recordings that took at most this long (same forms as --min-duration)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) max_duration: Option<Duration>,
    /// Only requests whose target (path and query) contains this text, ignoring case
    #[arg(long, value_name = "TEXT")]
    pub(crate) search: Option<String>,
}

/// A `--status` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusMatch {
    /// One code.
    Code(u16),
    /// A class: 1 to 5 for `1xx` to `5xx`.
    Class(u16),
    /// No response status at all.
    None,
}

impl StatusMatch {
    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let bad = || format!("expected a status code (404), a class (5xx) or `none`, got {text:?}");
        if t == "none" {
            return Ok(Self::None);
        }
        if let Some(class) = t.strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) if class.len() == 1 => Ok(Self::Class(c)),
                _ => Err(bad()),
            };
        }
        match t.parse::<u16>() {
            Ok(code @ 100..=599) if t.len() == 3 => Ok(Self::Code(code)),
            _ => Err(bad()),
        }
    }

    fn matches(self, status: Option<u16>) -> bool {
        match (self, status) {
            (Self::Code(c), Some(s)) => c == s,
            (Self::Class(c), Some(s)) => s / 100 == c,
            (Self::None, None) => true,
            _ => false,
        }
    }
}

/// A `--reason` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReasonMatch {
    /// One reason, by its printed name.
    Exact(&'static str),
    /// Any kept-on-* reason.
    AnyKept,
}

const REASON_NAMES: [&str; 10] = RecordReason::NAMES;

impl ReasonMatch {
    fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        if t == "kept" {
            return Ok(Self::AnyKept);
        }
        REASON_NAMES
            .iter()
            .find(|&&n| n == t)
            .map(|&n| Self::Exact(n))
            .ok_or_else(|| {
                format!(
                    "unknown reason {text:?}; expected one of {}, kept",
                    REASON_NAMES.join(", ")
                )
            })
    }

    fn matches(&self, reason: Option<RecordReason>) -> bool {
        match (self, reason) {
            (Self::Exact(name), Some(r)) => r.as_str() == *name,
            (Self::AnyKept, Some(r)) => matches!(r, RecordReason::KeptOnOutcome(_)),
            (_, None) => false,
        }
    }
}

/// Whether a recording's session names a value starting with `wanted` (no filter: yes).
fn origin_matches(
    info: &RecordingInfo,
    wanted: &Option<String>,
    field: impl Fn(&retrace::metadata::Origin) -> &Option<String>,
) -> bool {
    wanted.as_deref().is_none_or(|w| {
        info.session
            .origin()
            .and_then(|o| field(o).as_deref())
            .is_some_and(|v| v.starts_with(w))
    })
}

fn parse_capture(text: &str) -> Result<CaptureId, String> {
    text.trim()
        .parse()
        .map_err(|e: retrace::IdError| e.to_string())
}

fn parse_trace_prefix(text: &str) -> Result<String, String> {
    let t = text.trim().to_ascii_lowercase();
    if t.is_empty() || t.len() > 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("expected up to 32 hex digits, got {text:?}"));
    }
    Ok(t)
}

/// Filter options resolved against the present, ready to test summaries.
#[derive(Debug)]
pub(crate) struct Filter {
    args: FilterArgs,
    since_us: Option<u64>,
    until_us: Option<u64>,
    search: Option<String>,
}

impl FilterArgs {
    /// Resolves relative times against now.
    pub(crate) fn resolve(&self) -> Filter {
        let now = now_unix_us();
        Filter {
            args: self.clone(),
            since_us: self.since.map(|w| w.unix_us(now)),
            until_us: self.until.map(|w| w.unix_us(now)),
            search: self.search.as_deref().map(str::to_lowercase),
        }
    }
}

impl Filter {
    /// Whether a listed recording passes every given filter.
    pub(crate) fn matches(&self, info: &RecordingInfo) -> bool {
        let a = &self.args;
        let s = &info.summary;
        (a.service.is_empty() || a.service.iter().any(|n| n == info.session.service()))
            && (a.status.is_empty() || a.status.iter().any(|m| m.matches(s.status)))
            && a.path_prefix
                .as_deref()
                .is_none_or(|p| s.path().starts_with(p))
            && a.trace_id
                .as_deref()
                .is_none_or(|t| s.trace_id.is_some_and(|id| id.to_string().starts_with(t)))
            && self.since_us.is_none_or(|t| s.started_unix_us >= t)
            && self.until_us.is_none_or(|t| s.started_unix_us <= t)
            && (a.reason.is_empty() || a.reason.iter().any(|m| m.matches(s.reason)))
            && a.capture
                .is_none_or(|c| s.reason == Some(RecordReason::Capture(c)))
            && origin_matches(info, &a.pod, |o| &o.pod)
            && origin_matches(info, &a.node, |o| &o.node)
            && origin_matches(info, &a.namespace, |o| &o.namespace)
            && origin_matches(info, &a.commit, |o| &o.git_commit)
            && (!a.incomplete || !s.complete())
            && (a.method.is_empty() || a.method.iter().any(|m| m.eq_ignore_ascii_case(&s.method)))
            && a.min_duration.is_none_or(|d| {
                s.duration_us
                    .is_some_and(|us| u128::from(us) >= d.as_micros())
            })
            && a.max_duration.is_none_or(|d| {
                s.duration_us
                    .is_some_and(|us| u128::from(us) <= d.as_micros())
            })
            && self
                .search
                .as_deref()
                .is_none_or(|t| s.uri.to_lowercase().contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_as_codes_classes_and_none() {
        assert_eq!(StatusMatch::parse("404"), Ok(StatusMatch::Code(404)));
        assert_eq!(StatusMatch::parse("5XX"), Ok(StatusMatch::Class(5)));
        assert_eq!(StatusMatch::parse("none"), Ok(StatusMatch::None));
        for bad in ["6xx", "99", "abc", "1000", "55xx"] {
            assert!(StatusMatch::parse(bad).is_err(), "{bad}");
        }
        assert!(StatusMatch::Class(5).matches(Some(503)));
        assert!(!StatusMatch::Class(5).matches(None));
        assert!(StatusMatch::None.matches(None));
    }

    #[test]
    fn reasons_parse_by_their_printed_names() {
        use retrace::KeepCause;
        let kept = Some(RecordReason::KeptOnOutcome(KeepCause::Latency));
        assert!(ReasonMatch::parse("kept").unwrap().matches(kept));
        assert!(ReasonMatch::parse("kept-on-latency").unwrap().matches(kept));
        assert!(!ReasonMatch::parse("kept-on-error").unwrap().matches(kept));
        assert!(
            ReasonMatch::parse("sampled")
                .unwrap()
                .matches(Some(RecordReason::Sampled))
        );
        assert!(ReasonMatch::parse("bogus").is_err());
    }

    #[test]
    fn every_reason_the_recorder_writes_can_be_filtered() {
        for reason in RecordReason::EVERY_KIND {
            let m = ReasonMatch::parse(reason.as_str()).unwrap();
            assert!(m.matches(Some(reason)), "{}", reason.as_str());
        }
    }
}
