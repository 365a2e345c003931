//! JSON documents: every member whose name is a secret's, every member a configured
//! [`PathPattern`] matches, and every string in which a value detector finds a secret.
//!
//! The document is parsed only when the [scan](super::scan) of its raw text found a
//! candidate (or a configured path's final key, or an escape that could hide one);
//! otherwise the original bytes are kept as they are.

use bytes::Bytes;
use serde_json::Value;

use super::Redaction;
use super::names::Place;
use super::verdicts::Verdicts;
use crate::json_path::{PathPattern, Segment};

/// The parsed document with its secrets replaced, or `Err(())` when `body` is not JSON.
/// `Ok(None)`: parsed, nothing to replace.
pub(super) fn redact_document(
    redaction: &Redaction,
    body: &[u8],
    depth: u8,
) -> Result<Option<Bytes>, ()> {
    let mut document = serde_json::from_slice::<Value>(body).map_err(|_| ())?;
    let patterns = &redaction.inner.json_paths;
    let states: Vec<u64> = patterns.iter().map(PathPattern::start_state).collect();
    let mut walker = Walker {
        redaction,
        patterns,
        depth,
        verdicts: Verdicts::default(),
    };
    if !walker.walk(&mut document, &states) {
        return Ok(None);
    }
    Ok(serde_json::to_vec(&document).ok().map(Bytes::from))
}

/// Decides, without parsing, whether a configured path could match: a path ending in a
/// named key needs that name, quoted, somewhere in the text. Escapes (`\u`) could spell
/// a name without its letters, so a body holding one is always parsed.
#[derive(Debug)]
pub(super) struct KeyFilter {
    /// One finder per pattern; `None` when some pattern ends in a wildcard or index,
    /// which no substring can rule out.
    names: Option<Vec<memchr::memmem::Finder<'static>>>,
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
        Self { names }
    }

    pub(super) fn could_match(&self, body: &[u8]) -> bool {
        let Some(names) = &self.names else {
            return true;
        };
        names.iter().any(|finder| {
            let len = finder.needle().len();
            finder
                .find_iter(body)
                .any(|at| at > 0 && body[at - 1] == b'"' && body.get(at + len) == Some(&b'"'))
        })
    }
}

/// Member names whose verdicts a walk remembers.
const REMEMBERED_NAMES: usize = 32;

struct Walker<'a> {
    redaction: &'a Redaction,
    patterns: &'a [PathPattern],
    /// How many documents this one is nested in (JSON in a JSON string).
    depth: u8,
    /// The name test's verdicts on the member names met last: an array of objects
    /// repeats its few names in every element.
    verdicts: Verdicts<String, REMEMBERED_NAMES>,
}

impl Walker<'_> {
    /// Whether a member named `key` holds a secret.
    fn is_secret_member(&mut self, key: &str) -> bool {
        let names = &self.redaction.inner.names;
        self.verdicts.get_or_test(
            |known| known == key,
            || key.to_owned(),
            || names.is_secret(key.as_bytes(), Place::Field),
        )
    }

    /// Replaces `value` if a pattern accepts here, or else the secrets below it; returns
    /// whether anything was replaced.
    fn walk(&mut self, value: &mut Value, states: &[u64]) -> bool {
        if self
            .patterns
            .iter()
            .zip(states)
            .any(|(pattern, &state)| pattern.accepts(state))
        {
            *value = replacement(self.redaction, value);
            return true;
        }
        let mut next = vec![0u64; states.len()];
        let mut replaced = false;
        match value {
            Value::Object(members) => {
                for (key, child) in members.iter_mut() {
                    if self.is_secret_member(key) {
                        if !is_empty(child) {
                            *child = replacement(self.redaction, child);
                            replaced = true;
                        }
                        continue;
                    }
                    advance(self.patterns, states, Segment::Key(key), &mut next);
                    replaced |= self.walk(child, &next);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter_mut().enumerate() {
                    advance(self.patterns, states, Segment::Index(index), &mut next);
                    replaced |= self.walk(child, &next);
                }
            }
            // Nothing shorter than this can hold a detected value or a `name=value`.
            Value::String(text) if text.len() < 6 => {}
            Value::String(text) => {
                if let Some(redacted) =
                    self.redaction
                        .redact_body(None, text.as_bytes(), self.depth + 1)
                {
                    *text = String::from_utf8_lossy(&redacted).into_owned();
                    replaced = true;
                }
            }
            // Only an integer of 13 digits or more can be a card number.
            Value::Number(number) if number.as_u64().is_some_and(|n| n >= 1_000_000_000_000) => {
                let digits = number.to_string();
                let inner = &self.redaction.inner;
                if !inner
                    .scanner
                    .values(&inner.names, digits.as_bytes())
                    .is_empty()
                {
                    *value = replacement(self.redaction, value);
                    replaced = true;
                }
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
        replaced
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Fills `next` with each pattern's state after `segment`.
fn advance(patterns: &[PathPattern], states: &[u64], segment: Segment<'_>, next: &mut [u64]) {
    for ((pattern, &state), slot) in patterns.iter().zip(states).zip(next.iter_mut()) {
        *slot = if state == 0 {
            0
        } else {
            pattern.advance(state, segment)
        };
    }
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
