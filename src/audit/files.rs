//! The files of one log (the current file and its rotated predecessors), reading them
//! line by line, and finding the end of the chain from the tail of a file.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::line::{BrokenReason, ChainEnd, parse_and_check};
use super::{AuditError, MAX_LINE};

/// `<path>.<n>`: the `n`th rotated file (1 is the newest).
pub(super) fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// The numbers of the rotated files beside `path` (`.1`, `.2`…), in ascending order.
pub(super) fn rotated_numbers(path: &Path) -> io::Result<Vec<usize>> {
    let Some(name) = path.file_name() else {
        return Ok(Vec::new());
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut prefix: OsString = name.to_owned();
    prefix.push(".");
    let prefix = prefix.as_encoded_bytes().to_vec();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut numbers: Vec<usize> = entries
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let rest = file_name
                .as_encoded_bytes()
                .strip_prefix(prefix.as_slice())?;
            let text = std::str::from_utf8(rest).ok()?;
            let n: usize = text.parse().ok()?;
            (n > 0 && n.to_string() == text).then_some(n)
        })
        .collect();
    numbers.sort_unstable();
    Ok(numbers)
}

/// The log's files, oldest first: the rotated ones from the highest number down, then
/// the current file when it exists.
pub(super) fn log_files(path: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let numbers = rotated_numbers(path).map_err(AuditError::io(path, "list"))?;
    let mut files: Vec<PathBuf> = numbers.iter().rev().map(|&n| rotated(path, n)).collect();
    match fs::metadata(path) {
        Ok(_) => files.push(path.to_path_buf()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if files.is_empty() {
                return Err(AuditError::NotFound(path.to_path_buf()));
            }
        }
        Err(e) => return Err(AuditError::io(path, "read")(e)),
    }
    Ok(files)
}

/// A line as read from a file.
pub(super) struct RawLine {
    /// Its 1-based number in the file.
    pub(super) number: u64,
    /// Its bytes, without the newline.
    pub(super) bytes: Vec<u8>,
    /// Whether it ended with a newline.
    pub(super) complete: bool,
    /// Whether it was longer than [`MAX_LINE`] (its bytes are cut).
    pub(super) too_long: bool,
}

impl RawLine {
    /// What makes the line unreadable before its content is even looked at.
    pub(super) fn framing_problem(&self) -> Option<BrokenReason> {
        if self.too_long {
            Some(BrokenReason::TooLong)
        } else if !self.complete {
            Some(BrokenReason::Incomplete)
        } else {
            None
        }
    }
}

/// Reads a file line by line, never holding more than [`MAX_LINE`] bytes.
#[derive(Debug)]
pub(super) struct LineReader {
    reader: BufReader<File>,
    number: u64,
}

impl LineReader {
    pub(super) fn open(path: &Path) -> Result<Self, AuditError> {
        let file = File::open(path).map_err(AuditError::io(path, "open"))?;
        Ok(Self {
            reader: BufReader::new(file),
            number: 0,
        })
    }

    pub(super) fn next_line(&mut self) -> io::Result<Option<RawLine>> {
        let mut bytes = Vec::new();
        let limit = MAX_LINE as u64;
        (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut bytes)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        self.number += 1;
        let complete = bytes.last() == Some(&b'\n');
        let mut too_long = false;
        if complete {
            bytes.pop();
        } else if bytes.len() as u64 == limit {
            too_long = true;
            self.reader.skip_until(b'\n')?;
        }
        Ok(Some(RawLine {
            number: self.number,
            bytes,
            complete: complete || too_long,
            too_long,
        }))
    }
}

/// The end of a file's content: where its complete lines end and the chain position
/// after its last complete line (`None` when it has no complete line).
pub(super) struct FileTail {
    pub(super) complete_len: u64,
    pub(super) end: Option<ChainEnd>,
}

/// Reads the tail of `file` (`len` bytes long, named `path` in errors): the last
/// complete line, checked on its own. Bytes after the last newline are a torn line.
pub(super) fn read_tail(path: &Path, mut file: &File, len: u64) -> Result<FileTail, AuditError> {
    let window = len.min(2 * MAX_LINE as u64 + 2);
    let start = len - window;
    let mut buf = Vec::with_capacity(usize::try_from(window).unwrap_or(0));
    file.seek(SeekFrom::Start(start))
        .and_then(|_| file.take(window).read_to_end(&mut buf))
        .map_err(AuditError::io(path, "read"))?;
    let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') else {
        if start > 0 {
            return Err(broken_tail(path, None, BrokenReason::TooLong));
        }
        return Ok(FileTail {
            complete_len: 0,
            end: None,
        });
    };
    let complete_len = start + last_newline as u64 + 1;
    let line_start = match buf[..last_newline].iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start == 0 => 0,
        None => return Err(broken_tail(path, None, BrokenReason::TooLong)),
    };
    let raw = &buf[line_start..last_newline];
    let line = parse_and_check(raw).map_err(|reason| {
        let number = if start == 0 {
            Some(buf[..line_start].iter().filter(|&&b| b == b'\n').count() as u64 + 1)
        } else {
            None
        };
        broken_tail(path, number, reason)
    })?;
    Ok(FileTail {
        complete_len,
        end: Some(ChainEnd {
            seq: line.seq,
            hash: line.hash,
        }),
    })
}

fn broken_tail(path: &Path, number: Option<u64>, reason: BrokenReason) -> AuditError {
    let number = number.or_else(|| count_lines(path).ok());
    AuditError::BrokenTail {
        path: path.to_path_buf(),
        line: number.unwrap_or(0),
        reason,
    }
}

/// The number of the last complete line of a file (its count of newlines).
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut count = 0;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(count);
        }
        count += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
}

/// Where the chain ends for a writer about to append to the current file `file`
/// (`len` bytes long): after its last complete line, else after the newest rotated
/// file's last line, else at the start.
pub(super) fn chain_end(path: &Path, file: &File, len: u64) -> Result<FileTail, AuditError> {
    let tail = read_tail(path, file, len)?;
    if tail.end.is_some() {
        return Ok(tail);
    }
    let end = match rotated_numbers(path)
        .map_err(AuditError::io(path, "list"))?
        .first()
    {
        None => ChainEnd::genesis(),
        Some(&n) => {
            let older = rotated(path, n);
            let file = File::open(&older).map_err(AuditError::io(&older, "open"))?;
            let older_len = file
                .metadata()
                .map_err(AuditError::io(&older, "read"))?
                .len();
            read_tail(&older, &file, older_len)?
                .end
                .unwrap_or_else(ChainEnd::genesis)
        }
    };
    Ok(FileTail {
        complete_len: tail.complete_len,
        end: Some(end),
    })
}

/// Whether two metadata describe the same file. Where that cannot be told it says yes:
/// there (Windows) a file that is open cannot be renamed by another writer anyway.
pub(super) fn same_file(a: &Metadata, b: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}
