//! A file's size and BLAKE3 digest: what an upload is verified against.

use std::fmt;

/// Size and digest of a file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fingerprint {
    pub(super) len: u64,
    pub(super) blake3: [u8; 32],
}

impl Fingerprint {
    pub(super) fn of(bytes: &[u8]) -> Self {
        Self {
            len: bytes.len() as u64,
            blake3: *blake3::hash(bytes).as_bytes(),
        }
    }

    /// The digest in hex, as stored in the object's metadata and the journal.
    pub(super) fn hex(&self) -> String {
        blake3::Hash::from_bytes(self.blake3).to_hex().to_string()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes, blake3 {}", self.len, self.hex())
    }
}
