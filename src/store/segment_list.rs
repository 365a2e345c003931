//! The store seen segment by segment, for tools that act on whole files (retention, disk
//! use) rather than on recordings.
//!
//! A segment with an index file beside it is closed: its writer finished with it and
//! will never touch it again, so it may be deleted. A segment without one is still being
//! written (or its process crashed before closing it); it is listed with its size but
//! never read here, since that would mean decompressing every frame of a file that may
//! still be growing.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Problem, SessionInfo, Store, read_segment, segment_files};
use crate::segment::{INDEX_EXT, IndexEntry};

/// One segment file and what its index says it holds.
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    /// The session it belongs to.
    pub session: Arc<SessionInfo>,
    /// The segment file.
    pub path: PathBuf,
    /// The segment file's length in bytes.
    pub len: u64,
    /// The index file's length, when there is one: the segment is closed.
    pub index_len: Option<u64>,
    /// The segment file's modification time, when the file system reports one.
    pub modified: Option<SystemTime>,
    /// Its recordings (one entry per recording with chunks in it). Empty for a segment
    /// still being written: read those through [`Store::list`].
    pub entries: Vec<IndexEntry>,
}

impl SegmentInfo {
    /// Whether the segment is closed (has an index beside it), so no writer touches it.
    pub fn is_closed(&self) -> bool {
        self.index_len.is_some()
    }

    /// The bytes it takes on disk, index included.
    pub fn bytes(&self) -> u64 {
        self.len + self.index_len.unwrap_or(0)
    }

    /// The index file's path.
    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension(INDEX_EXT)
    }

    /// When the newest recording in it ended (or started, if it never ended), in
    /// microseconds since the Unix epoch; `None` when it lists no recording.
    pub fn newest_unix_us(&self) -> Option<u64> {
        crate::segment::newest_unix_us(&self.entries)
    }
}

/// Every segment of a store, with the problems met reading them.
#[derive(Debug, Default)]
pub struct SegmentListing {
    /// The segments, by session name, then file name.
    pub segments: Vec<SegmentInfo>,
    /// What was wrong on the way.
    pub problems: Vec<Problem>,
}

impl Store {
    /// Lists every segment file; closed ones come with their index entries.
    pub fn segments(&self) -> SegmentListing {
        let mut out = SegmentListing::default();
        for session in self.sessions() {
            let files = match segment_files(&session.dir) {
                Ok(f) => f,
                Err(e) => {
                    out.problems.push(Problem::Unreadable {
                        file: session.dir.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            for path in files {
                let meta = match fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        out.problems.push(Problem::Unreadable {
                            file: path,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                let index_len = fs::metadata(path.with_extension(INDEX_EXT))
                    .ok()
                    .map(|m| m.len());
                let entries = if index_len.is_some() {
                    let mut contents = read_segment(&path);
                    out.problems.append(&mut contents.problems);
                    contents.entries
                } else {
                    Vec::new()
                };
                out.segments.push(SegmentInfo {
                    session: Arc::clone(session),
                    len: meta.len(),
                    index_len,
                    modified: meta.modified().ok(),
                    entries,
                    path,
                });
            }
        }
        out
    }
}
