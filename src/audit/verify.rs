//! Checking the chain ([`verify`]) and reading the lines back ([`read`]), across the
//! rotated files, oldest first. Neither ever writes.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::files::{LineReader, log_files, same_file};
use super::line::{AuditLine, BrokenReason, ChainEnd, parse, parse_and_check, sniff_seq};
use super::{AuditError, GENESIS_HASH};

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The files checked, oldest first (rotated files, then the current one).
    pub files: Vec<PathBuf>,
    /// How many lines checked out (all of them when the log is intact, else those
    /// before the broken one).
    pub lines: u64,
    /// The seq of the first line: above 1 when older files were rotated away.
    pub first_seq: Option<u64>,
    /// The seq of the last line that checked out.
    pub last_seq: Option<u64>,
    /// The hash of the last line that checked out: keep it elsewhere to anchor the
    /// chain (see the [module docs](super)).
    pub last_hash: Option<String>,
    /// The first line that breaks the chain.
    pub broken: Option<BrokenLine>,
}

impl VerifyReport {
    /// Whether every line checked out.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The first line that breaks the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokenLine {
    /// The file, as derived from the path given to [`verify`].
    pub file: PathBuf,
    /// The line's 1-based number in that file.
    pub line: u64,
    /// Its seq, when readable.
    pub seq: Option<u64>,
    /// What is wrong.
    pub reason: BrokenReason,
}

impl fmt::Display for BrokenLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file.display(), self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Checks the log at `path` and its rotated files: that each line is a complete audit
/// line, that its hash matches its content, that its `prev` is the previous line's
/// hash and its `seq` the previous one plus one. Stops at the first broken line, which
/// the report names. A log that does not exist is [`AuditError::NotFound`].
///
/// It reads without locking; when it finds a break, it checks again while holding off
/// writers, so an append or a rotation seen half-way is not reported as damage.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, AuditError> {
    let path = path.as_ref();
    let report = check(path)?;
    if report.is_intact() {
        return Ok(report);
    }
    for _ in 0..3 {
        let Ok(file) = File::open(path) else { break };
        if file.lock_shared().is_err() {
            break;
        }
        let current = match (file.metadata(), fs::metadata(path)) {
            (Ok(ours), Ok(on_disk)) => same_file(&ours, &on_disk),
            _ => false,
        };
        if current {
            let again = check(path);
            let _ = file.unlock();
            return again;
        }
    }
    Ok(report)
}

fn check(path: &Path) -> Result<VerifyReport, AuditError> {
    let files = log_files(path)?;
    let mut report = VerifyReport {
        files: files.clone(),
        lines: 0,
        first_seq: None,
        last_seq: None,
        last_hash: None,
        broken: None,
    };
    // The previous line: its file's index, its number there and where the chain was.
    let mut prev: Option<(usize, u64, ChainEnd)> = None;
    for (i, file) in files.iter().enumerate() {
        let mut reader = LineReader::open(file)?;
        while let Some(raw) = reader.next_line().map_err(AuditError::io(file, "read"))? {
            let checked = match raw.framing_problem() {
                Some(problem) => Err(problem),
                None => parse_and_check(&raw.bytes),
            };
            let chained = checked.and_then(|line| {
                let broken = match &prev {
                    None if line.seq == 1 && line.prev != GENESIS_HASH => {
                        Some(BrokenReason::FirstPrevNotZero)
                    }
                    None => None,
                    Some((_, _, end)) if line.seq != end.seq + 1 => Some(BrokenReason::SeqGap {
                        seq: line.seq,
                        after: end.seq,
                    }),
                    Some((at, number, end)) if line.prev != end.hash => {
                        Some(BrokenReason::PrevMismatch {
                            file: (*at != i).then(|| files[*at].clone()),
                            line: *number,
                        })
                    }
                    Some(_) => None,
                };
                broken.map_or(Ok(line), Err)
            });
            match chained {
                Ok(line) => {
                    report.lines += 1;
                    report.first_seq.get_or_insert(line.seq);
                    report.last_seq = Some(line.seq);
                    report.last_hash = Some(line.hash.clone());
                    prev = Some((
                        i,
                        raw.number,
                        ChainEnd {
                            seq: line.seq,
                            hash: line.hash,
                        },
                    ));
                }
                Err(reason) => {
                    report.broken = Some(BrokenLine {
                        file: file.clone(),
                        line: raw.number,
                        seq: sniff_seq(&raw.bytes),
                        reason,
                    });
                    return Ok(report);
                }
            }
        }
    }
    Ok(report)
}

/// Reads the lines of the log at `path`, oldest first across its rotated files. Each
/// line is only parsed: the chain is [`verify`]'s job. A line that cannot be read is an
/// [`AuditError::BadLine`] and reading goes on with the next one.
pub fn read(path: impl AsRef<Path>) -> Result<Entries, AuditError> {
    Ok(Entries {
        files: log_files(path.as_ref())?.into_iter(),
        current: None,
    })
}

/// The lines of a log, oldest first; see [`read`].
#[derive(Debug)]
pub struct Entries {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, LineReader)>,
}

impl Iterator for Entries {
    type Item = Result<AuditLine, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, reader)) = &mut self.current else {
                let path = self.files.next()?;
                match LineReader::open(&path) {
                    Ok(reader) => self.current = Some((path, reader)),
                    Err(e) => return Some(Err(e)),
                }
                continue;
            };
            let raw = match reader.next_line() {
                Ok(Some(raw)) => raw,
                Ok(None) => {
                    self.current = None;
                    continue;
                }
                Err(e) => {
                    let e = AuditError::io(path, "read")(e);
                    self.current = None;
                    return Some(Err(e));
                }
            };
            let parsed = match raw.framing_problem() {
                Some(problem) => Err(problem),
                None => parse(&raw.bytes),
            };
            return Some(parsed.map_err(|reason| AuditError::BadLine {
                path: path.clone(),
                line: raw.number,
                reason,
            }));
        }
    }
}
