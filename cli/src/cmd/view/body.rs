//! Headers and bodies as HTML: JSON folded (each object and array a `<details>`), text
//! as it is, binary summarised by size, type and digest, redacted values marked, and a
//! body cut at its cap marked with its full size. Shared by the recording and the
//! replay pages, so a body reads the same on both.

use bytes::Bytes;
use maud::{Markup, html};
use retrace::content_coding::{DEFAULT_DECODED_LIMIT, decode_message};
use retrace::redaction::{PSEUDONYM_PREFIX, REDACTED};
use retrace::{BodyEnd, Header};
use serde_json::Value;

use crate::format::body::{Kind, classify};
use crate::format::bytes;
use crate::format::message::{find, header_value};

/// JSON bodies with more nodes than this are shown pretty-printed but not folded.
const MAX_FOLDED_NODES: usize = 5_000;

/// Whether a value is a redaction mark (`[redacted]`, a pseudonym).
fn is_redacted(text: &str) -> bool {
    text.contains(REDACTED) || text.contains(PSEUDONYM_PREFIX)
}

/// Text with redaction marks set apart.
pub(super) fn marked(text: &str) -> Markup {
    if is_redacted(text) {
        html! { span.redacted title="redacted by retrace before it was recorded" { (text) } }
    } else {
        html! { (text) }
    }
}

/// A header list as a two-column table; `changed` names get a mark.
pub(super) fn headers(headers: &[Header], changed: &[&str]) -> Markup {
    html! {
        @if headers.is_empty() { p.muted { "No headers." } }
        @else {
            table.headers { tbody {
                @for h in headers {
                    tr class=[changed.iter().any(|c| c.eq_ignore_ascii_case(&h.name)).then_some("changed")] {
                        th { (h.name) }
                        td { (marked(&header_value(&h.value))) }
                    }
                }
            } }
        }
    }
}

/// A recorded body as the application read it: decoded from its `content-encoding`
/// with a note naming the coding. A body that cannot be decoded (cut at its cap, or
/// not what its header says) is shown as recorded.
pub(super) fn recorded(data: Bytes, headers: &[Header], end: Option<&BodyEnd>) -> Markup {
    let coding =
        find(headers, "content-encoding").filter(|c| !c.trim().eq_ignore_ascii_case("identity"));
    let (Some(coding), false) = (coding, end.is_some_and(BodyEnd::truncated)) else {
        return body(&data, headers, end);
    };
    match decode_message(headers.to_vec(), data.clone(), DEFAULT_DECODED_LIMIT) {
        Ok((decoded_headers, decoded)) => html! {
            p.muted.decoded { "Decoded from " code { (coding) } " (" (bytes(data.len() as u64)) " as sent)." }
            (body(&decoded, &decoded_headers, None))
        },
        Err(_) => body(&data, headers, end),
    }
}

/// A body: nothing when empty, else its rendering and a note when it was cut.
pub(super) fn body(data: &[u8], headers: &[Header], end: Option<&BodyEnd>) -> Markup {
    let total = end.map_or(data.len() as u64, |e| e.total_len.max(data.len() as u64));
    html! {
        @if total == 0 { p.muted { "No body." } }
        @else {
            @match classify(data, headers) {
                Kind::Json(pretty) => {
                    @match serde_json::from_slice::<Value>(data) {
                        Ok(value) if nodes(&value) <= MAX_FOLDED_NODES => {
                            div.json { (json(&value, None)) }
                        }
                        _ => { pre.body { (marked_lines(&pretty)) } }
                    }
                }
                Kind::Text(text) => { pre.body { (marked_lines(&text)) } }
                Kind::Binary => {
                    p.binary {
                        "Binary body: " (bytes(data.len() as u64))
                        @if let Some(t) = find(headers, "content-type") { ", " (t) }
                        @if let Some(e) = find(headers, "content-encoding") { ", " (e) "-encoded" }
                        ", BLAKE3 " code { (blake3::hash(data).to_hex()) }
                    }
                }
            }
            @if let Some(end) = end.filter(|e| e.truncated()) {
                p.truncated {
                    "Cut at its cap: " (bytes(end.captured_len)) " of " (bytes(end.total_len)) " kept."
                }
            }
        }
    }
}

fn marked_lines(text: &str) -> Markup {
    html! {
        @for (i, line) in text.split('\n').enumerate() {
            @if i > 0 { "\n" }
            (marked(line))
        }
    }
}

fn nodes(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(nodes).sum::<usize>(),
        Value::Array(items) => 1 + items.iter().map(nodes).sum::<usize>(),
        _ => 1,
    }
}

/// One JSON value, folded when it has children.
fn json(value: &Value, key: Option<&str>) -> Markup {
    let key_part = html! {
        @if let Some(k) = key { span.key { (serde_json::to_string(k).unwrap_or_default()) } ": " }
    };
    let fold = |open: &str, close: &str, count: usize, unit: &str, children: Markup| {
        html! {
            details.node open {
                summary { (key_part) (open) span.fold { " … " (count) " " (unit) (close) } }
                div.children { (children) }
                span.close { (close) }
            }
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => fold(
            "{",
            "}",
            map.len(),
            if map.len() == 1 { "key" } else { "keys" },
            html! { @for (k, v) in map { (json(v, Some(k))) } },
        ),
        Value::Array(items) if !items.is_empty() => fold(
            "[",
            "]",
            items.len(),
            if items.len() == 1 { "item" } else { "items" },
            html! { @for v in items { (json(v, None)) } },
        ),
        Value::String(s) => html! {
            div.leaf { (key_part) span.string { "\"" (marked(s)) "\"" } }
        },
        other => {
            let class = match other {
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            };
            html! { div.leaf { (key_part) span class=(class) { (other.to_string()) } } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_body_is_shown_decoded_and_a_cut_one_as_recorded() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"total":"12.50"}"#).expect("gzip");
        let gzipped = Bytes::from(gz.finish().expect("gzip"));
        let headers = [
            Header::new("content-type", "application/json"),
            Header::new("content-encoding", "gzip"),
        ];
        let out = recorded(gzipped.clone(), &headers, None).into_string();
        assert!(out.contains("Decoded from <code>gzip</code>"), "{out}");
        assert!(out.contains("&quot;12.50&quot;"), "{out}");
        let cut = gzipped.slice(..gzipped.len() / 2);
        let out = recorded(cut.clone(), &headers, None).into_string();
        assert!(out.contains("Binary body: "), "{out}");
        assert!(out.contains("gzip-encoded"), "{out}");
        let end = BodyEnd {
            at_us: 0,
            total_len: gzipped.len() as u64,
            captured_len: cut.len() as u64,
            digest: None,
            trailers: Vec::new(),
            finished: true,
        };
        let out = recorded(cut, &headers, Some(&end)).into_string();
        assert!(
            out.contains("Cut at its cap"),
            "a cut body keeps its note: {out}"
        );
        let identity = [Header::new("content-encoding", "identity")];
        let out = recorded(Bytes::from_static(b"plain"), &identity, None).into_string();
        assert!(!out.contains("Decoded from"), "{out}");
    }

    #[test]
    fn json_folds_and_redactions_are_marked_and_escaped() {
        let json_type = [Header::new("content-type", "application/json")];
        let out = body(
            br#"{"user":{"name":"<b>ada</b>","password":"[redacted]"},"ids":[1,2]}"#,
            &json_type,
            None,
        )
        .into_string();
        assert!(out.contains("<details class=\"node\" open>"), "{out}");
        assert!(out.contains("&lt;b&gt;ada&lt;/b&gt;"), "escaped: {out}");
        assert!(
            out.contains("<span class=\"redacted\" title=\"redacted by retrace before it was recorded\">[redacted]</span>"),
            "{out}"
        );
        assert!(out.contains(" … 2 items]"), "{out}");
    }

    #[test]
    fn binary_and_cut_bodies_say_so() {
        let end = BodyEnd {
            total_len: 4096,
            captured_len: 3,
            ..BodyEnd::default()
        };
        let out = body(&[0xff, 0, 1], &[], Some(&end)).into_string();
        assert!(out.contains("Binary body: 3 B, BLAKE3 <code>"), "{out}");
        assert!(
            out.contains("Cut at its cap: 3 B of 4.0 KiB kept."),
            "{out}"
        );
        assert!(body(b"", &[], None).into_string().contains("No body."));
    }
}
