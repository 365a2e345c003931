//! Reading one segment: through its index when it has a trustworthy one, by scanning
//! its frames otherwise. Never modifies the file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::problem::Problem;
use crate::event::Chunk;
use crate::id::RecordingId;
use crate::segment::{
    Body, BodyError, FrameError, Frames, HEADER_LEN, HeaderError, INDEX_EXT, IndexEntry,
    IndexError, SEGMENT_MAGIC, SegmentIndex, codec, frame,
};
use crate::summary::Summary;

/// What a segment holds.
#[derive(Debug, Default)]
pub struct SegmentContents {
    /// The recordings with chunks in it.
    pub entries: Vec<IndexEntry>,
    /// What was wrong with it.
    pub problems: Vec<Problem>,
    /// Whether the index was used (false: the segment was scanned).
    pub from_index: bool,
    /// Valid frames read (when scanned).
    pub frames: u64,
}

fn unreadable(path: &Path, e: &io::Error) -> Problem {
    Problem::Unreadable {
        file: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn header_problem(path: &Path, e: HeaderError) -> Problem {
    match e {
        HeaderError::Short { len } => Problem::TornTail {
            file: path.to_path_buf(),
            offset: 0,
            len: len as u64,
            reason: e.to_string(),
        },
        _ => Problem::Unsupported {
            file: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}

/// Reads a segment's entries, from its index when it has one that matches the segment.
pub fn read_segment(path: &Path) -> SegmentContents {
    let index_path = path.with_extension(INDEX_EXT);
    let mut problems = Vec::new();
    if let Ok(bytes) = fs::read(&index_path) {
        let seg_len = fs::metadata(path).map(|m| m.len()).ok();
        match SegmentIndex::decode(&bytes) {
            Ok(index) if Some(index.segment_len) == seg_len => {
                return SegmentContents {
                    entries: index.entries,
                    problems,
                    from_index: true,
                    frames: 0,
                };
            }
            Ok(index) => problems.push(Problem::IndexIgnored {
                file: index_path,
                reason: format!(
                    "it describes {} bytes but the segment has {}",
                    index.segment_len,
                    seg_len.map_or_else(|| "none".to_owned(), |l| l.to_string())
                ),
            }),
            // Scanning would meet the same lock: say it once, for the segment.
            Err(IndexError::Locked(reason)) => {
                return SegmentContents {
                    problems: vec![Problem::Encrypted {
                        file: path.to_path_buf(),
                        reason,
                    }],
                    ..SegmentContents::default()
                };
            }
            Err(e) => problems.push(Problem::IndexIgnored {
                file: index_path,
                reason: e.to_string(),
            }),
        }
    }
    let mut contents = scan_segment(path);
    problems.append(&mut contents.problems);
    contents.problems = problems;
    contents
}

/// Reads every frame of a segment, checking each checksum and decoding each payload.
pub fn scan_segment(path: &Path) -> SegmentContents {
    let mut out = SegmentContents::default();
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            out.problems.push(unreadable(path, &e));
            return out;
        }
    };
    let body = match Body::read(&data, SEGMENT_MAGIC) {
        Ok(body) => body,
        Err(e) => {
            out.problems.push(body_problem(path, e));
            return out;
        }
    };
    if let Some(locked) = body.locked() {
        out.problems.push(Problem::Encrypted {
            file: path.to_path_buf(),
            reason: locked.to_string(),
        });
    }
    let mut positions: HashMap<RecordingId, usize> = HashMap::new();
    let mut raw = Vec::new();
    let mut opened = Vec::new();
    for item in Frames::new(&data, body.start) {
        let frame = match item {
            Ok(f) => f,
            Err(e) => {
                out.problems.push(frame_problem(path, e));
                continue;
            }
        };
        out.frames += 1;
        if body.locked().is_some() {
            continue; // checked, not readable
        }
        let chunks = body
            .open(frame.payload, frame.offset, &mut opened)
            .map_err(|e| e.to_string())
            .and_then(|payload| {
                codec::decompress_payload(payload, &mut raw)
                    .and_then(|()| codec::decode_raw(&raw))
                    .map_err(|e| e.to_string())
            });
        let chunks = match chunks {
            Ok(c) => c,
            Err(e) => {
                out.problems.push(Problem::Undecodable {
                    file: path.to_path_buf(),
                    offset: frame.offset,
                    reason: e,
                });
                continue;
            }
        };
        for chunk in &chunks {
            let i = *positions.entry(chunk.id).or_insert_with(|| {
                out.entries.push(IndexEntry {
                    id: chunk.id,
                    frames: Vec::new(),
                    summary: Summary::new(chunk.id),
                });
                out.entries.len() - 1
            });
            let entry = &mut out.entries[i];
            if entry.frames.last() != Some(&frame.offset) {
                entry.frames.push(frame.offset);
            }
            entry.summary.absorb(chunk);
        }
    }
    out
}

fn body_problem(path: &Path, e: BodyError) -> Problem {
    match e {
        BodyError::Header(h) => header_problem(path, h),
        BodyError::TornEnvelope { len } => Problem::TornTail {
            file: path.to_path_buf(),
            offset: HEADER_LEN as u64,
            len: len as u64,
            reason: "the file ends inside its key envelope".to_owned(),
        },
        BodyError::Envelope(reason) => Problem::Corrupt {
            file: path.to_path_buf(),
            offset: HEADER_LEN as u64,
            reason: format!("the key envelope: {reason}"),
        },
    }
}

fn frame_problem(path: &Path, e: FrameError) -> Problem {
    match e {
        FrameError::TornTail {
            offset,
            len,
            reason,
        } => Problem::TornTail {
            file: path.to_path_buf(),
            offset,
            len,
            reason: reason.to_owned(),
        },
        FrameError::Corrupt {
            offset,
            reason,
            skipped,
            ..
        } => Problem::Corrupt {
            file: path.to_path_buf(),
            offset,
            reason: format!("{reason}; {skipped} bytes skipped"),
        },
    }
}

/// Reads the chunks of the frame at `offset`, checking its checksum.
pub fn read_frame_chunks(path: &Path, offset: u64) -> Result<Vec<Chunk>, Problem> {
    let file_problem = |e: &io::Error| unreadable(path, e);
    let corrupt = |reason: String| Problem::Corrupt {
        file: path.to_path_buf(),
        offset,
        reason,
    };
    let mut file = File::open(path).map_err(|e| file_problem(&e))?;
    let body = Body::read_file(&mut file, SEGMENT_MAGIC).map_err(|e| body_problem(path, e))?;
    if let Some(locked) = body.locked() {
        return Err(Problem::Encrypted {
            file: path.to_path_buf(),
            reason: locked.to_string(),
        });
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| file_problem(&e))?;
    let mut prefix = [0u8; 4];
    file.read_exact(&mut prefix)
        .map_err(|e| corrupt(format!("cannot read the frame length: {e}")))?;
    let total = frame::frame_len(prefix)
        .ok_or_else(|| corrupt("the length exceeds the frame size limit".to_owned()))?;
    let mut buf = Vec::with_capacity(total);
    buf.extend_from_slice(&prefix);
    (&mut file)
        .take((total - 4) as u64)
        .read_to_end(&mut buf)
        .map_err(|e| file_problem(&e))?;
    let payload = frame::read_frame(&buf).map_err(|r| corrupt(r.to_owned()))?;
    let mut opened = Vec::new();
    let payload = body
        .open(payload, offset, &mut opened)
        .map_err(|e| corrupt(e.to_string()))?;
    codec::decode_payload(payload).map_err(|e| Problem::Undecodable {
        file: path.to_path_buf(),
        offset,
        reason: e.to_string(),
    })
}

/// The segment files of a session directory, in order.
///
/// Only regular files count: a symbolic link named like a segment is ignored (never
/// read, never deleted), so a link planted in a shared volume cannot point the readers
/// or retention at a file outside the recording root.
pub fn segment_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == crate::segment::SEGMENT_EXT)
        })
        .collect();
    files.sort();
    Ok(files)
}
