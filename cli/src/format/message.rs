//! HTTP message heads as text: the start line and the headers, the way they would
//! appear on the wire. Header values are bytes; ones that are not printable UTF-8 are
//! shown escaped, never dropped.

use retrace::{Header, RequestHead, ResponseHead};

/// A header value as text: itself when printable, escaped (`\xff`) otherwise.
pub(crate) fn header_value(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\t') => s.to_owned(),
        _ => value.escape_ascii().to_string(),
    }
}

/// The first value of a header as text, by name (case-insensitive).
pub(crate) fn find(headers: &[Header], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| header_value(&h.value))
}

/// The standard reason phrase of a status code, or an empty string.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

fn header_lines(headers: &[Header]) -> impl Iterator<Item = String> + '_ {
    headers
        .iter()
        .map(|h| format!("{}: {}", h.name, header_value(&h.value)))
}

/// `POST /orders HTTP/1.1` and the header lines.
pub(crate) fn request_lines(head: &RequestHead) -> Vec<String> {
    std::iter::once(format!("{} {} {}", head.method, head.uri, head.version))
        .chain(header_lines(&head.headers))
        .collect()
}

/// `HTTP/1.1 201 Created` and the header lines.
pub(crate) fn response_lines(head: &ResponseHead) -> Vec<String> {
    let start = format!(
        "{} {} {}",
        head.version,
        head.status,
        reason_phrase(head.status)
    );
    std::iter::once(start.trim_end().to_owned())
        .chain(header_lines(&head.headers))
        .collect()
}
