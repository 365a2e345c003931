//! `name=value` pairs: a URI's query and a form body (`application/x-www-form-urlencoded`)
//! share one syntax and one redaction. A value is replaced whole when its name is a
//! secret's or when a value detector finds a secret in it (after form decoding); every
//! other byte is kept.

use std::borrow::Cow;
use std::ops::Range;

use super::Redaction;
use super::names::Place;

/// `text[start..]` is a query or a form body. Returns the text with the value of every
/// secret pair replaced (percent-encoded), or `None` when nothing was.
pub(super) fn redact(redaction: &Redaction, text: &[u8], start: usize) -> Option<Vec<u8>> {
    let mut secrets: Vec<Range<usize>> = Vec::new();
    let mut piece_start = start;
    for piece in text[start..].split(|&b| b == b'&') {
        // Some servers also split at `;`, most read `a=x;y` as one value: a secret
        // found at a `;`-separated pair is redacted to the end of its `&`-piece, so
        // neither reading keeps any of it.
        let mut sub_start = 0;
        for sub in piece.split(|&b| b == b';') {
            if let Some(eq) = memchr::memchr(b'=', sub) {
                let value = &piece[sub_start + eq + 1..];
                let own = &sub[eq + 1..];
                if !own.is_empty() && is_secret_pair(redaction, &sub[..eq], value) {
                    let value_start = piece_start + sub_start + eq + 1;
                    secrets.push(value_start..piece_start + piece.len());
                    break;
                }
            }
            sub_start += sub.len() + 1;
        }
        piece_start += piece.len() + 1;
    }
    if secrets.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() + secrets.len() * 16);
    let mut copied = 0;
    for range in secrets {
        out.extend_from_slice(&text[copied..range.start]);
        let secret = decode(&text[range.clone()]);
        push_encoded(&mut out, &redaction.replace(&secret));
        copied = range.end;
    }
    out.extend_from_slice(&text[copied..]);
    Some(out)
}

fn is_secret_pair(redaction: &Redaction, raw_name: &[u8], raw_value: &[u8]) -> bool {
    let inner = &redaction.inner;
    (!raw_name.is_empty() && inner.names.is_secret(&decode(raw_name), Place::Parameter))
        || !inner
            .scanner
            .values(&inner.names, &decode(raw_value))
            .is_empty()
}

/// Whether `body` reads as a form: `name=value` pairs joined by `&`, no white space or
/// control characters, every name made of URL-safe characters.
pub(super) fn looks_like_form(body: &[u8]) -> bool {
    !body.is_empty()
        && body.iter().all(|b| b.is_ascii_graphic())
        && body.split(|&b| b == b'&').all(|pair| {
            let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
            pair.contains(&b'=')
                && !name.is_empty()
                && name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%[]+".contains(b))
        })
}

/// Form decoding: `%XX` to its byte, `+` to a space; a malformed escape stays as it is.
pub(super) fn decode(raw: &[u8]) -> Cow<'_, [u8]> {
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
pub(super) fn push_encoded(out: &mut Vec<u8>, value: &[u8]) {
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
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
}
