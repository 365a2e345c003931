//! The on-disk segment format: crash-safe, versioned, checksummed frames.
//!
//! A segment file is a [header] (magic, format version) followed by
//! [frames](frame): `[len u32][crc32 u32][payload][trailer]`. The checksum covers the
//! length and the payload, so a corrupted length cannot pass, and the fixed trailer
//! means a frame whose checksum was only half written never validates. A payload is a
//! batch of recording [`Chunk`](crate::event::Chunk)s, postcard-encoded and
//! lz4-compressed ([codec]). A closed segment gets an [index] file beside it so listing
//! never decompresses bodies.
//!
//! Readers never modify files. A torn tail (a crash mid-write) is tolerated: every frame
//! before it is returned and the tail is reported. Corruption followed by valid frames
//! is reported with its offset, and reading resumes at the next frame that validates.
//! Lengths are checked against [`MAX_FRAME_BYTES`] before anything is allocated.

pub mod codec;
pub mod frame;
pub mod header;
pub mod index;

pub use codec::{CodecError, decode_payload, encode_payload};
pub use frame::{FRAME_OVERHEAD, FRAME_TRAILER, Frame, FrameError, Frames, encode_frame};
pub use header::{
    FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, HeaderError, SEGMENT_MAGIC, SegmentHeader,
};
pub use index::{INDEX_MAGIC, IndexEntry, SegmentIndex};

/// The largest frame payload a writer produces and a reader accepts.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// The largest decompressed payload a reader accepts.
pub const MAX_DECODED_BYTES: usize = 256 << 20;

/// File name extension of segment files.
pub const SEGMENT_EXT: &str = "rtseg";

/// File name extension of segment index files.
pub const INDEX_EXT: &str = "rtidx";
