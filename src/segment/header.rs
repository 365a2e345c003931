//! The segment header: magic bytes and format version.
//!
//! Readers accept any minor version of the major version they know (a minor version
//! only adds what such readers never decode; see [how the format
//! evolves](super#how-the-format-evolves)) and refuse a newer major version by name.

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RETRACE\x01";
/// The newest major version this reader reads: it refuses a file with a higher one.
/// A plain segment is written at 2.0; an encrypted one at 3.0, which is 2.0 with an
/// envelope frame after the header and sealed frame payloads
/// ([`crate::encryption`]), so that a reader without it refuses the file by name.
pub const FORMAT_MAJOR: u16 = 3;
/// The major version of a plain file.
const PLAIN_MAJOR: u16 = 2;
/// The major version of an encrypted file.
const ENCRYPTED_MAJOR: u16 = 3;
/// The format's minor version.
pub const FORMAT_MINOR: u16 = 0;
/// Bytes in a segment header.
pub const HEADER_LEN: usize = 16;

/// A decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Major format version.
    pub major: u16,
    /// Minor format version.
    pub minor: u16,
}

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer bytes than a header: a file created just before a crash.
    #[error("the file has {len} bytes, fewer than the {HEADER_LEN}-byte segment header")]
    Short {
        /// The file's length.
        len: usize,
    },
    /// The magic bytes are wrong: not a segment file.
    #[error("not a retrace segment (bad magic bytes)")]
    BadMagic,
    /// Written by a newer, incompatible version of the format.
    #[error(
        "segment format version {major}.{minor} is newer than this reader supports ({FORMAT_MAJOR}.x); upgrade retrace to read it"
    )]
    UnsupportedVersion {
        /// The file's major version.
        major: u16,
        /// The file's minor version.
        minor: u16,
    },
}

impl SegmentHeader {
    /// The header this version writes on a plain file.
    pub const CURRENT: Self = Self {
        major: PLAIN_MAJOR,
        minor: FORMAT_MINOR,
    };

    /// The header this version writes on an encrypted file.
    pub const ENCRYPTED: Self = Self {
        major: ENCRYPTED_MAJOR,
        minor: FORMAT_MINOR,
    };

    /// Whether the file is encrypted: an envelope frame follows the header.
    pub fn is_encrypted(&self) -> bool {
        self.major >= ENCRYPTED_MAJOR
    }

    /// The header's bytes, with the given magic.
    pub(crate) fn encode_with(self, magic: [u8; 8]) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&magic);
        out[8..10].copy_from_slice(&self.major.to_le_bytes());
        out[10..12].copy_from_slice(&self.minor.to_le_bytes());
        out
    }

    /// The header's bytes.
    pub fn encode(self) -> [u8; HEADER_LEN] {
        self.encode_with(SEGMENT_MAGIC)
    }

    /// Reads and checks a header at the start of `data` with the given magic.
    pub fn decode_with(data: &[u8], magic: [u8; 8]) -> Result<Self, HeaderError> {
        if data.len() < HEADER_LEN {
            return Err(HeaderError::Short { len: data.len() });
        }
        if data[..8] != magic {
            return Err(HeaderError::BadMagic);
        }
        let major = u16::from_le_bytes([data[8], data[9]]);
        let minor = u16::from_le_bytes([data[10], data[11]]);
        if major > FORMAT_MAJOR {
            return Err(HeaderError::UnsupportedVersion { major, minor });
        }
        Ok(Self { major, minor })
    }

    /// Reads and checks a segment header at the start of `data`.
    pub fn decode(data: &[u8]) -> Result<Self, HeaderError> {
        Self::decode_with(data, SEGMENT_MAGIC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_major_version_is_refused_by_name() {
        let bytes = SegmentHeader { major: 4, minor: 3 }.encode();
        let err = SegmentHeader::decode(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "segment format version 4.3 is newer than this reader supports (3.x); upgrade retrace to read it"
        );
        let newer_minor = SegmentHeader { major: 2, minor: 9 }.encode();
        assert!(SegmentHeader::decode(&newer_minor).is_ok());
        // The previous major version still reads (format 2.0 only appended a variant).
        let previous = SegmentHeader { major: 1, minor: 0 }.encode();
        assert!(SegmentHeader::decode(&previous).is_ok());
        assert_eq!(
            SegmentHeader::decode(b"short"),
            Err(HeaderError::Short { len: 5 })
        );
        assert_eq!(
            SegmentHeader::decode(&[0u8; 16]),
            Err(HeaderError::BadMagic)
        );
    }
}
