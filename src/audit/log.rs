//! [`AuditLog`]: appending lines, locking the file against other writers, rotating.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use parking_lot::Mutex;

use super::files::{FileTail, chain_end, rotated, rotated_numbers, same_file};
use super::line::{AuditEntry, ChainEnd, seal};
use super::{AuditError, DEFAULT_KEEP, DEFAULT_ROTATE_AT};

/// How much of a torn line the repair line keeps.
const KEPT_TORN_BYTES: u64 = 4096;

/// An audit log open for appending; see the [module docs](super) for the format and what
/// it promises. Share it between threads by reference or in an `Arc`.
///
/// ```
/// use retrace::audit::{self, AuditLog};
/// use retrace::AuditEntry;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let path = audit::default_path(dir.path()); // <recording root>/audit.log
/// let log = AuditLog::open(&path)?.rotate_at(1 << 20).keep(3);
/// log.append(AuditEntry::new("oncall", "captures.create").target("/checkout"))?;
/// log.append(
///     AuditEntry::new("key:intern", "recordings.read")
///         .target("01J2F3ABCDEFGHJKMNPQRSTVWX")
///         .outcome("denied"),
/// )?;
///
/// let report = audit::verify(&path)?;
/// assert!(report.is_intact());
/// assert_eq!(report.lines, 2);
/// let actions: Vec<String> = audit::read(&path)?
///     .map(|line| line.map(|l| l.action))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(actions, ["captures.create", "recordings.read"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    rotate_at: u64,
    keep: usize,
    sync: bool,
    state: Mutex<WriterState>,
}

#[derive(Debug, Default)]
struct WriterState {
    /// The current file, open for appending (and reading its tail).
    file: Option<File>,
    /// Where the chain ended after this writer's last append, valid while the file has
    /// the same length and modification time (nobody wrote to it since).
    last: Option<(FileStamp, ChainEnd)>,
}

/// What tells whether a file changed since it was last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl AuditLog {
    /// Opens the log at `path`, creating it (mode 0600, and its directory with 0700)
    /// when missing, and checks that its last line can be continued.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_dir(dir).map_err(AuditError::io(dir, "create the directory for"))?;
        }
        let file = open_log(&path, true)?;
        Self::with_file(path, file)
    }

    /// Opens the log at `path` only if it exists (`Ok(None)` otherwise): for callers that
    /// append when an audit log is configured and must never create one.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Option<Self>, AuditError> {
        let path = path.as_ref().to_path_buf();
        match open_log(&path, false) {
            Ok(file) => Self::with_file(path, file).map(Some),
            Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn with_file(path: PathBuf, file: File) -> Result<Self, AuditError> {
        lock(&file, &path, false)?;
        let checked = file
            .metadata()
            .map_err(AuditError::io(&path, "read"))
            .and_then(|m| chain_end(&path, &file, m.len()));
        let _ = file.unlock();
        checked?;
        Ok(Self {
            path,
            rotate_at: DEFAULT_ROTATE_AT,
            keep: DEFAULT_KEEP,
            sync: false,
            state: Mutex::new(WriterState {
                file: Some(file),
                last: None,
            }),
        })
    }

    /// Rotates the file when a line would take it past `max_bytes` (default
    /// [`DEFAULT_ROTATE_AT`]). A file always takes at least one line.
    pub fn rotate_at(mut self, max_bytes: u64) -> Self {
        self.rotate_at = max_bytes;
        self
    }

    /// Keeps this many rotated files (default [`DEFAULT_KEEP`], at least 1); older ones
    /// are deleted when the file rotates.
    pub fn keep(mut self, files: usize) -> Self {
        self.keep = files.max(1);
        self
    }

    /// Syncs each line to disk before `append` returns (default: off, the line is in
    /// the operating system's hands, which survives a crash of the process but not of
    /// the machine).
    pub fn sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }

    /// The current file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` as the next line of the chain, in one write. Thread-safe, and
    /// safe against other processes appending to the same file.
    pub fn append(&self, entry: AuditEntry) -> Result<(), AuditError> {
        let mut state = self.state.lock();
        let result = self.append_locked(&mut state, &entry);
        if let Some(file) = &state.file {
            let _ = file.unlock();
        }
        result
    }

    fn append_locked(&self, state: &mut WriterState, entry: &AuditEntry) -> Result<(), AuditError> {
        let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        loop {
            let (file, reopened) = self.lock_current(state.file.take())?;
            if reopened {
                state.last = None;
            }
            let file = state.file.insert(file);
            let stamp = self.stamp(file)?;
            let len = stamp.len;
            let (complete_len, end) = match state.last.take() {
                Some((known, end)) if known == stamp => (len, end),
                _ => {
                    let FileTail { complete_len, end } = chain_end(&self.path, file, len)?;
                    (complete_len, end.unwrap_or_else(ChainEnd::genesis))
                }
            };
            if complete_len < len {
                let repair = self.discard_torn_tail(file, complete_len, len)?;
                let (line, end) = seal(&repair, &end, &at)?;
                self.write_line(file, &line, complete_len)?;
                state.last = Some((self.stamp(file)?, end));
                continue;
            }
            let (line, next) = seal(entry, &end, &at)?;
            if len > 0 && len + line.len() as u64 > self.rotate_at {
                self.rotate()?;
                // Closing the old file releases its lock; the loop opens the new one.
                state.file = None;
                continue;
            }
            self.write_line(file, &line, len)?;
            state.last = Some((self.stamp(file)?, next));
            return Ok(());
        }
    }

    fn stamp(&self, file: &File) -> Result<FileStamp, AuditError> {
        let meta = file
            .metadata()
            .map_err(AuditError::io(&self.path, "read"))?;
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// The current file, locked exclusively, and whether it was (re)opened. A file
    /// renamed away by another writer's rotation before it was locked is closed and the
    /// new one opened.
    fn lock_current(&self, held: Option<File>) -> Result<(File, bool), AuditError> {
        let mut reopened = held.is_none();
        let mut file = match held {
            Some(file) => file,
            None => open_log(&self.path, true)?,
        };
        loop {
            lock(&file, &self.path, true)?;
            let ours = file
                .metadata()
                .map_err(AuditError::io(&self.path, "read"))?;
            match fs::metadata(&self.path) {
                Ok(on_disk) if same_file(&ours, &on_disk) => return Ok((file, reopened)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(AuditError::io(&self.path, "read")(e)),
            }
            drop(file);
            file = open_log(&self.path, true)?;
            reopened = true;
        }
    }

    /// Cuts a torn last line off and describes it for the repair line.
    fn discard_torn_tail(
        &self,
        mut file: &File,
        complete_len: u64,
        len: u64,
    ) -> Result<AuditEntry, AuditError> {
        let mut torn = Vec::new();
        file.seek(SeekFrom::Start(complete_len))
            .and_then(|_| file.take(KEPT_TORN_BYTES).read_to_end(&mut torn))
            .map_err(AuditError::io(&self.path, "read"))?;
        file.set_len(complete_len)
            .map_err(AuditError::io(&self.path, "repair"))?;
        let name = self
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        Ok(AuditEntry::new("retrace", "audit.repair")
            .target(name)
            .detail(serde_json::json!({
                "reason": "the last line had no newline: a write was interrupted",
                "discarded_bytes": len - complete_len,
                "discarded": String::from_utf8_lossy(&torn),
            })))
    }

    /// Writes one line at the end of `file` (`len` bytes long); a failed write is cut
    /// off again so it leaves no torn line.
    fn write_line(&self, mut file: &File, line: &[u8], len: u64) -> Result<(), AuditError> {
        let written = file.write_all(line).and_then(|()| {
            if self.sync {
                file.sync_data()
            } else {
                file.flush()
            }
        });
        if let Err(e) = written {
            let _ = file.set_len(len);
            return Err(AuditError::io(&self.path, "write")(e));
        }
        Ok(())
    }

    /// Renames the current file to `.1`, shifting the rotated ones up and deleting those
    /// past `keep`. Called with the current file locked, so no other writer appends to
    /// it or rotates at the same time.
    fn rotate(&self) -> Result<(), AuditError> {
        let err = |path: &Path| AuditError::io(path, "rotate");
        let numbers = rotated_numbers(&self.path).map_err(err(&self.path))?;
        for &n in numbers.iter().filter(|&&n| n >= self.keep) {
            let old = rotated(&self.path, n);
            fs::remove_file(&old).map_err(err(&old))?;
        }
        for &n in numbers.iter().rev().filter(|&&n| n < self.keep) {
            let from = rotated(&self.path, n);
            fs::rename(&from, rotated(&self.path, n + 1)).map_err(err(&from))?;
        }
        fs::rename(&self.path, rotated(&self.path, 1)).map_err(err(&self.path))
    }
}

/// Opens the current file for appending and reading its tail, creating it with mode
/// 0600 when `create` is set.
fn open_log(path: &Path, create: bool) -> Result<File, AuditError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(create);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(AuditError::io(path, "open"))
}

/// Locks the file, exclusively or shared. Where file locks are not supported, a single
/// process still appends safely (the mutex orders its threads).
fn lock(file: &File, path: &Path, exclusive: bool) -> Result<(), AuditError> {
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    match locked {
        Err(e) if e.kind() != io::ErrorKind::Unsupported => Err(AuditError::io(path, "lock")(e)),
        _ => Ok(()),
    }
}

fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
