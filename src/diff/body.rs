//! Body comparison: picks JSON, text or binary, and reports text and binary differences.
//!
//! The bytes decide, not the `content-type`: bodies are compared as JSON when both
//! parse as JSON (content types are often missing or wrong, and a change of declared
//! type is reported by the header comparison anyway), as text when both are UTF-8, and
//! as bytes otherwise. Equal bytes are recognised first, without parsing, so identical
//! responses cost one comparison.

use super::change::{Change, Collector};
use super::json::diff_json;
use super::node::JsonNode;
use super::noise::NoiseRules;

/// Characters of a line shown before the first difference.
const CONTEXT_BEFORE: usize = 30;
/// Characters of a line shown in all.
const EXCERPT_CHARS: usize = 100;

/// Compares two bodies and records their differences.
pub(crate) fn diff_bodies(
    expected: &[u8],
    actual: &[u8],
    rules: &NoiseRules,
    collector: &mut Collector,
) {
    if expected == actual {
        return;
    }
    if let Some((ours, theirs)) = parse_both(expected, actual) {
        diff_json(&ours, &theirs, rules, collector);
        return;
    }
    let noise = rules.ignores_body();
    match (std::str::from_utf8(expected), std::str::from_utf8(actual)) {
        (Ok(ours), Ok(theirs)) => collector.record(noise, || text_change(ours, theirs)),
        _ => collector.record(noise, || Change::Binary {
            offset: first_difference(expected, actual),
            expected_len: expected.len(),
            actual_len: actual.len(),
        }),
    }
}

fn parse_both<'a>(expected: &'a [u8], actual: &'a [u8]) -> Option<(JsonNode<'a>, JsonNode<'a>)> {
    if !may_be_json(expected) || !may_be_json(actual) {
        return None;
    }
    Some((JsonNode::parse(expected)?, JsonNode::parse(actual)?))
}

/// A cheap first check, so HTML or plain text is not handed to the parser.
fn may_be_json(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|first| b"{[\"-0123456789tfn".contains(first))
}

/// The index of the first differing byte, or the shorter length.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 64;
    let len = a.len().min(b.len());
    let mut start = 0;
    // Whole chunks compare as slices (a memcmp), then the last one byte by byte.
    while start + CHUNK <= len && a[start..start + CHUNK] == b[start..start + CHUNK] {
        start += CHUNK;
    }
    a[start..len]
        .iter()
        .zip(&b[start..len])
        .position(|(x, y)| x != y)
        .map_or(len, |at| start + at)
}

/// The first differing line of two texts, with an excerpt of each around the difference.
fn text_change(expected: &str, actual: &str) -> Change {
    let mut offset = first_difference(expected.as_bytes(), actual.as_bytes());
    // The common prefix is the same text, so a character boundary in one is one in both.
    while !expected.is_char_boundary(offset) {
        offset -= 1;
    }
    let prefix = &expected[..offset];
    let line_start = prefix.rfind('\n').map_or(0, |newline| newline + 1);
    Change::Text {
        line: prefix.bytes().filter(|&byte| byte == b'\n').count() + 1,
        column: prefix[line_start..].chars().count() + 1,
        expected: excerpt(expected, line_start, offset),
        actual: excerpt(actual, line_start, offset),
    }
}

/// Up to [`EXCERPT_CHARS`] of the line starting at `line_start`, beginning a little
/// before `offset`; `None` when the text has ended before this line.
fn excerpt(text: &str, line_start: usize, offset: usize) -> Option<String> {
    if line_start >= text.len() {
        return None;
    }
    let rest = &text[line_start..];
    let mut line_end = line_start + rest.find('\n').unwrap_or(rest.len());
    if text[line_start..line_end].ends_with('\r') {
        line_end -= 1;
    }
    let start = text[line_start..offset]
        .char_indices()
        .rev()
        .nth(CONTEXT_BEFORE - 1)
        .map_or(line_start, |(at, _)| line_start + at)
        .min(line_end);
    let end = text[start..line_end]
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(line_end, |(at, _)| start + at);
    let mut out = String::with_capacity(end - start + 6);
    if start > line_start {
        out.push('…');
    }
    out.push_str(&text[start..end]);
    if end < line_end {
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_spans_chunks() {
        let a = vec![7_u8; 1000];
        let mut b = a.clone();
        assert_eq!(first_difference(&a, &b), 1000);
        b[777] = 0;
        assert_eq!(first_difference(&a, &b), 777);
        assert_eq!(first_difference(&a, &a[..130]), 130);
        assert_eq!(first_difference(b"", b"x"), 0);
    }

    #[test]
    fn text_change_points_at_line_and_column() {
        assert_eq!(
            text_change("one\ntwo\nthree\n", "one\ntwo\nthr3e\n"),
            Change::Text {
                line: 3,
                column: 4,
                expected: Some("three".into()),
                actual: Some("thr3e".into()),
            }
        );
        // A line the recording does not have.
        assert_eq!(
            text_change("a\n", "a\nb"),
            Change::Text {
                line: 2,
                column: 1,
                expected: None,
                actual: Some("b".into()),
            }
        );
        // Multi-byte characters: the column counts characters, the cut is on a boundary.
        assert_eq!(
            text_change("héllo wörld\r\n", "héllo wòrld\r\n"),
            Change::Text {
                line: 1,
                column: 8,
                expected: Some("héllo wörld".into()),
                actual: Some("héllo wòrld".into()),
            }
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_difference() {
        let ours = format!("{}X{}", "a".repeat(200), "b".repeat(200));
        let theirs = format!("{}Y{}", "a".repeat(200), "b".repeat(200));
        let Change::Text {
            line,
            column,
            expected: Some(expected),
            ..
        } = text_change(&ours, &theirs)
        else {
            panic!("expected a text change");
        };
        assert_eq!((line, column), (1, 201));
        assert_eq!(expected, format!("…{}X{}…", "a".repeat(30), "b".repeat(69)));
    }

    #[test]
    fn only_plausible_json_is_parsed() {
        assert!(may_be_json(b"  {\"a\":1}"));
        assert!(may_be_json(b"\n[1]"));
        assert!(!may_be_json(b"<html>"));
        assert!(!may_be_json(b""));
        assert!(parse_both(b"{\"a\":1}", b"not json").is_none());
    }
}
