//! JSON bodies: walking a parsed document with the [`PathPattern`] automata and replacing
//! every matched value.
//!
//! Each pattern keeps one matching state per level while the walker descends; a subtree in
//! which every pattern's state is empty can never match and is skipped. The parser's own
//! depth limit bounds the recursion.

use bytes::Bytes;
use serde_json::Value;

use super::Redaction;
use crate::diff::PathPattern;
use crate::diff::Segment;

/// What to do with a body that names a listed key but does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unparseable {
    /// Replace it whole (a body declared JSON, cut at the cap, say: its secret cannot
    /// be found to be redacted alone, so none of it is kept).
    Replace,
    /// Keep it (a body not declared JSON: text that is not JSON holds no JSON field).
    Keep,
}

/// The redacted body, or `None` when nothing matched (or, with [`Unparseable::Keep`],
/// when the body does not parse).
pub(super) fn redact(
    redaction: &Redaction,
    body: &[u8],
    unparseable: Unparseable,
) -> Option<Bytes> {
    let patterns = &redaction.inner.json_paths;
    let filter = redaction
        .inner
        .json_filter
        .get_or_init(|| KeyFilter::new(patterns));
    if patterns.is_empty() || !filter.could_match(body) {
        return None;
    }
    let Ok(mut document) = serde_json::from_slice::<Value>(body) else {
        return (unparseable == Unparseable::Replace).then(|| redaction.replace(body));
    };
    let states: Vec<u64> = patterns.iter().map(PathPattern::start_state).collect();
    if !walk(redaction, patterns, &mut document, &states) {
        return None;
    }
    serde_json::to_vec(&document).ok().map(Bytes::from)
}

/// Decides, without parsing a body, whether any pattern could match it: a pattern ending
/// in a named key needs that name, quoted, somewhere in the text. Escapes (`\u`) could
/// spell a name without its letters, so a body holding one is always parsed. This keeps
/// the common case (a JSON body without secret fields) at a few substring searches.
#[derive(Debug)]
pub(super) struct KeyFilter {
    /// One finder per pattern; `None` when some pattern ends in a wildcard or index,
    /// which no substring can rule out.
    names: Option<Vec<memchr::memmem::Finder<'static>>>,
    escape: memchr::memmem::Finder<'static>,
}

impl KeyFilter {
    pub(super) fn new(patterns: &[PathPattern]) -> Self {
        let names = patterns
            .iter()
            .map(|p| {
                p.final_key()
                    .map(|name| memchr::memmem::Finder::new(name.as_bytes()).into_owned())
            })
            .collect();
        Self {
            names,
            escape: memchr::memmem::Finder::new(b"\\u").into_owned(),
        }
    }

    fn could_match(&self, body: &[u8]) -> bool {
        let Some(names) = &self.names else {
            return true;
        };
        if self.escape.find(body).is_some() {
            return true;
        }
        names.iter().any(|finder| {
            let len = finder.needle().len();
            finder
                .find_iter(body)
                .any(|at| at > 0 && body[at - 1] == b'"' && body.get(at + len) == Some(&b'"'))
        })
    }
}

/// Replaces `value` if a pattern accepts here, or else the matches below it; returns
/// whether anything was replaced.
fn walk(
    redaction: &Redaction,
    patterns: &[PathPattern],
    value: &mut Value,
    states: &[u64],
) -> bool {
    if patterns
        .iter()
        .zip(states)
        .any(|(pattern, &state)| pattern.accepts(state))
    {
        *value = replacement(redaction, value);
        return true;
    }
    let mut next = vec![0u64; states.len()];
    let mut replaced = false;
    match value {
        Value::Object(members) => {
            for (key, child) in members.iter_mut() {
                if advance(patterns, states, Segment::Key(key), &mut next) {
                    replaced |= walk(redaction, patterns, child, &next);
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter_mut().enumerate() {
                if advance(patterns, states, Segment::Index(index), &mut next) {
                    replaced |= walk(redaction, patterns, child, &next);
                }
            }
        }
        _ => {}
    }
    replaced
}

/// Fills `next` with each pattern's state after `segment`; whether any is still live.
fn advance(
    patterns: &[PathPattern],
    states: &[u64],
    segment: Segment<'_>,
    next: &mut [u64],
) -> bool {
    let mut live = false;
    for ((pattern, &state), slot) in patterns.iter().zip(states).zip(next.iter_mut()) {
        *slot = if state == 0 {
            0
        } else {
            pattern.advance(state, segment)
        };
        live |= *slot != 0;
    }
    live
}

/// The string that replaces a matched value. A string is hashed by its content, so a
/// secret pseudonymises the same in a body as in a header; anything else by its compact
/// JSON text.
fn replacement(redaction: &Redaction, value: &Value) -> Value {
    let replaced = match value {
        Value::String(secret) => redaction.replace(secret.as_bytes()),
        other => redaction.replace(other.to_string().as_bytes()),
    };
    Value::String(String::from_utf8_lossy(&replaced).into_owned())
}
