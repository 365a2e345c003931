//! [`SummaryView`]: one recording's summary as JSON.

use crate::RecordingInfo;
use serde::Serialize;

/// The listing view of a recording, as `ls --json` prints it.
#[derive(Debug, Serialize)]
pub struct SummaryView<'a> {
    id: String,
    started: String,
    started_unix_us: u64,
    service: &'a str,
    session: &'a str,
    method: &'a str,
    uri: &'a str,
    path: &'a str,
    status: Option<u16>,
    duration_us: Option<u64>,
    outbound_calls: u32,
    values: u32,
    request_bytes: u64,
    response_bytes: u64,
    size_bytes: u64,
    reason: Option<&'static str>,
    /// The capture that recorded it, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    capture: Option<String>,
    /// Where its process ran and what it was built from, when its session says.
    #[serde(skip_serializing_if = "is_unknown")]
    origin: Option<&'a crate::metadata::Origin>,
    trace_id: Option<String>,
    truncated: bool,
    incomplete: bool,
    aborted: bool,
    failed: bool,
}

impl<'a> SummaryView<'a> {
    /// The view of a listed recording.
    pub fn new(info: &'a RecordingInfo) -> Self {
        let s = &info.summary;
        Self {
            id: s.id.to_string(),
            started: rfc3339_millis(s.started_unix_us),
            started_unix_us: s.started_unix_us,
            service: info.session.service(),
            session: &info.session.name,
            method: &s.method,
            uri: &s.uri,
            path: s.path(),
            status: s.status,
            duration_us: s.duration_us,
            outbound_calls: s.outbound_calls,
            values: s.values,
            request_bytes: s.request_bytes,
            response_bytes: s.response_bytes,
            size_bytes: s.raw_bytes,
            reason: s.reason.map(|r| r.as_str()),
            origin: info.session.metadata.as_ref().map(|m| &m.origin),
            capture: match s.reason {
                Some(crate::RecordReason::Capture(id)) => Some(id.to_string()),
                _ => None,
            },
            trace_id: s.trace_id.map(|t| t.to_string()),
            truncated: s.truncated,
            incomplete: !s.complete(),
            aborted: s.aborted,
            failed: s.failed,
        }
    }
}

fn is_unknown(origin: &Option<&crate::metadata::Origin>) -> bool {
    origin.is_none_or(|o| *o == crate::metadata::Origin::default())
}

/// Microseconds since the Unix epoch as RFC 3339 UTC with milliseconds.
pub(crate) fn rfc3339_millis(unix_us: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(unix_us);
    humantime::format_rfc3339_millis(at).to_string()
}
