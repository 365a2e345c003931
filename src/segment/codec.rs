//! Frame payloads: recording chunks, postcard-encoded back to back, lz4-compressed.
//!
//! Layout: `[raw_len u32 LE][lz4 block]`. The raw length is checked against
//! [`MAX_DECODED_BYTES`] before the output buffer is allocated, so a hostile payload
//! cannot make the reader allocate more than that.

use super::MAX_DECODED_BYTES;
use crate::event::Chunk;

/// The most an lz4 block can expand: each input byte yields at most 255 output bytes.
const MAX_LZ4_RATIO: usize = 255;

/// Why a payload could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The payload is shorter than its length prefix.
    #[error("the payload is too short to hold its length prefix")]
    Short,
    /// The declared decompressed size is over the limit, or more than the compressed
    /// bytes can expand to.
    #[error(
        "the declared size {declared} exceeds the limit of {MAX_DECODED_BYTES} bytes or what the payload can expand to"
    )]
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

/// Appends the postcard encoding of one chunk to a raw (uncompressed) batch. On
/// failure, `raw` keeps what it held and may hold part of the chunk after it.
pub fn append_chunk(chunk: &Chunk, raw: &mut Vec<u8>) -> Result<(), CodecError> {
    append_encoded(chunk, raw).map_err(CodecError::Encode)
}

/// Appends the postcard encoding of `value` to `out`, which the caller keeps.
///
/// Postcard's own flavors either take the vector by value (and lose it on an error) or
/// go through `io::Write`, one `write_all` call per varint byte.
pub(crate) fn append_encoded<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), postcard::Error> {
    postcard::serialize_with_flavor(value, AppendTo(out))
}

/// A postcard flavor that appends to a borrowed vector.
struct AppendTo<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendTo<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Compresses a raw batch into a frame payload, appending to `out`.
pub fn compress_batch(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.extend_from_slice(compress_batch_reusing(raw, &mut Vec::new())?);
    Ok(())
}

/// Compresses a raw batch into a frame payload written at the start of `scratch`, and
/// returns it. `scratch` only ever grows and is not cleared between calls: the
/// compressor needs an initialised output area as large as its worst case, and zeroing
/// that area for every frame (as large as the input) cost the writer more than a copy
/// of the frame does.
pub fn compress_batch_reusing<'s>(
    raw: &[u8],
    scratch: &'s mut Vec<u8>,
) -> Result<&'s [u8], CodecError> {
    if raw.len() > MAX_DECODED_BYTES {
        return Err(CodecError::TooLarge {
            declared: raw.len(),
        });
    }
    let needed = 4 + lz4_flex::block::get_maximum_output_size(raw.len());
    if scratch.len() < needed {
        scratch.resize(needed, 0);
    }
    scratch[..4].copy_from_slice(&(raw.len() as u32).to_le_bytes());
    let written = lz4_flex::block::compress_into(raw, &mut scratch[4..needed])
        .map_err(|e| CodecError::Decompress(e.to_string()))?;
    Ok(&scratch[..4 + written])
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
    // lz4 expands each input byte to at most 255 output bytes, so a declared size
    // beyond that is a lie: refuse it before allocating, or a 20-byte frame could
    // make the reader allocate (and zero) the whole decoded-size limit.
    if declared > MAX_DECODED_BYTES || declared > (payload.len() - 4).saturating_mul(MAX_LZ4_RATIO)
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_compressible_batches_stay_within_the_expansion_bound() {
        for len in [0, 1, 100, 4096, 1 << 20, 8 << 20] {
            let raw = vec![0u8; len];
            let mut out = Vec::new();
            compress_batch(&raw, &mut out).unwrap();
            assert!(
                len <= (out.len() - 4) * MAX_LZ4_RATIO,
                "{len} -> {}",
                out.len()
            );
            let mut back = Vec::new();
            decompress_payload(&out, &mut back).unwrap();
            assert_eq!(back, raw);
        }
    }

    #[test]
    fn a_reused_scratch_gives_each_batch_its_own_payload() {
        let mut scratch = Vec::new();
        let big: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let small = b"{\"order\":7,\"sku\":\"kiwi\"}".repeat(3);
        // Largest first: what a smaller batch leaves of a larger one's bytes in the
        // scratch must not end up in its payload.
        for raw in [&big[..], &small[..], &big[..1000], b""] {
            let payload = compress_batch_reusing(raw, &mut scratch).unwrap().to_vec();
            let mut back = Vec::new();
            decompress_payload(&payload, &mut back).unwrap();
            assert_eq!(back, raw);
            let bound = 4 + lz4_flex::block::get_maximum_output_size(raw.len());
            assert!(payload.len() <= bound, "{} > {bound} bytes", payload.len());
        }
    }

    #[test]
    fn a_size_the_payload_cannot_expand_to_is_refused_before_allocating() {
        let mut payload = (64u32 << 20).to_le_bytes().to_vec();
        payload.extend_from_slice(&[0; 16]);
        assert_eq!(
            decompress_payload(&payload, &mut Vec::new()),
            Err(CodecError::TooLarge { declared: 64 << 20 })
        );
    }
}
