//! Content codings (`content-encoding: gzip, deflate, br, zstd`): decoding a body so
//! that two responses are compared by what they say, not by how they were compressed.
//!
//! Replay meets compressed bodies in two ways: a live target (or the app's own
//! compression layer, in in-process replay) compresses its answer because the recorded
//! request said `accept-encoding: gzip, br`, while the recording holds what the record
//! layer saw, usually the plain body. Comparing bytes would report every answer as
//! changed; comparing decoded bodies reports only what changed in the content.
//!
//! Decoding is bounded: a body that decodes to more than the given limit is an error
//! (a small compressed body can expand a thousandfold), never an allocation of that
//! size. Codings are undone in the reverse of the order listed, as RFC 9110 (8.4)
//! says they were applied; `identity` is skipped.
//!
//! ```
//! use std::io::Write;
//! use retrace::content_coding::{decode, DEFAULT_DECODED_LIMIT};
//!
//! let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
//! gzip.write_all(br#"{"ok":true}"#)?;
//! let compressed = gzip.finish()?;
//!
//! let decoded = decode(Some(b"gzip"), &compressed, DEFAULT_DECODED_LIMIT)?;
//! assert_eq!(decoded.as_deref(), Some(&br#"{"ok":true}"#[..]));
//! // No content-encoding (or identity): nothing to do.
//! assert_eq!(decode(None, b"plain", DEFAULT_DECODED_LIMIT)?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::Read;

use bytes::Bytes;

use crate::event::Header;

/// The most bytes a body may decode to unless a caller says otherwise: 64 MiB.
pub const DEFAULT_DECODED_LIMIT: usize = 64 << 20;

/// A content coding this module can undo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCoding {
    /// `gzip` (and its alias `x-gzip`).
    Gzip,
    /// `deflate`: zlib-wrapped as the standard says, or raw deflate as some servers send.
    Deflate,
    /// `br`: Brotli.
    Brotli,
    /// `zstd`: Zstandard.
    Zstd,
}

impl ContentCoding {
    /// The coding a `content-encoding` token names; `None` for `identity` and unknown
    /// names (see [`DecodeError::Unsupported`]).
    fn parse(token: &str) -> Result<Option<Self>, DecodeError> {
        match token.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Self::Gzip)),
            "deflate" => Ok(Some(Self::Deflate)),
            "br" => Ok(Some(Self::Brotli)),
            "zstd" => Ok(Some(Self::Zstd)),
            _ => Err(DecodeError::Unsupported {
                coding: token.to_owned(),
            }),
        }
    }

    /// The name used in `content-encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for ContentCoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The `content-encoding` names a coding this module does not know.
    #[error("unsupported content-encoding {coding:?} (gzip, deflate, br and zstd are)")]
    Unsupported {
        /// The token as sent.
        coding: String,
    },
    /// The `content-encoding` value is not text.
    #[error("the content-encoding header is not text")]
    NotText,
    /// The body is not valid in the coding it claims.
    #[error("the body is not valid {coding}: {source}")]
    Corrupt {
        /// The coding being undone.
        coding: ContentCoding,
        /// What the decoder reported.
        #[source]
        source: std::io::Error,
    },
    /// The body decodes to more than the limit.
    #[error("the {coding} body decodes to more than {limit} bytes")]
    TooLarge {
        /// The coding being undone.
        coding: ContentCoding,
        /// The limit.
        limit: usize,
    },
}

/// Whether every coding a `content-encoding` value names is one [`decode`] undoes (and
/// at least one is not `identity`).
///
/// ```
/// use retrace::content_coding::supported;
/// assert!(supported(b"gzip"));
/// assert!(supported(b"gzip, br"));
/// assert!(!supported(b"identity"));
/// assert!(!supported(b"compress"));
/// ```
pub fn supported(content_encoding: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(content_encoding) else {
        return false;
    };
    let mut any = false;
    for token in value.split(',') {
        match ContentCoding::parse(token.trim()) {
            Ok(Some(_)) => any = true,
            Ok(None) => {}
            Err(_) => return false,
        }
    }
    any
}

/// Decodes `body` as `content_encoding` (the header's value, or `None`) says, into at
/// most `limit` bytes. `Ok(None)` when there is nothing to undo.
pub fn decode(
    content_encoding: Option<&[u8]>,
    body: &[u8],
    limit: usize,
) -> Result<Option<Vec<u8>>, DecodeError> {
    let Some(value) = content_encoding else {
        return Ok(None);
    };
    let value = std::str::from_utf8(value).map_err(|_| DecodeError::NotText)?;
    let mut codings = Vec::new();
    for token in value.split(',') {
        if let Some(coding) = ContentCoding::parse(token.trim())? {
            codings.push(coding);
        }
    }
    if body.is_empty() && !codings.is_empty() {
        // No content (a 204, a HEAD answer) under a content-encoding a layer added
        // anyway: there is nothing to decode.
        return Ok(Some(Vec::new()));
    }
    let mut current: Option<Vec<u8>> = None;
    for coding in codings.into_iter().rev() {
        let input = current.as_deref().unwrap_or(body);
        current = Some(decode_one(coding, input, limit)?);
    }
    Ok(current)
}

/// A message's headers and body with its content coding undone: the body decoded and
/// the headers that described the encoded form (`content-encoding`, `content-length`)
/// removed. A message without a coding comes back as it was.
pub fn decode_message(
    headers: Vec<Header>,
    body: Bytes,
    limit: usize,
) -> Result<(Vec<Header>, Bytes), DecodeError> {
    let encoding = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-encoding"))
        .map(|h| &h.value[..]);
    let Some(decoded) = decode(encoding, &body, limit)? else {
        return Ok((headers, body));
    };
    let headers = headers
        .into_iter()
        .filter(|h| {
            !h.name.eq_ignore_ascii_case("content-encoding")
                && !h.name.eq_ignore_ascii_case("content-length")
        })
        .collect();
    Ok((headers, Bytes::from(decoded)))
}

fn decode_one(coding: ContentCoding, input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let corrupt = |source| DecodeError::Corrupt { coding, source };
    match coding {
        ContentCoding::Gzip => {
            read_bounded(flate2::read::MultiGzDecoder::new(input), coding, limit)
        }
        ContentCoding::Deflate => {
            read_bounded(flate2::read::ZlibDecoder::new(input), coding, limit).or_else(|zlib| {
                // Servers that send raw deflate are common enough to accept.
                read_bounded(flate2::read::DeflateDecoder::new(input), coding, limit)
                    .map_err(|_| zlib)
            })
        }
        ContentCoding::Brotli => read_bounded(
            brotli_decompressor::Decompressor::new(input, 4096),
            coding,
            limit,
        ),
        ContentCoding::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(input)
                .map_err(|e| corrupt(std::io::Error::other(e.to_string())))?;
            read_bounded(decoder, coding, limit)
        }
    }
}

/// Reads `reader` to its end, failing once it has given more than `limit` bytes.
fn read_bounded(
    reader: impl Read,
    coding: ContentCoding,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|source| DecodeError::Corrupt { coding, source })?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { coding, limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TEXT: &[u8] = br#"{"articles":[{"slug":"hello-world","title":"Hello"}],"count":1}"#;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
        drop(w);
        out
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn every_supported_coding_decodes_to_the_original_bytes() {
        for (name, encoded) in [
            ("gzip", gzip(TEXT)),
            ("x-gzip", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("deflate", raw_deflate(TEXT)),
            ("br", brotli(TEXT)),
            ("zstd", zstd(TEXT)),
            ("BR", brotli(TEXT)),
        ] {
            let decoded = decode(Some(name.as_bytes()), &encoded, 1 << 20).unwrap();
            assert_eq!(decoded.as_deref(), Some(TEXT), "{name}");
        }
    }

    #[test]
    fn stacked_codings_are_undone_last_applied_first() {
        let twice = brotli(&gzip(TEXT));
        let decoded = decode(Some(b"gzip, br"), &twice, 1 << 20).unwrap();
        assert_eq!(decoded.as_deref(), Some(TEXT));
        assert_eq!(decode(Some(b"identity"), TEXT, 10).unwrap(), None);
        assert_eq!(decode(None, TEXT, 10).unwrap(), None);
        // A 204 that a compression layer marked gzip has no content to decode.
        assert_eq!(decode(Some(b"gzip"), b"", 10).unwrap(), Some(Vec::new()));
    }

    #[test]
    fn errors_name_the_coding_and_the_problem() {
        let err = decode(Some(b"compress"), TEXT, 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported content-encoding \"compress\" (gzip, deflate, br and zstd are)"
        );
        let err = decode(Some(b"gzip"), b"not gzip at all", 1 << 20).unwrap_err();
        assert!(
            err.to_string().starts_with("the body is not valid gzip: "),
            "{err}"
        );
        let zeros = gzip(&vec![0; 100_000]);
        let err = decode(Some(b"gzip"), &zeros, 1000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the gzip body decodes to more than 1000 bytes"
        );
        // Exactly at the limit is fine.
        assert_eq!(
            decode(Some(b"gzip"), &gzip(&[7; 1000]), 1000)
                .unwrap()
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn a_decoded_message_loses_the_headers_of_its_encoded_form() {
        let headers = vec![
            Header::new("content-type", "application/json"),
            Header::new("content-encoding", "br"),
            Header::new("content-length", "45"),
            Header::new("vary", "accept-encoding"),
        ];
        let (headers, body) = decode_message(headers, Bytes::from(brotli(TEXT)), 1 << 20).unwrap();
        assert_eq!(&body[..], TEXT);
        let names: Vec<&str> = headers.iter().map(|h| h.name.as_ref()).collect();
        assert_eq!(names, ["content-type", "vary"]);
        let (same_headers, same_body) =
            decode_message(headers.clone(), Bytes::from_static(TEXT), 10).unwrap();
        assert_eq!((same_headers, &same_body[..]), (headers, TEXT));
    }
}
