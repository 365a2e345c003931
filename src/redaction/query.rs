//! Query parameters: finding listed names in a request target and replacing their values
//! while keeping every other byte.

use std::borrow::Cow;
use std::ops::Range;

use super::Redaction;

/// `text` is a printed URI whose last `query_len` bytes are its query (`http::Uri` drops
/// the fragment when parsing, so the query is always last). Returns it with the value of
/// every listed parameter replaced.
pub(super) fn redact(redaction: &Redaction, text: String, query_len: usize) -> String {
    let query_start = text.len() - query_len;
    let listed = &redaction.inner.query_params;
    let mut secrets: Vec<Range<usize>> = Vec::new();
    let mut piece_start = query_start;
    for piece in text[query_start..].split(['&', ';']) {
        if let Some(eq) = piece.find('=') {
            let value = &piece[eq + 1..];
            if !value.is_empty() && is_listed(listed, &piece.as_bytes()[..eq]) {
                let value_start = piece_start + eq + 1;
                secrets.push(value_start..value_start + value.len());
            }
        }
        piece_start += piece.len() + 1;
    }
    if secrets.is_empty() {
        return text;
    }

    let mut out = String::with_capacity(text.len() + secrets.len() * 16);
    let mut copied = 0;
    for range in secrets {
        out.push_str(&text[copied..range.start]);
        let secret = decode(text[range.clone()].as_bytes());
        push_encoded(&mut out, &redaction.replace(&secret));
        copied = range.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether the raw (still encoded) parameter name is in `listed` (lower case).
pub(super) fn is_listed(listed: &[String], raw_name: &[u8]) -> bool {
    if raw_name.is_empty() {
        return false;
    }
    let name = decode(raw_name);
    listed
        .iter()
        .any(|listed| listed.as_bytes().eq_ignore_ascii_case(&name))
}

/// Form decoding: `%XX` to its byte, `+` to a space; a malformed escape stays as it is.
fn decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let escaped = raw
                    .get(i + 1..i + 3)
                    .and_then(|pair| Some(hex(pair[0])? << 4 | hex(pair[1])?));
                if let Some(byte) = escaped {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends `value` percent-encoding every byte that may not appear literally in a query
/// parameter value (RFC 3986 `pchar` and `/ ?`, minus the separators `& ; = +`).
fn push_encoded(out: &mut String, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        let literal = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b','
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
            );
        if literal {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}
