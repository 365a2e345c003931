//! The disk budget for the whole recording path.
//!
//! Usage is measured by walking the recording root (every session, every file) when the
//! writer starts and whenever a write would cross the limit; in between it is kept up
//! to date from this writer's own writes. Only closed segments (those with an index
//! beside them) are ever deleted, oldest first, so a segment another process is still
//! writing is never touched.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::DiskPolicy;
use crate::segment::{INDEX_EXT, SEGMENT_EXT};

#[derive(Debug)]
pub(crate) struct DiskBudget {
    root: PathBuf,
    max: u64,
    policy: DiskPolicy,
    used: u64,
}

/// The outcome of asking for room.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// There is room (after deleting this many segments).
    Fits { deleted: u64 },
    /// There is no room and the policy does not make any.
    Full,
}

pub(crate) fn dir_usage(root: &Path) -> u64 {
    fn walk(path: &Path, depth: u32) -> u64 {
        let Ok(entries) = fs::read_dir(path) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() && depth < 2 => walk(&e.path(), depth + 1),
                Ok(m) if m.is_file() => m.len(),
                _ => 0,
            })
            .sum()
    }
    walk(root, 0)
}

fn closed_segments(root: &Path) -> Vec<(SystemTime, PathBuf)> {
    let mut out = Vec::new();
    let Ok(sessions) = fs::read_dir(root) else {
        return out;
    };
    for session in sessions.flatten() {
        let Ok(files) = fs::read_dir(session.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            if path.extension().is_some_and(|e| e == SEGMENT_EXT)
                && path.with_extension(INDEX_EXT).exists()
            {
                let mtime = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((mtime, path));
            }
        }
    }
    out.sort();
    out
}

fn remove_segment(path: &Path) -> io::Result<u64> {
    let seg = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let idx_path = path.with_extension(INDEX_EXT);
    let idx = fs::metadata(&idx_path).map(|m| m.len()).unwrap_or(0);
    fs::remove_file(path)?;
    let _ = fs::remove_file(idx_path);
    Ok(seg + idx)
}

impl DiskBudget {
    pub(crate) fn new(root: &Path, max: u64, policy: DiskPolicy) -> Self {
        Self {
            root: root.to_path_buf(),
            max,
            policy,
            used: dir_usage(root),
        }
    }

    /// Counts bytes written.
    pub(crate) fn add(&mut self, bytes: u64) {
        self.used += bytes;
    }

    /// Makes room for `incoming` bytes if the policy allows.
    pub(crate) fn admit(&mut self, incoming: u64) -> Admission {
        if self.used + incoming <= self.max {
            return Admission::Fits { deleted: 0 };
        }
        self.used = dir_usage(&self.root);
        if self.used + incoming <= self.max {
            return Admission::Fits { deleted: 0 };
        }
        if self.policy == DiskPolicy::StopRecording {
            return Admission::Full;
        }
        let mut deleted = 0;
        for (_, path) in closed_segments(&self.root) {
            if let Ok(freed) = remove_segment(&path) {
                self.used = self.used.saturating_sub(freed);
                deleted += 1;
                if self.used + incoming <= self.max {
                    return Admission::Fits { deleted };
                }
            }
        }
        Admission::Full
    }
}
