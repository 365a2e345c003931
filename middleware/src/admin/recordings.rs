//! `GET /recordings` and `GET /recordings/{id}`: the recordings on this process's
//! disk, as stored (redacted before they were written), in the JSON the CLI prints
//! ([`retrace::json`]).
//!
//! The listing is newest first and paginated: `limit` (default 100, at most the
//! service's `max_page`) and `cursor` (the `next_cursor` of the previous page). Filters:
//! `since` (an RFC 3339 time, or a duration back from now such as `15m`), `capture`
//! (a capture id), `status` (a code such as `503` or a class such as `5xx`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use retrace::json::{RecordingView, SummaryView};
use retrace::{CaptureId, RecordReason, RecordingId, RecordingInfo, Store, StoreError};
use serde_json::{Value, json};

use super::error::ApiError;

const DEFAULT_PAGE: usize = 100;

/// The query of `GET /recordings`, parsed.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    since_unix_us: Option<u64>,
    capture: Option<CaptureId>,
    status: Option<(u16, u16)>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl ListQuery {
    /// Parses `since=…&capture=…&status=…&limit=…&cursor=…`, naming a bad value.
    pub(crate) fn parse(query: &str) -> Result<Self, ApiError> {
        let mut q = Self::default();
        let bad = |name: &str, value: &str, why: &str| {
            ApiError::bad_request("invalid_query", format!("{name}={value:?}: {why}"))
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match name {
                "since" => {
                    q.since_unix_us = Some(since(&value).ok_or_else(|| {
                        bad(
                            name,
                            &value,
                            "expected an RFC 3339 time or a duration such as 15m",
                        )
                    })?)
                }
                "capture" => {
                    q.capture = Some(
                        value
                            .parse()
                            .map_err(|e: retrace::IdError| bad(name, &value, &e.to_string()))?,
                    )
                }
                "status" => {
                    q.status = Some(status_range(&value).ok_or_else(|| {
                        bad(
                            name,
                            &value,
                            "expected a status such as 503 or a class such as 5xx",
                        )
                    })?)
                }
                "limit" => {
                    q.limit = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|&n: &usize| n > 0)
                            .ok_or_else(|| bad(name, &value, "expected a number above 0"))?,
                    )
                }
                "cursor" => q.cursor = Some(value),
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "unknown parameter {other:?}: expected since, capture, status, limit or cursor"
                        ),
                    ));
                }
            }
        }
        Ok(q)
    }

    fn keeps(&self, info: &RecordingInfo) -> bool {
        let s = &info.summary;
        self.since_unix_us.is_none_or(|t| s.started_unix_us >= t)
            && self
                .capture
                .is_none_or(|c| s.reason == Some(RecordReason::Capture(c)))
            && self
                .status
                .is_none_or(|(lo, hi)| s.status.is_some_and(|st| (lo..=hi).contains(&st)))
    }
}

fn since(value: &str) -> Option<u64> {
    let at = humantime::parse_rfc3339_weak(value).ok().or_else(|| {
        humantime::parse_duration(value)
            .ok()
            .and_then(|ago| SystemTime::now().checked_sub(ago))
    })?;
    at.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_micros() as u64)
}

fn status_range(value: &str) -> Option<(u16, u16)> {
    if let Some(class) = value.strip_suffix("xx") {
        let c: u16 = class.parse().ok().filter(|c| (1..=5).contains(c))?;
        return Some((c * 100, c * 100 + 99));
    }
    let code: u16 = value.parse().ok().filter(|c| (100..=599).contains(c))?;
    Some((code, code))
}

/// `%XX` escapes and `+` as space, as a query string carries them.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn open(root: &Path) -> Result<Option<Store>, ApiError> {
    match Store::open(root) {
        Ok(store) => Ok(Some(store)),
        // Nothing recorded yet.
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

/// One page of the listing, newest first.
pub(crate) fn list(root: &Path, query: &ListQuery, max_page: usize) -> Result<Value, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).min(max_page);
    let Some(store) = open(root)? else {
        return Ok(json!({ "recordings": [], "next_cursor": null }));
    };
    let listing = store.list();
    let matching: Vec<&RecordingInfo> = listing
        .recordings
        .iter()
        .filter(|i| query.keeps(i))
        .collect();
    let start = match &query.cursor {
        None => 0,
        Some(cursor) => {
            let cursor: RecordingId = cursor.parse().map_err(|e: retrace::IdError| {
                ApiError::bad_request("invalid_query", format!("cursor: {e}"))
            })?;
            // Everything up to and including the cursor's recording was on earlier
            // pages; when it is gone (deleted, or out of a moving `since`), whatever
            // is older than it.
            match matching.iter().position(|i| i.summary.id == cursor) {
                Some(at) => at + 1,
                None => matching
                    .iter()
                    .position(|i| i.summary.id < cursor)
                    .unwrap_or(matching.len()),
            }
        }
    };
    let mut matching = matching.into_iter().skip(start);
    let page: Vec<&RecordingInfo> = matching.by_ref().take(limit).collect();
    let more = matching.next().is_some();
    let next = page
        .last()
        .filter(|_| more)
        .map(|i| i.summary.id.to_string());
    let items: Vec<SummaryView<'_>> = page.iter().map(|i| SummaryView::new(i)).collect();
    Ok(json!({ "recordings": items, "next_cursor": next }))
}

/// One recording, whole.
pub(crate) fn get(root: &Path, id: &str) -> Result<Value, ApiError> {
    let unknown =
        || ApiError::not_found("unknown_recording", format!("no recording matches {id:?}"));
    let store = open(root)?.ok_or_else(unknown)?;
    let listing = store.list();
    let info = Store::find(&listing, id).map_err(|e| match e {
        StoreError::UnknownId(_) => unknown(),
        StoreError::InvalidId(_) | StoreError::AmbiguousPrefix { .. } => {
            ApiError::bad_request("invalid_id", e.to_string())
        }
        other => ApiError::internal(other.to_string()),
    })?;
    let recording = store.load(info).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "damaged_recording",
            e.to_string(),
        )
    })?;
    serde_json::to_value(RecordingView::new(info, &recording))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_name_bad_values() {
        let q = ListQuery::parse("status=5xx&limit=10&capture=00000000000000ff").unwrap();
        assert_eq!(q.status, Some((500, 599)));
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.capture, Some(CaptureId(255)));
        assert_eq!(
            ListQuery::parse("status=9xx").unwrap_err().message,
            "status=\"9xx\": expected a status such as 503 or a class such as 5xx"
        );
        assert_eq!(
            ListQuery::parse("sort=asc").unwrap_err().message,
            "unknown parameter \"sort\": expected since, capture, status, limit or cursor"
        );
        assert!(
            ListQuery::parse("since=15m")
                .unwrap()
                .since_unix_us
                .is_some()
        );
        assert!(
            ListQuery::parse("since=2026-12-01T10%3A00%3A00Z")
                .unwrap()
                .since_unix_us
                .is_some()
        );
    }
}
