//! Exit codes: one per kind of outcome a script may want to tell apart, documented in
//! every `--help`, and the mapping from errors to them.

use std::fmt;
use std::io;
use std::process::ExitCode;

use retrace::StoreError;

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Everything went as asked.
    Success = 0,
    /// The command ran and found or left problems (verify: damage; gc: a file could not
    /// be deleted).
    Problems = 1,
    /// The command line was wrong.
    Usage = 2,
    /// No recording matches the id, the prefix is ambiguous, or it is not an id (replay:
    /// no recording is selected, or none can be replayed).
    NoSuchRecording = 3,
    /// The recording directory is missing or unreadable.
    StoreUnreadable = 4,
    /// A recording asked for is damaged and cannot be read.
    Damaged = 5,
    /// An output file could not be written.
    Output = 6,
    /// Replay: an answer differed from its recording, or a request got no answer.
    ReplayDiffered = 7,
    /// Replay: the target could not be reached at all.
    Unreachable = 8,
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        ExitCode::from(status as u8)
    }
}

/// The exit codes as `--help` lists them.
pub(crate) const EXIT_CODES: &str = "\
Exit status:
  0  success (verify: every file is sound)
  1  problems found: verify found damage, gc could not delete a file
  2  usage error: unknown option or invalid value
  3  no recording matches the id, or the prefix matches several (replay: nothing to send)
  4  the recording directory is missing or unreadable
  5  a recording asked for is damaged and cannot be read
  6  an output file could not be written
  7  replay: an answer differed from its recording, or a request failed
  8  replay: the target could not be reached";

/// An error that carries its exit status.
#[derive(Debug)]
pub(crate) struct Failure {
    status: Status,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error with the given exit status.
pub(crate) fn fail(status: Status, message: impl fmt::Display) -> anyhow::Error {
    Failure {
        status,
        message: message.to_string(),
    }
    .into()
}

/// The exit status for an error. A closed pipe (`retrace ls | head`) is a success: the
/// reader has all it wanted.
pub(crate) fn classify(err: &anyhow::Error) -> Status {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.status;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return match e {
                StoreError::NotFound(_) | StoreError::Io { .. } => Status::StoreUnreadable,
                StoreError::UnknownId(_)
                | StoreError::InvalidId(_)
                | StoreError::AmbiguousPrefix { .. } => Status::NoSuchRecording,
                StoreError::Damaged { .. } => Status::Damaged,
                _ => Status::Problems,
            };
        }
        let io_kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        if io_kind == Some(io::ErrorKind::BrokenPipe) {
            return Status::Success;
        }
    }
    Status::Problems
}
