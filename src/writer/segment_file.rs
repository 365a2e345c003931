//! One open segment file: appends frames, remembers what went where, writes the index
//! when it closes.

use std::fs::File;
use std::hash::Hasher;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::index_builder::IndexBuilder;
use super::session::{create_file, write_atomically};
use crate::encryption::{Sealer, envelope_bound};
use crate::segment::{
    FRAME_OVERHEAD, HEADER_LEN, INDEX_EXT, SEGMENT_EXT, SegmentHeader, encode_frame,
};
use crate::summary::Summary;

/// The file name of segment number `n`.
pub(crate) fn segment_name(n: u32) -> String {
    format!("seg-{n:06}.{SEGMENT_EXT}")
}

/// Recordings indexed per segment at most: the index lives in memory until the segment
/// closes, so this bounds the writer's memory however small the recordings are.
pub(crate) const MAX_INDEX_ENTRIES: usize = 32_768;

/// Hashes a recording id by its low 64 bits, which are random: no need for SipHash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

/// The bytes of an index besides its entries: its header, the frame around its payload
/// and the payload's own fields, with room to spare.
const INDEX_OVERHEAD: u64 = HEADER_LEN as u64 + 64;

/// At most the bytes a new segment starts with: its header, and the envelope frame
/// when it is encrypted to `recipients`.
pub(crate) fn header_bound(recipients: Option<&[String]>) -> u64 {
    HEADER_LEN as u64 + recipients.map_or(0, |r| (envelope_bound(r) + FRAME_OVERHEAD) as u64)
}

/// At most [`SegmentFile::index_overhead`] of a new segment.
pub(crate) fn index_overhead_bound(recipients: Option<&[String]>) -> u64 {
    INDEX_OVERHEAD
        + recipients.map_or(0, |r| {
            (envelope_bound(r) + FRAME_OVERHEAD + crate::encryption::SEAL_OVERHEAD) as u64
        })
}

/// An upper bound of the bytes one recording's part adds to a segment's index: its
/// summary as encoded, the id, and a frame offset with room for the list's growth.
pub(crate) fn index_entry_bound(summary: &Summary) -> u64 {
    let summary_len = postcard::experimental::serialized_size(summary).map_or(1024, |n| n as u64);
    summary_len + 16 + 32
}

/// A segment being written.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    file: File,
    path: PathBuf,
    len: u64,
    opened: Instant,
    index: IndexBuilder,
    file_mode: u32,
    sealer: Option<Arc<Sealer>>,
}

impl SegmentFile {
    /// Creates the file and writes its header; encrypted to `recipients`, with a data
    /// key of its own, wrapped in an envelope frame after the header.
    pub(crate) fn create(
        dir: &Path,
        number: u32,
        file_mode: u32,
        recipients: Option<&[String]>,
    ) -> io::Result<Self> {
        let sealer = recipients
            .map(|r| Sealer::new(r).map(Arc::new))
            .transpose()
            .map_err(io::Error::other)?;
        let path = dir.join(segment_name(number));
        let mut file = create_file(&path, file_mode)?;
        let head = match &sealer {
            None => SegmentHeader::CURRENT.encode().to_vec(),
            Some(sealer) => {
                let mut head = SegmentHeader::ENCRYPTED.encode().to_vec();
                encode_frame(sealer.envelope(), &mut head);
                head
            }
        };
        if let Err(e) = file.write_all(&head) {
            // A full disk can fail the header itself: leave no empty segment behind.
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Self {
            file,
            path,
            len: head.len() as u64,
            opened: Instant::now(),
            index: IndexBuilder::default(),
            file_mode,
            sealer,
        })
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The segment's data key, when it is encrypted.
    pub(crate) fn sealer(&self) -> Option<&Arc<Sealer>> {
        self.sealer.as_ref()
    }

    /// The bytes of its index besides the entries: [`INDEX_OVERHEAD`], and when
    /// encrypted the envelope frame and the sealed payload's tag.
    pub(crate) fn index_overhead(&self) -> u64 {
        INDEX_OVERHEAD
            + self.sealer.as_ref().map_or(0, |s| {
                (s.envelope().len() + FRAME_OVERHEAD + crate::encryption::SEAL_OVERHEAD) as u64
            })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Recordings indexed so far.
    pub(crate) fn entries(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn age(&self) -> std::time::Duration {
        self.opened.elapsed()
    }

    /// Appends bytes holding whole frames. On failure, cuts the file back to its last
    /// good length so no half frame stays in the middle of the segment.
    pub(crate) fn append(&mut self, bytes: &[u8], fsync: bool) -> io::Result<()> {
        let result = self
            .file
            .write_all(bytes)
            .and_then(|()| if fsync { self.file.sync_data() } else { Ok(()) });
        match result {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: a failed write may have left part of a frame behind.
                let _ = self.file.set_len(self.len);
                let _ = io::Seek::seek(&mut self.file, io::SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }

    /// Records that a frame at `offset` holds a chunk of `summary.id`.
    pub(crate) fn note(&mut self, offset: u64, summary: Summary) {
        self.index.note(offset, summary);
    }

    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Closes the segment: its index, encoded, ready to be written beside it.
    pub(crate) fn close(self, fsync: bool) -> io::Result<PendingIndex> {
        if fsync {
            self.file.sync_all()?;
        }
        let bytes = self
            .index
            .into_file(self.len, self.sealer.as_deref())
            .map_err(io::Error::other)?;
        Ok(PendingIndex {
            path: self.path.with_extension(INDEX_EXT),
            bytes,
            file_mode: self.file_mode,
            fsync,
        })
    }
}

/// A closed segment's index, not yet on disk: written at close, and kept to be written
/// again when that fails (a full disk), after the next successful write and at
/// shutdown.
#[derive(Debug)]
pub(crate) struct PendingIndex {
    path: PathBuf,
    bytes: Vec<u8>,
    file_mode: u32,
    fsync: bool,
}

impl PendingIndex {
    /// Writes the index (atomically); returns its size.
    pub(crate) fn write(&self) -> io::Result<u64> {
        write_atomically(&self.path, &self.bytes, self.file_mode, self.fsync)?;
        Ok(self.bytes.len() as u64)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
