//! The segment index: written beside a segment when it closes, so listing reads a few
//! kilobytes of summaries instead of decompressing every body.
//!
//! Layout: the 16-byte header with [`INDEX_MAGIC`], then one frame (same framing and
//! checksum as segments) holding the postcard-encoded [`SegmentIndex`]. An index that is
//! missing, unreadable or describes a different segment length is ignored and the
//! segment is scanned instead.

use serde::{Deserialize, Serialize};

use super::body::{Body, BodyError};
use super::frame::{FRAME_HEAD, FRAME_OVERHEAD, Frames, begin_frame, encode_frame, end_frame};
use super::header::{HEADER_LEN, HeaderError, SegmentHeader};
use crate::encryption::{INDEX_POSITION, Sealer};
use crate::id::RecordingId;
use crate::summary::Summary;

/// The first eight bytes of every index file.
pub const INDEX_MAGIC: [u8; 8] = *b"RTINDEX\x01";

/// One recording's part in a segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The recording.
    pub id: RecordingId,
    /// Offsets of the frames holding its chunks, in order.
    pub frames: Vec<u64>,
    /// The summary of its chunks in this segment.
    pub summary: Summary,
}

/// When the newest of these recordings ended (or started, if it never ended), in
/// microseconds since the Unix epoch; `None` for no recording.
pub fn newest_unix_us(entries: &[IndexEntry]) -> Option<u64> {
    entries
        .iter()
        .map(|e| {
            e.summary
                .started_unix_us
                .saturating_add(e.summary.duration_us.unwrap_or(0))
        })
        .max()
}

/// The index of one closed segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentIndex {
    /// The segment's length when it was closed.
    pub segment_len: u64,
    /// Its recordings, in the order their first chunk was written.
    pub entries: Vec<IndexEntry>,
}

/// Why an index file was not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The header is wrong.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The frame is torn or corrupt.
    #[error("the index frame is damaged: {0}")]
    Frame(String),
    /// The payload does not decode.
    #[error("the index does not decode: {0}")]
    Decode(#[from] postcard::Error),
    /// The index is encrypted and cannot be opened (no identity, or a wrong one), or
    /// its envelope is damaged.
    #[error("the index cannot be opened: {0}")]
    Locked(String),
}

impl SegmentIndex {
    /// The index file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        Ok(index_file(&postcard::to_stdvec(self)?, None))
    }

    /// The index file's bytes, encrypted with its segment's data key.
    pub fn encode_sealed(&self, sealer: &Sealer) -> Result<Vec<u8>, postcard::Error> {
        Ok(index_file(&postcard::to_stdvec(self)?, Some(sealer)))
    }

    /// Reads an index file's bytes (opening them with the process's
    /// [`keyring`](crate::encryption::keyring) if they are encrypted).
    pub fn decode(data: &[u8]) -> Result<Self, IndexError> {
        let body = Body::read(data, INDEX_MAGIC).map_err(|e| match e {
            BodyError::Header(h) => IndexError::Header(h),
            other => IndexError::Frame(other.to_string()),
        })?;
        let frame = Frames::new(data, body.start)
            .next()
            .ok_or_else(|| IndexError::Frame("no frame".to_owned()))?
            .map_err(|e| IndexError::Frame(e.to_string()))?;
        let mut buf = Vec::new();
        let payload = body
            .open(frame.payload, INDEX_POSITION, &mut buf)
            .map_err(|e| IndexError::Locked(e.to_string()))?;
        Ok(postcard::from_bytes(payload)?)
    }
}

/// The bytes of an index file holding `payload`, a postcard-encoded [`SegmentIndex`]:
/// encrypted with its segment's data key when there is one.
fn index_file(payload: &[u8], sealer: Option<&Sealer>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 2 * FRAME_OVERHEAD + payload.len() + 512);
    let frame = begin_index(&mut out, sealer);
    out.extend_from_slice(payload);
    end_index(&mut out, frame, sealer);
    out
}

/// Starts an index file at the end of `out`: its header (and, when it is encrypted,
/// the envelope frame), then the head of the frame its payload goes in. The caller
/// appends the payload, then calls [`end_index`] with the returned frame start.
pub(crate) fn begin_index(out: &mut Vec<u8>, sealer: Option<&Sealer>) -> usize {
    match sealer {
        None => out.extend_from_slice(&SegmentHeader::CURRENT.encode_with(INDEX_MAGIC)),
        Some(sealer) => {
            out.extend_from_slice(&SegmentHeader::ENCRYPTED.encode_with(INDEX_MAGIC));
            encode_frame(sealer.envelope(), out);
        }
    }
    begin_frame(out)
}

/// Completes the index file [`begin_index`] started: seals the payload in place when
/// it is encrypted, and ends its frame.
pub(crate) fn end_index(out: &mut Vec<u8>, frame: usize, sealer: Option<&Sealer>) {
    if let Some(sealer) = sealer {
        sealer.seal_in_place(out, frame + FRAME_HEAD, INDEX_POSITION);
    }
    end_frame(out, frame);
}
