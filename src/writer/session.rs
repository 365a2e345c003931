//! The session directory: one per process, named so that many pods can share a volume.
//!
//! Name: `<service>_<host>_<UTC start, YYYYMMDDTHHMMSSZ>_<pid>_<random>`, each part
//! reduced to `[A-Za-z0-9.-]`. Directories are created with the configured mode (0700
//! by default) and files with theirs (0600), since recordings hold request data.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::metadata::{
    COUNTERS_FILE, COUNTERS_FILE_LEN, ConfigSummary, METADATA_FILE, SessionCounters,
    SessionMetadata,
};
use crate::segment::SegmentHeader;
use crate::stats::Stats;

/// Why a session directory could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A directory could not be created.
    #[error("cannot create recording directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The metadata file could not be written.
    #[error("cannot write session metadata {path}: {source}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// This process's session directory and its metadata.
#[derive(Debug)]
pub(crate) struct Session {
    dir: PathBuf,
    meta: SessionMetadata,
    file_mode: u32,
    /// `counters.json`, open for rewriting in place.
    counters: Option<File>,
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sanitize(part: &str) -> String {
    let s: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    let s = s.trim_matches('.').to_owned();
    if s.is_empty() { "x".to_owned() } else { s }
}

/// Creates a directory (and its parents) with the given mode.
pub(crate) fn create_dir(path: &Path, mode: u32) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(path)
}

/// Opens a new file for writing with the given mode; fails if it exists.
pub(crate) fn create_file(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, renamed over it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", rand::random::<u32>()));
    let result = (|| {
        let mut f = create_file(&tmp, mode)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl Session {
    pub(crate) fn create(config: &Config) -> Result<Self, SessionError> {
        let root = &config.recording_path;
        create_dir(root, config.dir_mode).map_err(|source| SessionError::CreateDir {
            path: root.clone(),
            source,
        })?;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let started = SystemTime::now();
        let stamp: String = humantime::format_rfc3339_seconds(started)
            .to_string()
            .chars()
            .filter(|c| *c != '-' && *c != ':')
            .collect();
        let pid = std::process::id();
        let name = format!(
            "{}_{}_{}_{}_{:08x}",
            sanitize(&config.service),
            sanitize(&host),
            stamp,
            pid,
            rand::random::<u32>()
        );
        let dir = root.join(&name);
        create_dir(&dir, config.dir_mode).map_err(|source| SessionError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let now = unix_ms();
        let session = Self {
            dir,
            meta: SessionMetadata {
                session: name,
                service: config.service.clone(),
                service_version: config.service_version.clone(),
                host,
                pid,
                retrace_version: env!("CARGO_PKG_VERSION").to_owned(),
                format_major: if config.encrypt_to.is_empty() {
                    SegmentHeader::CURRENT.major
                } else {
                    SegmentHeader::ENCRYPTED.major
                },
                started_unix_ms: now,
                updated_unix_ms: now,
                ended_unix_ms: None,
                closed_cleanly: false,
                config: ConfigSummary::of(config),
                origin: config.origin.clone(),
                stats: Stats::default(),
            },
            file_mode: config.file_mode,
            counters: None,
        };
        session.write_metadata()?;
        let counters_path = session.dir.join(COUNTERS_FILE);
        let counters = create_file(&counters_path, config.file_mode)
            .and_then(|mut f| f.write_all(&[b' '; COUNTERS_FILE_LEN]).map(|()| f))
            .map_err(|source| SessionError::Metadata {
                path: counters_path,
                source,
            })?;
        let mut session = session;
        session.counters = Some(counters);
        session.publish_counters(Stats::default())?;
        Ok(session)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn file_mode(&self) -> u32 {
        self.file_mode
    }

    /// Rewrites the metadata with fresh counters (the counters file first: it works
    /// on a full disk, the metadata may not).
    pub(crate) fn update(&mut self, stats: Stats, closed: bool) -> Result<(), SessionError> {
        let now = unix_ms();
        let _ = self.write_counters(&stats, now);
        self.meta.updated_unix_ms = now;
        self.meta.stats = stats;
        if closed {
            self.meta.closed_cleanly = true;
            self.meta.ended_unix_ms = Some(now);
        }
        self.write_metadata()
    }

    /// Rewrites the counters file in place with `stats`.
    pub(crate) fn publish_counters(&mut self, stats: Stats) -> Result<(), SessionError> {
        self.write_counters(&stats, unix_ms())
    }

    fn write_counters(&mut self, stats: &Stats, now: u64) -> Result<(), SessionError> {
        let path = self.dir.join(COUNTERS_FILE);
        let failed = |source: io::Error| SessionError::Metadata {
            path: path.clone(),
            source,
        };
        let counters = SessionCounters {
            updated_unix_ms: now,
            stats: stats.clone(),
        };
        let mut bytes = serde_json::to_vec(&counters).map_err(|e| failed(io::Error::other(e)))?;
        if bytes.len() > COUNTERS_FILE_LEN {
            return Err(failed(io::Error::other("the counters outgrew their file")));
        }
        bytes.resize(COUNTERS_FILE_LEN, b' ');
        let file = match &self.counters {
            Some(file) => file,
            None => self.counters.insert(
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(&failed)?,
            ),
        };
        // Same offset, same length: the file's blocks are overwritten, none added.
        std::os::unix::fs::FileExt::write_all_at(file, &bytes, 0).map_err(failed)
    }

    fn write_metadata(&self) -> Result<(), SessionError> {
        let path = self.dir.join(METADATA_FILE);
        let bytes = serde_json::to_vec_pretty(&self.meta).map_err(|e| SessionError::Metadata {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        write_atomically(&path, &bytes, self.file_mode, false)
            .map_err(|source| SessionError::Metadata { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize("check out/../x"), "check-out-..-x");
        assert_eq!(sanitize(".."), "x");
        assert_eq!(sanitize(""), "x");
    }
}
