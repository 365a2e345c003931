//! [`Problem`]: something wrong with a file in the store, reported without stopping.

use std::fmt;
use std::path::PathBuf;

/// What is wrong with a file; each names the file, and the offset where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A write cut short by a crash: everything before `offset` was read.
    TornTail {
        /// The segment.
        file: PathBuf,
        /// Where the unusable bytes start.
        offset: u64,
        /// How many bytes are unusable.
        len: u64,
        /// What was wrong with them.
        reason: String,
    },
    /// Bytes in the middle of a segment that fail their checksum or framing; reading
    /// resumed at the next valid frame.
    Corrupt {
        /// The segment.
        file: PathBuf,
        /// Where the bad bytes start.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A frame whose checksum holds but whose payload does not decode.
    Undecodable {
        /// The segment.
        file: PathBuf,
        /// The frame's offset.
        offset: u64,
        /// The decoder's error.
        reason: String,
    },
    /// A segment or index from a newer format version, or not a segment at all.
    Unsupported {
        /// The file.
        file: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A file that could not be read.
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// An index that could not be used; its segment was scanned instead.
    IndexIgnored {
        /// The index file.
        file: PathBuf,
        /// Why it was not used.
        reason: String,
    },
    /// An encrypted segment or index that no identity given opens: its frames were
    /// checked, not read.
    Encrypted {
        /// The file.
        file: PathBuf,
        /// Which recipients it wants, and what was given.
        reason: String,
    },
    /// A `metadata.json` that could not be read.
    BadMetadata {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
}

impl Problem {
    /// The file the problem is in.
    pub fn file(&self) -> &std::path::Path {
        match self {
            Self::TornTail { file, .. }
            | Self::Corrupt { file, .. }
            | Self::Undecodable { file, .. }
            | Self::Unsupported { file, .. }
            | Self::Unreadable { file, .. }
            | Self::IndexIgnored { file, .. }
            | Self::Encrypted { file, .. }
            | Self::BadMetadata { file, .. } => file,
        }
    }

    /// Whether the problem means recorded data was lost (a torn tail is expected after a
    /// crash and loses only unflushed data; an ignored index loses nothing).
    pub fn is_damage(&self) -> bool {
        !matches!(
            self,
            Self::TornTail { .. } | Self::IndexIgnored { .. } | Self::Encrypted { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TornTail {
                file,
                offset,
                len,
                reason,
            } => write!(
                f,
                "{}: torn tail at offset {offset} ({len} bytes unusable: {reason})",
                file.display()
            ),
            Self::Corrupt {
                file,
                offset,
                reason,
            } => {
                write!(
                    f,
                    "{}: corrupt frame at offset {offset}: {reason}",
                    file.display()
                )
            }
            Self::Undecodable {
                file,
                offset,
                reason,
            } => write!(
                f,
                "{}: frame at offset {offset} does not decode: {reason}",
                file.display()
            ),
            Self::Unsupported { file, reason } => write!(f, "{}: {reason}", file.display()),
            Self::Unreadable { file, reason } => {
                write!(f, "{}: cannot read: {reason}", file.display())
            }
            Self::IndexIgnored { file, reason } => write!(
                f,
                "{}: index not used ({reason}); the segment was scanned instead",
                file.display()
            ),
            Self::Encrypted { file, reason } => {
                write!(f, "{}: encrypted and not opened: {reason}", file.display())
            }
            Self::BadMetadata { file, reason } => {
                write!(
                    f,
                    "{}: unreadable session metadata: {reason}",
                    file.display()
                )
            }
        }
    }
}
