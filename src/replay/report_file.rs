//! The replay report file: one JSON document that says, per recording, whether a
//! replay reproduced it and, where it did not, what the service answered instead.
//!
//! Both ways of replaying write it: traffic replay (`retrace replay --target URL
//! --report FILE`) and in-process replay (`retrace_tower::ReplayReport::entry`, one
//! entry per recording replayed), so one viewer (`retrace view --report FILE`) shows
//! either. The recorded side is not copied in: the report names recordings by id and a
//! reader takes the recorded request and response from the recording directory. The
//! new answer is kept whole (after redaction, as compared), because a side-by-side
//! view needs more than the list of changes.
//!
//! The file carries a format number; a reader refuses a newer one by name instead of
//! showing half of it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::diff::Diff;
use crate::event::Header;

/// The format this version of the library writes and the newest it reads.
pub const REPORT_FORMAT: u32 = 1;

/// How the recordings were replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayKind {
    /// Through the service in this process, outgoing calls answered from recordings.
    InProcess,
    /// Sent as traffic to a live endpoint.
    Traffic,
}

impl ReplayKind {
    /// `in-process` or `traffic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProcess => "in-process",
            Self::Traffic => "traffic",
        }
    }
}

/// What a replay made of one recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The answer matched (noise aside) and every recorded call was used as recorded.
    Identical,
    /// The answer or the calls differed.
    Different,
    /// No answer to compare: the replay failed.
    Error,
    /// Not replayed (a request that cannot be sent again, say); `error` says why.
    Skipped,
}

impl Verdict {
    /// `identical`, `different`, `error` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identical => "identical",
            Self::Different => "different",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }
}

/// One header of a replayed answer, as text (invalid UTF-8 replaced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerHeader {
    /// The name, lower case.
    pub name: String,
    /// The value.
    pub value: String,
}

/// The answer a replay got, after redaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayedAnswer {
    /// The status.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<AnswerHeader>,
    /// The body when it is UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// The body in standard base64 when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// The trailers, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trailers: Vec<AnswerHeader>,
}

fn text_headers(headers: &[Header]) -> Vec<AnswerHeader> {
    headers
        .iter()
        .map(|h| AnswerHeader {
            name: h.name.to_string(),
            value: String::from_utf8_lossy(&h.value).into_owned(),
        })
        .collect()
}

impl ReplayedAnswer {
    /// An answer from its parts; the body is kept as text when it is UTF-8.
    pub fn new(status: u16, headers: &[Header], body: &[u8], trailers: &[Header]) -> Self {
        let (body_text, body_base64) = match std::str::from_utf8(body) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(STANDARD.encode(body))),
        };
        Self {
            status,
            headers: text_headers(headers),
            body_text,
            body_base64,
            trailers: text_headers(trailers),
        }
    }

    /// The body's bytes; a base64 body that does not decode is an error naming it.
    pub fn body(&self) -> Result<Vec<u8>, ReportFileError> {
        match (&self.body_text, &self.body_base64) {
            (Some(text), _) => Ok(text.as_bytes().to_vec()),
            (None, Some(b64)) => STANDARD.decode(b64).map_err(|e| ReportFileError::Invalid {
                field: "body_base64",
                reason: e.to_string(),
            }),
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// A [`RecordingId`](crate::RecordingId) as its 26-character text in JSON.
mod id_as_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(
        id: &crate::RecordingId,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<crate::RecordingId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<crate::RecordingId>().map_err(D::Error::custom)
    }
}

/// One recording's line in the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportEntry {
    /// The recording's id, written as its text form (a JSON number would not hold 128
    /// bits in most readers).
    #[serde(with = "id_as_text")]
    pub id: crate::RecordingId,
    /// `METHOD path` of the recorded request.
    pub route: String,
    /// What the replay made of it.
    pub verdict: Verdict,
    /// The answer the replay got (the first that differed, for traffic replay that sent
    /// a recording several times), when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ReplayedAnswer>,
    /// What differed from the recorded response, noise listed apart.
    #[serde(default)]
    pub diff: Diff,
    /// Outgoing calls no recorded call answered (in-process replay).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_calls: Vec<String>,
    /// Recorded calls the replay never made (in-process replay).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused_calls: Vec<String>,
    /// Values asked for that the recording lacked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_values: Vec<String>,
    /// The error of a replay that got no answer, or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Times sent (traffic replay sends a recording once per repeat).
    #[serde(default = "one")]
    pub sent: u64,
}

fn one() -> u64 {
    1
}

impl ReportEntry {
    /// An entry with nothing but its verdict; fill in the rest by field.
    pub fn new(id: crate::RecordingId, route: impl Into<String>, verdict: Verdict) -> Self {
        Self {
            id,
            route: route.into(),
            verdict,
            answer: None,
            diff: Diff::default(),
            unmatched_calls: Vec::new(),
            unused_calls: Vec::new(),
            missing_values: Vec::new(),
            error: None,
            sent: 1,
        }
    }
}

/// Why a report file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportFileError {
    /// Reading or writing the file failed.
    #[error("replay report {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a replay report.
    #[error("replay report {}: not a replay report: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why parsing stopped.
        #[source]
        source: serde_json::Error,
    },
    /// Written by a newer version.
    #[error(
        "replay report {}: format {found} is newer than this version reads ({REPORT_FORMAT}); upgrade retrace",
        path.display()
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format number.
        found: u32,
    },
    /// A field holds what it cannot.
    #[error("replay report: {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A whole replay report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayReportFile {
    /// [`REPORT_FORMAT`] when written.
    pub format: u32,
    /// How the recordings were replayed.
    pub kind: ReplayKind,
    /// The live endpoint of a traffic replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// When the replay ran, microseconds since the Unix epoch.
    pub created_unix_us: u64,
    /// One entry per recording, in the order replayed.
    pub recordings: Vec<ReportEntry>,
}

impl ReplayReportFile {
    /// An empty report of a replay run now.
    pub fn new(kind: ReplayKind, target: Option<String>) -> Self {
        let created_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        Self {
            format: REPORT_FORMAT,
            kind,
            target,
            created_unix_us,
            recordings: Vec::new(),
        }
    }

    /// How many entries have each verdict: identical, different, error, skipped.
    pub fn counts(&self) -> [usize; 4] {
        let mut counts = [0; 4];
        for entry in &self.recordings {
            counts[entry.verdict as usize] += 1;
        }
        counts
    }

    /// The entry of a recording.
    pub fn entry(&self, id: crate::RecordingId) -> Option<&ReportEntry> {
        self.recordings.iter().find(|e| e.id == id)
    }

    /// Writes the report as pretty-printed JSON: to a temporary file beside `path`,
    /// then renamed over it, so a reader never sees half a report.
    pub fn write(&self, path: &Path) -> Result<(), ReportFileError> {
        let io = |source| ReportFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| ReportFileError::Invalid {
            field: "recordings",
            reason: e.to_string(),
        })?;
        json.push(b'\n');
        // A report holds replayed answers, which may hold what the recordings redacted
        // nowhere: it is made readable by its owner only, as recordings are.
        // A temporary file left by a crashed run of the same pid is removed first, so
        // the new one is created with this mode rather than keeping the old one's.
        let _ = fs::remove_file(&tmp);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(&json).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(io)
    }

    /// Reads a report; a file of a newer format is refused by name.
    pub fn read(path: &Path) -> Result<Self, ReportFileError> {
        let bytes = fs::read(path).map_err(|source| ReportFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let parse = |source| ReportFileError::Parse {
            path: path.to_path_buf(),
            source,
        };
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(&bytes).map_err(parse)?;
        if head.format > REPORT_FORMAT {
            return Err(ReportFileError::NewerFormat {
                path: path.to_path_buf(),
                found: head.format,
            });
        }
        serde_json::from_slice(&bytes).map_err(parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{NoiseRules, ResponseView, diff_responses};

    fn sample() -> ReplayReportFile {
        let mut file =
            ReplayReportFile::new(ReplayKind::Traffic, Some("http://127.0.0.1:1".into()));
        let headers = [Header::new("content-type", "application/json")];
        let diff = diff_responses(
            &ResponseView::new(200, &headers, br#"{"total":1,"note":null}"#),
            &ResponseView::new(200, &headers, br#"{"total":2,"note":"late"}"#),
            &NoiseRules::none(),
        );
        let mut different =
            ReportEntry::new(crate::RecordingId::new(), "GET /a", Verdict::Different);
        different.answer = Some(ReplayedAnswer::new(200, &headers, br#"{"total":2}"#, &[]));
        different.diff = diff;
        file.recordings.push(different);
        let mut binary = ReportEntry::new(crate::RecordingId::new(), "GET /b", Verdict::Identical);
        binary.answer = Some(ReplayedAnswer::new(200, &[], &[0xff, 0, 1], &[]));
        file.recordings.push(binary);
        file
    }

    #[test]
    fn a_report_reads_back_as_written_with_its_json_paths_and_binary_bodies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let file = sample();
        file.write(&path).expect("written");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let back = ReplayReportFile::read(&path).expect("read");
        assert_eq!(back, file);
        assert!(
            back.recordings[0].diff.changes.iter().any(|c| matches!(
                c,
                crate::diff::Change::Json { path, expected: Some(serde_json::Value::Null), .. }
                    if path == "$.note"
            )),
            "a recorded null stays a value that existed: {:?}",
            back.recordings[0].diff
        );
        assert_eq!(back.counts(), [1, 1, 0, 0]);
        let text = fs::read_to_string(&path).expect("text");
        assert!(text.contains(r#""path": "$.total""#), "{text}");
        assert!(text.contains(r#""verdict": "different""#), "{text}");
        let id = format!(r#""id": "{}""#, file.recordings[0].id);
        assert!(text.contains(&id), "{id} in {text}");
        let binary = back.recordings[1].answer.as_ref().expect("answer");
        assert_eq!(binary.body_base64.as_deref(), Some("/wAB"));
        assert_eq!(binary.body().expect("decodes"), vec![0xff, 0, 1]);
    }

    #[test]
    fn a_newer_format_and_a_foreign_file_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let mut file = sample();
        file.format = REPORT_FORMAT + 1;
        file.write(&path).expect("written");
        let err = ReplayReportFile::read(&path)
            .expect_err("newer")
            .to_string();
        assert!(
            err.ends_with(&format!(
                "format {} is newer than this version reads ({REPORT_FORMAT}); upgrade retrace",
                REPORT_FORMAT + 1
            )),
            "{err}"
        );
        fs::write(&path, "[1, 2]").expect("written");
        let err = ReplayReportFile::read(&path)
            .expect_err("foreign")
            .to_string();
        assert!(err.contains("not a replay report"), "{err}");
        let missing = dir.path().join("missing.json");
        let err = ReplayReportFile::read(&missing)
            .expect_err("missing")
            .to_string();
        assert!(err.starts_with("replay report "), "{err}");
        assert!(err.contains("missing.json"), "{err}");
    }
}
