//! Bodies, redacted by what they are rather than what they claim.
//!
//! A body that parses as JSON is redacted as JSON whatever its content type (`curl -d`
//! sends JSON as a form); a form (declared, or `name=value&…` text) by its fields; any
//! other text by the value detectors and by the values it assigns to secret names
//! (`password: hunter2`); anything else (binary) is kept unless a detector finds a
//! secret in it, and then replaced whole, since cutting bytes out of a binary format
//! would corrupt it. A body that claims or looks to be JSON but does not parse (cut at
//! the body cap, or malformed) is replaced whole when it holds any candidate, since its
//! secrets cannot be found one by one.

use std::ops::Range;

use bytes::Bytes;

use super::{Redaction, json, params};

/// How deep JSON nested in JSON strings is followed; deeper strings are only scanned.
const MAX_NESTING: u8 = 4;

/// What a body is, from its content type and its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Json,
    Form,
    Text,
    Binary,
}

fn kind(content_type: Option<&[u8]>, body: &[u8]) -> Kind {
    let mime = content_type
        .map(|ct| {
            ct.split(|&b| b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii()
        })
        .unwrap_or_default();
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        return Kind::Json;
    }
    if mime.eq_ignore_ascii_case(b"application/json") || mime.ends_with(b"+json") {
        return Kind::Json;
    }
    if mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
        || params::looks_like_form(body)
    {
        return Kind::Form;
    }
    // Declared text (a multipart form with a binary file part, a text cut inside a
    // character at the cap) is read as text even when it is not all UTF-8.
    let starts = |prefix: &[u8]| {
        mime.len() >= prefix.len() && mime[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if starts(b"text/") || starts(b"multipart/") || std::str::from_utf8(body).is_ok() {
        Kind::Text
    } else {
        Kind::Binary
    }
}

impl Redaction {
    /// The body with its secrets replaced, or `None` when nothing was (or the
    /// redaction inspects no body).
    pub(super) fn redact_body(
        &self,
        content_type: Option<&[u8]>,
        body: &[u8],
        depth: u8,
    ) -> Option<Bytes> {
        let inner = &self.inner;
        if body.is_empty() || !self.inspects_bodies() {
            return None;
        }
        match kind(content_type, body) {
            Kind::Json => {
                let findings = inner.scanner.scan(&inner.names, body, false);
                // `\u` or `\/`: one pass over the backslashes, which clean JSON has few of.
                let escaped = memchr::memchr_iter(b'\\', body)
                    .any(|at| matches!(body.get(at + 1), Some(b'u' | b'/')));
                let paths = !inner.json_paths.is_empty() && inner.json_filter.could_match(body);
                if findings.is_empty() && !escaped && !paths {
                    return None;
                }
                if depth >= MAX_NESTING {
                    return self.redact_text(body);
                }
                match json::redact_document(self, body, depth) {
                    Ok(redacted) => redacted,
                    // Not JSON after all: a string that merely starts with a brace is
                    // text; a body that claims to be JSON is replaced whole.
                    Err(()) if content_type.is_none() => self.redact_text(body),
                    Err(()) if findings.is_empty() && !escaped && !paths => None,
                    Err(()) => Some(self.replace(body)),
                }
            }
            Kind::Form => params::redact(self, body, 0).map(Bytes::from),
            Kind::Text => self.redact_text(body),
            Kind::Binary => {
                let findings = inner.scanner.scan(&inner.names, body, true);
                (!findings.secrets().is_empty()).then(|| self.replace(body))
            }
        }
    }

    /// Text: every detected value and every value assigned to a secret name replaced
    /// in place.
    fn redact_text(&self, text: &[u8]) -> Option<Bytes> {
        let inner = &self.inner;
        let secrets = inner.scanner.scan(&inner.names, text, true).secrets();
        (!secrets.is_empty()).then(|| Bytes::from(self.replace_ranges(text, &secrets)))
    }

    /// `text` with each of the sorted, disjoint `ranges` replaced.
    pub(super) fn replace_ranges(&self, text: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut copied = 0;
        for range in ranges {
            out.extend_from_slice(&text[copied..range.start]);
            out.extend_from_slice(&self.replace(&text[range.clone()]));
            copied = range.end;
        }
        out.extend_from_slice(&text[copied..]);
        out
    }
}
