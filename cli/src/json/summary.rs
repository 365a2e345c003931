//! [`SummaryView`]: one recording's summary as JSON.

use retrace::RecordingInfo;
use serde::Serialize;

use crate::time::rfc3339_millis;

/// The listing view of a recording, as `ls --json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct SummaryView<'a> {
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
    trace_id: Option<String>,
    truncated: bool,
    incomplete: bool,
    aborted: bool,
    failed: bool,
}

impl<'a> SummaryView<'a> {
    /// The view of a listed recording.
    pub(crate) fn new(info: &'a RecordingInfo) -> Self {
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
            trace_id: s.trace_id.map(|t| t.to_string()),
            truncated: s.truncated,
            incomplete: !s.complete(),
            aborted: s.aborted,
            failed: s.failed,
        }
    }
}
