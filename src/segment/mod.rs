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
//!
//! # How the format evolves
//!
//! Postcard is not self-describing: a struct is its fields in order, with no names,
//! tags or lengths, and an enum value is its variant's index followed by the variant's
//! fields. A reader can therefore decode only the exact types the writer encoded, and
//! cannot skip what it does not know. The rules that follow from it:
//!
//! - **Adding a field** to any encoded struct (an [`Event`](crate::event::Event), a
//!   head, a [`BodyEnd`](crate::event::BodyEnd)...), **inserting a variant** before
//!   others in an encoded enum, or changing a field's type changes how every later
//!   byte of the payload is read: it is a new **major** version ([`FORMAT_MAJOR`]). The
//!   new reader keeps the previous major's types as frozen copies (a `v1` module) and
//!   converts what it decodes with them, chosen by the segment header's version, so
//!   older files still read; an older reader refuses the new files by name ("segment
//!   format version 4.0 is newer than this reader supports"). A field cannot be
//!   appended "with a default" as with serde's self-describing formats: postcard has no
//!   end-of-struct marker to tell a reader the field is absent.
//! - **Appending a variant** at the end of an encoded enum leaves every value the
//!   previous version could write encoded exactly as before, so the new reader reads
//!   old files with its own types, no frozen copy needed; but an older reader cannot
//!   decode the new variant, so it is still a new major version, for the older reader
//!   to refuse the file by name rather than call a frame damaged. Format 2.0 is this
//!   case: [`RecordReason::Capture`](crate::event::RecordReason::Capture) was appended;
//!   a 1.0 file reads unchanged (the `v1` fixture test below).
//! - **Format 3.0 is an encrypted file** ([`crate::encryption`]): 2.0 with an envelope
//!   frame after the header and each frame's payload sealed. Plain files are still
//!   written at 2.0, so readers of 2.x keep reading them; such a reader refuses an
//!   encrypted file by name rather than calling it damaged.
//! - A **minor** version ([`FORMAT_MINOR`]) may only add what a reader of the same
//!   major never decodes: a new file beside the segment, or bytes after the last frame
//!   that frame validation already stops at. Nothing of that kind exists yet, so the
//!   minor version is 0.
//! - The previous format stays readable by test: `tests/format_v1.rs` reads a segment
//!   and its index written at 1.0 and committed under `tests/fixtures/v1/`, with exact
//!   expectations. A new major version adds a `v2` fixture beside it; `v1` is never
//!   regenerated.

pub mod body;
pub mod codec;
pub mod frame;
pub mod header;
pub mod index;

pub use body::{Body, BodyError};
pub use codec::{CodecError, decode_payload, encode_payload};
pub use frame::{FRAME_OVERHEAD, FRAME_TRAILER, Frame, FrameError, Frames, encode_frame};
pub use header::{
    FORMAT_MAJOR, FORMAT_MINOR, HEADER_LEN, HeaderError, SEGMENT_MAGIC, SegmentHeader,
};
pub use index::{INDEX_MAGIC, IndexEntry, IndexError, SegmentIndex, newest_unix_us};
pub(crate) use index::{begin_index, end_index};

/// The largest frame payload a writer produces and a reader accepts.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// The largest decompressed payload a reader accepts.
pub const MAX_DECODED_BYTES: usize = 256 << 20;

/// File name extension of segment files.
pub const SEGMENT_EXT: &str = "rtseg";

/// File name extension of segment index files.
pub const INDEX_EXT: &str = "rtidx";
