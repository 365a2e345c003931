//! Frame payloads: recording chunks, postcard-encoded back to back, lz4-compressed.
//!
//! Layout: `[raw_len u32 LE][lz4 block]`. The raw length is checked against
//! [`MAX_DECODED_BYTES`] before the output buffer is allocated, so a hostile payload
//! cannot make the reader allocate more than that.

use super::MAX_DECODED_BYTES;
use crate::event::Chunk;

/// Why a payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The payload is shorter than its length prefix.
    #[error("the payload is too short to hold its length prefix")]
    Short,
    /// The declared decompressed size is over the limit.
    #[error("the declared size {declared} exceeds the limit of {MAX_DECODED_BYTES} bytes")]
    TooLarge {
        /// The declared size.
        declared: usize,
    },
    /// lz4 decompression failed or produced a different size.
    #[error("lz4 decompression failed: {0}")]
    Decompress(String),
    /// postcard decoding failed.
    #[error("postcard decoding failed after {decoded} chunks: {source}")]
    Decode {
        /// Chunks decoded before the failure.
        decoded: usize,
        /// The postcard error.
        source: postcard::Error,
    },
    /// postcard encoding failed.
    #[error("postcard encoding failed: {0}")]
    Encode(postcard::Error),
}

/// Appends the postcard encoding of one chunk to a raw (uncompressed) batch.
pub fn append_chunk(chunk: &Chunk, raw: &mut Vec<u8>) -> Result<(), CodecError> {
    let taken = std::mem::take(raw);
    match postcard::to_extend(chunk, taken) {
        Ok(v) => {
            *raw = v;
            Ok(())
        }
        Err(e) => Err(CodecError::Encode(e)),
    }
}

/// Compresses a raw batch into a frame payload, appending to `out`.
pub fn compress_batch(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    if raw.len() > MAX_DECODED_BYTES {
        return Err(CodecError::TooLarge {
            declared: raw.len(),
        });
    }
    let start = out.len();
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    let body = start + 4;
    out.resize(
        body + lz4_flex::block::get_maximum_output_size(raw.len()),
        0,
    );
    let written = lz4_flex::block::compress_into(raw, &mut out[body..])
        .map_err(|e| CodecError::Decompress(e.to_string()))?;
    out.truncate(body + written);
    Ok(())
}

/// Encodes chunks into one compressed payload.
pub fn encode_payload(chunks: &[Chunk]) -> Result<Vec<u8>, CodecError> {
    let mut raw = Vec::new();
    for c in chunks {
        append_chunk(c, &mut raw)?;
    }
    let mut out = Vec::new();
    compress_batch(&raw, &mut out)?;
    Ok(out)
}

/// Decompresses a payload into its raw batch, reusing `buf`.
pub fn decompress_payload(payload: &[u8], buf: &mut Vec<u8>) -> Result<(), CodecError> {
    if payload.len() < 4 {
        return Err(CodecError::Short);
    }
    let declared = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]) as usize;
    if declared > MAX_DECODED_BYTES {
        return Err(CodecError::TooLarge { declared });
    }
    buf.clear();
    buf.resize(declared, 0);
    let n = lz4_flex::block::decompress_into(&payload[4..], buf)
        .map_err(|e| CodecError::Decompress(e.to_string()))?;
    if n != declared {
        return Err(CodecError::Decompress(format!(
            "produced {n} bytes, the header declared {declared}"
        )));
    }
    Ok(())
}

/// Decodes the chunks of a raw batch.
pub fn decode_raw(mut raw: &[u8]) -> Result<Vec<Chunk>, CodecError> {
    let mut chunks = Vec::new();
    while !raw.is_empty() {
        let (chunk, rest) =
            postcard::take_from_bytes::<Chunk>(raw).map_err(|source| CodecError::Decode {
                decoded: chunks.len(),
                source,
            })?;
        chunks.push(chunk);
        raw = rest;
    }
    Ok(chunks)
}

/// Decodes a compressed payload into its chunks.
pub fn decode_payload(payload: &[u8]) -> Result<Vec<Chunk>, CodecError> {
    let mut buf = Vec::new();
    decompress_payload(payload, &mut buf)?;
    decode_raw(&buf)
}
