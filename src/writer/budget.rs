//! The disk budget for the whole recording path.
//!
//! The budget holds exactly: everything the writer puts on disk counts against it,
//! segments, the index each closed segment gets and the session metadata. Usage is
//! measured by walking the recording root (every session, every file) when the writer
//! starts and whenever a write would cross the limit; in between it is kept from this
//! writer's own writes. Bytes not yet on disk but promised are reserved: the index of
//! the open segment grows with every recording written into it and is reserved as it
//! grows (an upper bound per recording), and [`METADATA_RESERVE`] stays free for the
//! metadata file and its atomic rewrite.
//!
//! Room is made only for a batch that will then be written: the closed segments
//! (those with an index beside them, so a segment another process is still writing
//! is never touched) are deleted oldest first, and only when deleting them all would
//! make enough room; otherwise nothing is deleted and the batch is dropped.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::DiskPolicy;
use crate::segment::{INDEX_EXT, SEGMENT_EXT};

/// Bytes kept free for the session metadata file and the temporary copy its atomic
/// rewrite makes (the file is about 1 KiB).
pub(crate) const METADATA_RESERVE: u64 = 16 * 1024;

/// The smallest budget that can hold anything: four segments of the smallest size and
/// the metadata reserve.
pub(crate) const MIN_BUDGET: u64 = 4 * crate::config::MIN_SEGMENT_BYTES + METADATA_RESERVE;

#[derive(Debug)]
pub(crate) struct DiskBudget {
    root: PathBuf,
    /// This writer's session directory: its segments without an index are its own
    /// open one (or one whose index is pending), never abandoned.
    own: Option<PathBuf>,
    /// How long a segment without an index must have been idle to count as abandoned.
    abandoned: Duration,
    max: u64,
    policy: DiskPolicy,
    /// Bytes on disk: as last measured, plus this writer's writes since.
    used: u64,
    /// Bytes promised but not yet written: the open segment's index.
    reserved: u64,
}

/// The outcome of asking for room.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// There is room (after deleting this many segments).
    Fits { deleted: u64 },
    /// There is no room and the policy does not make any; `deleted` segments were
    /// nevertheless removed (only when a removal failed half-way: never in vain
    /// otherwise).
    Full { deleted: u64 },
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

/// A closed segment: when it was last written, where, and its bytes with its index.
struct Closed {
    modified: SystemTime,
    path: PathBuf,
    bytes: u64,
    index_bytes: u64,
}

/// The segments that may be deleted: those with an index (closed), and those without
/// one that no writer will close: not in `own` session, and not written for longer than
/// `abandoned` (a crashed process's last segment; a live writer closes its segments by
/// age well before that). Without the second kind, every crash would leave bytes the
/// budget can never reclaim.
fn closed_segments(root: &Path, own: Option<&Path>, abandoned: Duration) -> Vec<Closed> {
    let mut out = Vec::new();
    let Ok(sessions) = fs::read_dir(root) else {
        return out;
    };
    let now = SystemTime::now();
    for session in sessions.flatten() {
        let session_dir = session.path();
        let Ok(files) = fs::read_dir(&session_dir) else {
            continue;
        };
        let ours = own.is_some_and(|own| own == session_dir);
        for f in files.flatten() {
            let path = f.path();
            if path.extension().is_none_or(|e| e != SEGMENT_EXT) {
                continue;
            }
            let Ok(meta) = f.metadata() else {
                continue;
            };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let index_bytes = match fs::metadata(path.with_extension(INDEX_EXT)) {
                Ok(index) => index.len(),
                Err(_) => {
                    let idle = now.duration_since(modified).unwrap_or_default();
                    if ours || idle < abandoned {
                        continue;
                    }
                    0
                }
            };
            out.push(Closed {
                modified,
                path,
                bytes: meta.len() + index_bytes,
                index_bytes,
            });
        }
    }
    out.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
    out
}

/// Removes a closed segment and its index; the bytes freed (without the index's when
/// it could not be removed).
fn remove_segment(segment: &Closed) -> io::Result<u64> {
    fs::remove_file(&segment.path)?;
    match fs::remove_file(segment.path.with_extension(INDEX_EXT)) {
        Ok(()) => Ok(segment.bytes),
        Err(_) => Ok(segment.bytes - segment.index_bytes),
    }
}

impl DiskBudget {
    pub(crate) fn new(root: &Path, max: u64, policy: DiskPolicy) -> Self {
        Self {
            root: root.to_path_buf(),
            own: None,
            abandoned: Duration::from_secs(3600),
            max,
            policy,
            used: dir_usage(root),
            reserved: 0,
        }
    }

    /// The writer's own session, and after how long an unindexed segment of another
    /// session is abandoned.
    pub(crate) fn for_session(mut self, own: &Path, abandoned: Duration) -> Self {
        self.own = Some(own.to_path_buf());
        self.abandoned = abandoned;
        self
    }

    fn needed(&self, incoming: u64) -> u64 {
        self.used + self.reserved + METADATA_RESERVE + incoming
    }

    /// Counts `data` bytes written and `index` bytes promised to the open segment's
    /// index, as admitted.
    pub(crate) fn wrote(&mut self, data: u64, index: u64) {
        self.used += data;
        self.reserved += index;
    }

    /// A segment closed: `reserved` bytes were promised to its index, `written` were
    /// written (zero when the index could not be written).
    pub(crate) fn index_written(&mut self, reserved: u64, written: u64) {
        self.reserved = self.reserved.saturating_sub(reserved);
        self.used += written;
    }

    /// Makes room for `incoming` bytes (data and the index growth it brings) if the
    /// policy allows, deleting nothing unless that makes enough room.
    pub(crate) fn admit(&mut self, incoming: u64) -> Admission {
        if self.needed(incoming) <= self.max {
            return Admission::Fits { deleted: 0 };
        }
        self.used = dir_usage(&self.root);
        if self.needed(incoming) <= self.max {
            return Admission::Fits { deleted: 0 };
        }
        if self.policy == DiskPolicy::StopRecording {
            return Admission::Full { deleted: 0 };
        }
        let excess = self.needed(incoming) - self.max;
        let closed = closed_segments(&self.root, self.own.as_deref(), self.abandoned);
        if closed.iter().map(|c| c.bytes).sum::<u64>() < excess {
            return Admission::Full { deleted: 0 };
        }
        let mut deleted = 0;
        let mut freed = 0;
        for segment in &closed {
            if let Ok(bytes) = remove_segment(segment) {
                freed += bytes;
                deleted += 1;
                if freed >= excess {
                    self.used = self.used.saturating_sub(freed);
                    return Admission::Fits { deleted };
                }
            }
        }
        self.used = dir_usage(&self.root);
        Admission::Full { deleted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session directory with closed segments of these sizes (index included),
    /// oldest first.
    fn store(sizes: &[u64]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let session = dir.path().join("s");
        fs::create_dir(&session).expect("session dir");
        for (i, &size) in sizes.iter().enumerate() {
            let seg = session.join(format!("seg-{i:06}.{SEGMENT_EXT}"));
            fs::write(&seg, vec![0u8; size as usize - 10]).expect("segment");
            fs::write(seg.with_extension(INDEX_EXT), [0u8; 10]).expect("index");
            let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64);
            fs::File::options()
                .write(true)
                .open(&seg)
                .and_then(|f| f.set_modified(when))
                .expect("mtime");
        }
        dir
    }

    fn segments_left(dir: &Path) -> usize {
        closed_segments(dir, None, Duration::from_secs(3600)).len()
    }

    #[test]
    fn an_abandoned_segment_without_an_index_can_be_deleted() {
        let dir = store(&[]);
        let crashed = dir.path().join("crashed");
        fs::create_dir(&crashed).expect("session dir");
        let seg = crashed.join(format!("seg-000001.{SEGMENT_EXT}"));
        fs::write(&seg, vec![0u8; 20_000]).expect("segment");
        let long_ago = SystemTime::now() - Duration::from_secs(7200);
        fs::File::options()
            .write(true)
            .open(&seg)
            .and_then(|f| f.set_modified(long_ago))
            .expect("mtime");
        let mut budget = DiskBudget::new(
            dir.path(),
            30_000 + METADATA_RESERVE,
            DiskPolicy::DeleteOldest,
        )
        .for_session(&dir.path().join("s"), Duration::from_secs(3600));
        assert_eq!(budget.admit(15_000), Admission::Fits { deleted: 1 });
        assert!(!seg.exists());
        // One written recently is left alone: its writer may still be at it.
        fs::write(&seg, vec![0u8; 20_000]).expect("segment");
        let mut budget = DiskBudget::new(
            dir.path(),
            30_000 + METADATA_RESERVE,
            DiskPolicy::DeleteOldest,
        )
        .for_session(&dir.path().join("s"), Duration::from_secs(3600));
        assert_eq!(budget.admit(15_000), Admission::Full { deleted: 0 });
        assert!(seg.exists());
    }

    #[test]
    fn nothing_is_deleted_for_a_batch_that_cannot_fit() {
        let dir = store(&[10_000, 10_000]);
        let mut budget = DiskBudget::new(
            dir.path(),
            40_000 + METADATA_RESERVE,
            DiskPolicy::DeleteOldest,
        );
        // 20,000 used; 60,000 incoming would need 40,000 freed, and only 20,000 can be.
        assert_eq!(budget.admit(60_000), Admission::Full { deleted: 0 });
        assert_eq!(segments_left(dir.path()), 2);
        // 25,000 incoming needs 5,000 freed: the oldest segment goes, and only it.
        assert_eq!(budget.admit(25_000), Admission::Fits { deleted: 1 });
        assert_eq!(segments_left(dir.path()), 1);
        assert!(dir_usage(dir.path()) + 25_000 + METADATA_RESERVE <= 40_000 + METADATA_RESERVE);
    }

    #[test]
    fn reserved_index_bytes_count() {
        let dir = store(&[]);
        let mut budget = DiskBudget::new(
            dir.path(),
            10_000 + METADATA_RESERVE,
            DiskPolicy::StopRecording,
        );
        assert_eq!(budget.admit(6_000), Admission::Fits { deleted: 0 });
        fs::write(
            dir.path().join("s").join("seg-000001.rtseg"),
            vec![0u8; 6_000],
        )
        .expect("write");
        budget.wrote(6_000, 3_000);
        // 6,000 on disk, 3,000 promised to the index: 1,000 left.
        assert_eq!(budget.admit(1_001), Admission::Full { deleted: 0 });
        budget.index_written(3_000, 1_000);
        assert_eq!(budget.admit(3_000), Admission::Fits { deleted: 0 });
    }

    proptest::proptest! {
        /// Whatever the sizes: after an admission that fits, what is on disk and
        /// promised stays within the budget; an admission that does not fit deletes
        /// nothing; the count of deletions is what left the disk.
        #[test]
        fn admissions_are_exact(
            sizes in proptest::collection::vec(100u64..5_000, 0..12),
            max in 1_000u64..40_000,
            incoming in 1u64..20_000,
        ) {
            let dir = store(&sizes);
            let before = segments_left(dir.path());
            let max = max + METADATA_RESERVE;
            let mut budget = DiskBudget::new(dir.path(), max, DiskPolicy::DeleteOldest);
            match budget.admit(incoming) {
                Admission::Fits { deleted } => {
                    proptest::prop_assert!(dir_usage(dir.path()) + incoming + METADATA_RESERVE <= max);
                    proptest::prop_assert_eq!(before - segments_left(dir.path()), deleted as usize);
                }
                Admission::Full { deleted } => {
                    proptest::prop_assert_eq!(deleted, 0);
                    proptest::prop_assert_eq!(segments_left(dir.path()), before);
                }
            }
        }
    }
}
