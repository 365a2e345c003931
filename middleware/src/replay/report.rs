//! [`ReplayReport`]: what a replay produced and how it differs.

use bytes::Bytes;
use retrace::RecordingId;
use retrace::diff::{Diff, NoiseRules};
use retrace::event::Header;
use retrace::replay::{ReplayedAnswer, ReportEntry, SessionReport, Verdict};
use serde::Serialize;

/// The response the service gave during replay (after redaction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplayedResponse {
    /// The status.
    pub status: u16,
    /// The headers, redacted as the recording's were.
    pub headers: Vec<Header>,
    /// The body.
    #[serde(serialize_with = "lossy")]
    pub body: Bytes,
    /// The trailers after the body (gRPC's `grpc-status`), redacted as headers are.
    pub trailers: Vec<Header>,
}

impl ReplayedResponse {
    /// The response as the diff engine sees it.
    pub fn view(&self) -> retrace::diff::ResponseView<'_> {
        retrace::diff::ResponseView::new(self.status, &self.headers, &self.body)
            .with_trailers(&self.trailers)
    }
}

fn lossy<S: serde::Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

/// The outcome of replaying one recording.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// The recording replayed.
    pub recording: RecordingId,
    /// `METHOD path` of the request.
    pub route: String,
    /// The response of this replay.
    pub response: ReplayedResponse,
    /// What differs from the recorded response (noise listed apart).
    pub diff: Diff,
    /// Outgoing calls: answered, unmatched, never made; values the recording lacked.
    pub calls: SessionReport,
    /// Noise learned by replaying twice, when asked for.
    #[serde(skip)]
    pub learned_noise: Option<NoiseRules>,
}

impl ReplayReport {
    /// Whether the replay reproduced the recording: no difference outside the noise,
    /// every call answered, every recorded call made, every recorded value found. A
    /// gap of any kind is a difference, never "identical".
    pub fn is_identical(&self) -> bool {
        self.diff.is_empty()
            && self.calls.unmatched.is_empty()
            && self.calls.unused.is_empty()
            && self.calls.missing_values.is_empty()
            && self.calls.escaped.is_empty()
    }

    /// This replay as a line of a replay report file
    /// ([`ReplayReportFile`](retrace::replay::ReplayReportFile)), which `retrace view
    /// --report FILE` shows beside the recording.
    ///
    /// ```no_run
    /// # async fn run(recordings: Vec<retrace::Recording>, app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
    /// use retrace::replay::{ReplayKind, ReplayReportFile};
    /// let mut file = ReplayReportFile::new(ReplayKind::InProcess, None);
    /// for recording in &recordings {
    ///     let report = retrace_tower::replay_recording(recording, app.clone())
    ///         .await
    ///         .or_else(retrace_tower::ReplayError::into_report)?;
    ///     file.recordings.push(report.entry());
    /// }
    /// file.write("replay.json".as_ref())?;
    /// # Ok(()) }
    /// ```
    pub fn entry(&self) -> ReportEntry {
        let verdict = if self.is_identical() {
            Verdict::Identical
        } else {
            Verdict::Different
        };
        let r = &self.response;
        let mut entry = ReportEntry::new(self.recording, self.route.clone(), verdict);
        entry.answer = Some(ReplayedAnswer::new(
            r.status,
            &r.headers,
            &r.body,
            &r.trailers,
        ));
        entry.diff = self.diff.clone();
        entry.unmatched_calls = (self.calls.unmatched.iter().map(|u| u.to_string()))
            .chain(
                self.calls
                    .escaped
                    .iter()
                    .map(|e| format!("escaped (refused): {e}")),
            )
            .collect();
        entry.unused_calls = self
            .calls
            .unused
            .iter()
            .map(|(id, method, uri)| format!("#{id} {method} {uri}"))
            .collect();
        entry.missing_values = self.calls.missing_values.clone();
        entry
    }

    /// A readable account of everything that differed.
    pub fn describe(&self) -> String {
        let mut out = format!("{} {}:\n", self.recording, self.route);
        if !self.diff.is_empty() {
            for line in self.diff.to_string().lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        for u in &self.calls.unmatched {
            out.push_str(&format!("  unmatched call: {u}\n"));
        }
        for (id, method, uri) in &self.calls.unused {
            out.push_str(&format!(
                "  recorded call #{id} {method} {uri} was not made\n"
            ));
        }
        for v in &self.calls.missing_values {
            out.push_str(&format!("  value not in the recording: {v}\n"));
        }
        for e in &self.calls.escaped {
            out.push_str(&format!("  escaped call (refused): {e}\n"));
        }
        if self.is_identical() {
            out.push_str("  identical\n");
        }
        out
    }
}
