//! Checking one segment end to end, as `retrace verify` does: every frame's checksum and
//! payload, and whether the index beside it agrees with what the frames hold.
//!
//! Listing trusts an index whose recorded length matches its segment, so damage inside
//! a closed segment only shows when its recordings are read. This check reads every
//! byte instead. It also knows something a plain scan does not: a segment whose index
//! says it was closed at its current length was complete, so bad bytes at its end are
//! corruption, not a write cut short by a crash.

use std::fs;
use std::path::{Path, PathBuf};

use super::{Problem, scan_segment};
use crate::segment::{INDEX_EXT, SegmentIndex};

/// What checking a segment found.
#[derive(Clone, Debug)]
pub struct SegmentCheck {
    /// The segment file.
    pub path: PathBuf,
    /// Its length in bytes (0 when it could not be read).
    pub len: u64,
    /// Whether an index file is beside it (the segment was closed).
    pub closed: bool,
    /// Valid frames read.
    pub frames: u64,
    /// Recordings with chunks in it.
    pub recordings: usize,
    /// Everything wrong with the segment or its index; empty when both are sound.
    pub problems: Vec<Problem>,
}

/// Reads every frame of the segment at `path` and checks its index against them.
pub fn check_segment(path: &Path) -> SegmentCheck {
    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let scanned = scan_segment(path);
    let index_path = path.with_extension(INDEX_EXT);
    let mut check = SegmentCheck {
        path: path.to_path_buf(),
        len,
        closed: index_path.exists(),
        frames: scanned.frames,
        recordings: scanned.entries.len(),
        problems: scanned.problems,
    };
    if !check.closed {
        return check;
    }
    let ignored = |reason: String| Problem::IndexIgnored {
        file: index_path.clone(),
        reason,
    };
    let index = match fs::read(&index_path) {
        Ok(bytes) => SegmentIndex::decode(&bytes),
        Err(e) => {
            check.problems.push(Problem::Unreadable {
                file: index_path.clone(),
                reason: e.to_string(),
            });
            return check;
        }
    };
    let index = match index {
        Ok(i) => i,
        Err(e) => {
            check.problems.push(ignored(e.to_string()));
            return check;
        }
    };
    if index.segment_len != len {
        check.problems.push(ignored(format!(
            "it describes {} bytes but the segment has {len}",
            index.segment_len
        )));
        return check;
    }
    for problem in &mut check.problems {
        if let Problem::TornTail {
            file,
            offset,
            len,
            reason,
        } = problem
        {
            *problem = Problem::Corrupt {
                file: std::mem::take(file),
                offset: *offset,
                reason: format!(
                    "{reason} ({len} bytes); the segment was closed at this length, so this is damage, not a torn write"
                ),
            };
        }
    }
    if check.problems.is_empty() {
        let listed: Vec<_> = index.entries.iter().map(|e| (e.id, &e.frames)).collect();
        let found: Vec<_> = scanned.entries.iter().map(|e| (e.id, &e.frames)).collect();
        if listed != found {
            check.problems.push(ignored(format!(
                "it lists {} recordings in {} frame references, the frames hold {} in {}",
                listed.len(),
                listed.iter().map(|(_, f)| f.len()).sum::<usize>(),
                found.len(),
                found.iter().map(|(_, f)| f.len()).sum::<usize>(),
            )));
        }
    }
    check
}
