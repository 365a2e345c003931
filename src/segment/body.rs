//! Where a segment's or index's frames start, and how their payloads are read: as they
//! are in a plain file (format 2.x), opened with the file's data key in an encrypted
//! one (format 3.x: an envelope frame after the header; see [`crate::encryption`]).

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use super::frame::{FRAME_OVERHEAD, frame_len, read_frame};
use super::header::{HEADER_LEN, HeaderError, SegmentHeader};
use crate::encryption::{EncryptionError, Envelope, Opener, keyring};

/// A file's frames: where they start and how to open them.
#[derive(Clone, Debug)]
pub struct Body {
    /// The file's header.
    pub header: SegmentHeader,
    /// The offset of the first frame after the header (and the envelope).
    pub start: usize,
    key: Key,
}

/// How a file's frame payloads are opened.
#[derive(Clone, Debug)]
enum Key {
    /// A plain file: as they are.
    Plain,
    /// An encrypted file whose data key the keyring unwrapped.
    Open(Arc<Opener>),
    /// An encrypted file no identity given opens; its frames can still be checked.
    Locked(EncryptionError),
}

/// Why a file's frames cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The header is short, wrong or from a newer format.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The envelope frame of an encrypted file is torn or damaged.
    #[error("the encrypted file's key envelope is damaged: {0}")]
    Envelope(String),
    /// The file ends inside the envelope frame: created just before a crash.
    #[error("the file ends {len} bytes into its key envelope")]
    TornEnvelope {
        /// The bytes of the envelope frame present.
        len: usize,
    },
}

impl Body {
    /// Reads the header (and the envelope, for an encrypted file) at the start of
    /// `data`, which holds at least those bytes.
    pub fn read(data: &[u8], magic: [u8; 8]) -> Result<Self, BodyError> {
        let header = SegmentHeader::decode_with(data, magic)?;
        if !header.is_encrypted() {
            return Ok(Self {
                header,
                start: HEADER_LEN,
                key: Key::Plain,
            });
        }
        let rest = data.get(HEADER_LEN..).unwrap_or_default();
        let declared = rest
            .get(..4)
            .and_then(|p| frame_len([p[0], p[1], p[2], p[3]]));
        let torn = match declared {
            None => rest.len() < 4,
            Some(total) => rest.len() < total,
        };
        if torn {
            return Err(BodyError::TornEnvelope { len: rest.len() });
        }
        let payload = read_frame(rest).map_err(|e| BodyError::Envelope(e.to_owned()))?;
        let envelope = Envelope::decode(payload).map_err(|e| BodyError::Envelope(e.to_string()))?;
        let key = match keyring().open(&envelope) {
            Ok(opener) => Key::Open(opener),
            Err(e) => Key::Locked(e),
        };
        Ok(Self {
            header,
            start: HEADER_LEN + payload.len() + FRAME_OVERHEAD,
            key,
        })
    }

    /// Reads the header and envelope from the start of a file, reading only them.
    pub fn read_file(file: &mut File, magic: [u8; 8]) -> Result<Self, BodyError> {
        let mut head = vec![0u8; HEADER_LEN + 4];
        let got = read_up_to(file, &mut head).map_err(|e| BodyError::Envelope(e.to_string()))?;
        head.truncate(got);
        let header = SegmentHeader::decode_with(&head, magic)?;
        if header.is_encrypted() && got == HEADER_LEN + 4 {
            let prefix = [head[16], head[17], head[18], head[19]];
            let total = frame_len(prefix)
                .ok_or_else(|| BodyError::Envelope("its length is over the limit".to_owned()))?;
            let mut rest = vec![0u8; total - 4];
            let more =
                read_up_to(file, &mut rest).map_err(|e| BodyError::Envelope(e.to_string()))?;
            head.extend_from_slice(&rest[..more]);
        }
        Self::read(&head, magic)
    }

    /// The payload of the frame at `position` as the codec reads it: `payload` itself
    /// in a plain file, the payload opened into `buf` in an encrypted one.
    pub fn open<'a>(
        &self,
        payload: &'a [u8],
        position: u64,
        buf: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], EncryptionError> {
        match &self.key {
            Key::Plain => Ok(payload),
            Key::Open(opener) => {
                opener.open(payload, position, buf)?;
                Ok(buf)
            }
            Key::Locked(e) => Err(e.clone()),
        }
    }

    /// Why the frames cannot be opened, for an encrypted file no identity opens.
    pub fn locked(&self) -> Option<&EncryptionError> {
        match &self.key {
            Key::Locked(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads into `buf` until it is full or the file ends; returns the bytes read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
