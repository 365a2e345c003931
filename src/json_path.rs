//! JSON paths: the concrete location of a value (`$.items[2].id`) and the patterns that
//! select locations (`$.items[*].id`, `$..timestamp`): what redaction redacts
//! ([`RedactionBuilder::json_path`](crate::RedactionBuilder::json_path)), what a diff
//! reports and its noise rules ignore ([`diff`](crate::diff)), what traffic replay
//! substitutes.
//!
//! Both share one spelling, so a path printed in a report can be pasted into a rule as it
//! is, and learned noise is stored as ordinary patterns. Matching runs as a small
//! automaton advanced one step per level while the JSON walker descends, so checking a
//! node costs a few bit operations per pattern rather than a comparison of whole paths.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A JSON path pattern that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The pattern does not follow the syntax of [`PathPattern`].
    #[error("invalid JSON path {pattern:?} at byte {at}: {reason}")]
    Invalid {
        /// The pattern as given.
        pattern: String,
        /// The byte offset where parsing stopped.
        at: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// The pattern has more steps than the matcher supports.
    #[error("JSON path {pattern:?} has {steps} steps; at most {max} are supported")]
    TooLong {
        /// The pattern as given.
        pattern: String,
        /// Its number of steps.
        steps: usize,
        /// The most allowed, [`MAX_PATTERN_STEPS`].
        max: usize,
    },
}

/// The most steps a pattern may have: its matching state is one bit per position.
pub const MAX_PATTERN_STEPS: usize = 63;

/// One level of a concrete location inside a JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// An object member, by name.
    Key(&'a str),
    /// An array element, by index.
    Index(usize),
}

/// Calls `f` with every scalar (string, number, boolean, null) in `doc` and its location
/// in pattern syntax (`$.items[2].id`), arrays in order and object members in the order
/// `serde_json` keeps them; each location parses as a [`PathPattern`] matching exactly
/// it.
///
/// ```
/// let doc = serde_json::json!({"user": {"ids": [7, 8]}});
/// let mut seen = Vec::new();
/// retrace::json_path::for_each_scalar(&doc, &mut |path, value| seen.push(format!("{path}={value}")));
/// assert_eq!(seen, ["$.user.ids[0]=7", "$.user.ids[1]=8"]);
/// ```
pub fn for_each_scalar(doc: &serde_json::Value, f: &mut dyn FnMut(&str, &serde_json::Value)) {
    fn walk<'a>(
        doc: &'a serde_json::Value,
        at: &mut Vec<Segment<'a>>,
        f: &mut dyn FnMut(&str, &serde_json::Value),
    ) {
        match doc {
            serde_json::Value::Object(members) => {
                for (key, value) in members {
                    at.push(Segment::Key(key));
                    walk(value, at, f);
                    at.pop();
                }
            }
            serde_json::Value::Array(items) => {
                for (index, value) in items.iter().enumerate() {
                    at.push(Segment::Index(index));
                    walk(value, at, f);
                    at.pop();
                }
            }
            scalar => f(&render_path(at), scalar),
        }
    }
    walk(doc, &mut Vec::new(), f);
}

/// Renders a concrete location in pattern syntax, such as `$.items[2]["first name"]`.
pub(crate) fn render_path(segments: &[Segment<'_>]) -> String {
    let mut out = String::with_capacity(1 + segments.len() * 8);
    out.push('$');
    for segment in segments {
        match *segment {
            Segment::Key(key) => push_key(&mut out, key, false),
            Segment::Index(index) => push_index(&mut out, index),
        }
    }
    out
}

/// A pattern over JSON locations, used to ignore parts of a body.
///
/// # Syntax
///
/// A pattern starts with `$`, the whole body, followed by steps:
///
/// | step            | matches                                                    |
/// |-----------------|------------------------------------------------------------|
/// | `.name`         | the object member `name`                                   |
/// | `["any name"]`  | the object member with that name (a JSON string literal)   |
/// | `[3]`           | the array element at index 3 (counting from 0)             |
/// | `.*` or `[*]`   | any single member or element                               |
/// | `..` + step     | that step at any depth: zero or more levels, then the step |
///
/// A bare `.name` is one or more characters other than `.`, `[`, `]` and white space;
/// any other name, including `*` itself, takes the quoted form. Examples:
/// `$.meta.generated_at`, `$.items[*].id`, `$..timestamp`, `$..["created at"]`,
/// `$.rows[0]`, and `$` alone.
///
/// # Meaning
///
/// A pattern ignores the location it matches **and everything below it**: `$.meta`
/// ignores `$.meta.generated_at`, and `$` ignores the whole body, whatever its kind
/// (text and binary bodies too). A pattern has at most [`MAX_PATTERN_STEPS`] steps.
///
/// Patterns print in a canonical form (`$.items.*` prints as `$.items[*]`), and every
/// location in a [`Diff`](crate::diff::Diff) report is itself a valid pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathPattern {
    steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Step {
    descend: bool,
    selector: Selector,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Selector {
    Key(String),
    Index(usize),
    Any,
}

impl Selector {
    fn matches(&self, segment: Segment<'_>) -> bool {
        match (self, segment) {
            (Self::Any, _) => true,
            (Self::Key(name), Segment::Key(key)) => name == key,
            (Self::Index(wanted), Segment::Index(index)) => *wanted == index,
            _ => false,
        }
    }
}

impl PathPattern {
    /// Parses a pattern; see the type's documentation for the syntax.
    pub fn parse(pattern: &str) -> Result<Self, PathError> {
        PatternParser::new(pattern).parse()
    }

    /// The pattern `$`: the whole body.
    pub fn root() -> Self {
        Self { steps: Vec::new() }
    }

    /// Whether this is `$`, which ignores the whole body.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Replaces the value at every location this pattern matches in `doc` with `with`
    /// (a match is not searched further inside), and returns how many were replaced.
    /// Nothing is created: a pattern that matches no location changes nothing.
    ///
    /// ```
    /// use retrace::json_path::PathPattern;
    /// use serde_json::json;
    ///
    /// let mut doc = json!({"user": {"email": "a@b.c", "password": "[redacted]"}});
    /// let pattern = PathPattern::parse("$.user.password")?;
    /// assert_eq!(pattern.replace_matches(&mut doc, &json!("hunter2")), 1);
    /// assert_eq!(doc["user"]["password"], "hunter2");
    /// assert_eq!(PathPattern::parse("$.missing")?.replace_matches(&mut doc, &json!(1)), 0);
    /// # Ok::<(), retrace::json_path::PathError>(())
    /// ```
    pub fn replace_matches(&self, doc: &mut serde_json::Value, with: &serde_json::Value) -> usize {
        self.replace_below(doc, self.start_state(), with)
    }

    fn replace_below(
        &self,
        doc: &mut serde_json::Value,
        state: u64,
        with: &serde_json::Value,
    ) -> usize {
        if state == 0 {
            return 0;
        }
        if self.accepts(state) {
            *doc = with.clone();
            return 1;
        }
        match doc {
            serde_json::Value::Object(members) => members
                .iter_mut()
                .map(|(key, value)| {
                    self.replace_below(value, self.advance(state, Segment::Key(key)), with)
                })
                .sum(),
            serde_json::Value::Array(items) => items
                .iter_mut()
                .enumerate()
                .map(|(index, value)| {
                    self.replace_below(value, self.advance(state, Segment::Index(index)), with)
                })
                .sum(),
            _ => 0,
        }
    }

    /// The value at the first location this pattern matches in `doc` (for a pattern
    /// without wildcards, the one location it names).
    pub fn first_match<'v>(&self, doc: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.first_below(doc, self.start_state())
    }

    fn first_below<'v>(
        &self,
        doc: &'v serde_json::Value,
        state: u64,
    ) -> Option<&'v serde_json::Value> {
        if state == 0 {
            return None;
        }
        if self.accepts(state) {
            return Some(doc);
        }
        match doc {
            serde_json::Value::Object(members) => members.iter().find_map(|(key, value)| {
                self.first_below(value, self.advance(state, Segment::Key(key)))
            }),
            serde_json::Value::Array(items) => {
                items.iter().enumerate().find_map(|(index, value)| {
                    self.first_below(value, self.advance(state, Segment::Index(index)))
                })
            }
            _ => None,
        }
    }

    /// The same pattern with every array index replaced by `[*]`, so a rule learned from
    /// one element applies to its siblings.
    ///
    /// ```
    /// use retrace::json_path::PathPattern;
    /// let p = PathPattern::parse("$.items[3].at")?.with_any_index();
    /// assert_eq!(p.to_string(), "$.items[*].at");
    /// # Ok::<(), retrace::json_path::PathError>(())
    /// ```
    pub fn with_any_index(mut self) -> Self {
        for step in &mut self.steps {
            if matches!(step.selector, Selector::Index(_)) {
                step.selector = Selector::Any;
            }
        }
        self
    }

    /// The member name the pattern's last step requires, when that step is a named key.
    /// A document in which that name never appears cannot match the pattern.
    pub(crate) fn final_key(&self) -> Option<&str> {
        match &self.steps.last()?.selector {
            Selector::Key(name) => Some(name),
            Selector::Index(_) | Selector::Any => None,
        }
    }

    /// The matching state before any step: only the start position is active.
    pub(crate) fn start_state(&self) -> u64 {
        1
    }

    /// Whether `state` has reached the end of the pattern.
    pub(crate) fn accepts(&self, state: u64) -> bool {
        state & (1 << self.steps.len()) != 0
    }

    /// The state after descending one level into `segment`.
    pub(crate) fn advance(&self, state: u64, segment: Segment<'_>) -> u64 {
        let mut next = 0;
        let mut active = state;
        while active != 0 {
            let position = active.trailing_zeros() as usize;
            active &= active - 1;
            let Some(step) = self.steps.get(position) else {
                continue;
            };
            if step.descend {
                next |= 1 << position;
            }
            if step.selector.matches(segment) {
                next |= 1 << (position + 1);
            }
        }
        next
    }
}

impl FromStr for PathPattern {
    type Err = PathError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        Self::parse(pattern)
    }
}

impl TryFrom<String> for PathPattern {
    type Error = PathError;

    fn try_from(pattern: String) -> Result<Self, Self::Error> {
        Self::parse(&pattern)
    }
}

impl From<PathPattern> for String {
    fn from(pattern: PathPattern) -> Self {
        pattern.to_string()
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::from("$");
        for step in &self.steps {
            if step.descend {
                out.push_str("..");
            }
            match &step.selector {
                Selector::Key(key) => push_key(&mut out, key, step.descend),
                Selector::Index(index) => push_index(&mut out, *index),
                Selector::Any if step.descend => out.push('*'),
                Selector::Any => out.push_str("[*]"),
            }
        }
        f.write_str(&out)
    }
}

/// Appends a member step: `.name` when the name is plain, `["..."]` otherwise. After
/// `..` the leading dot is already written.
fn push_key(out: &mut String, key: &str, after_descend: bool) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !after_descend {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push('[');
        push_json_string(out, key);
        out.push(']');
    }
}

fn push_index(out: &mut String, index: usize) {
    use fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "[{index}]");
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                use fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A hand-written parser: the grammar is tiny and errors should name the byte offset.
struct PatternParser<'a> {
    source: &'a str,
    at: usize,
    steps: Vec<Step>,
}

impl<'a> PatternParser<'a> {
    fn new(source: &'a str) -> Self {
        Self {
            source,
            at: 0,
            steps: Vec::new(),
        }
    }

    fn parse(mut self) -> Result<PathPattern, PathError> {
        if !self.source.starts_with('$') {
            return Err(self.error("a path starts with `$`"));
        }
        self.at = 1;
        while self.at < self.source.len() {
            let step = self.step()?;
            self.steps.push(step);
        }
        if self.steps.len() > MAX_PATTERN_STEPS {
            return Err(PathError::TooLong {
                pattern: self.source.to_owned(),
                steps: self.steps.len(),
                max: MAX_PATTERN_STEPS,
            });
        }
        Ok(PathPattern { steps: self.steps })
    }

    fn rest(&self) -> &'a str {
        &self.source[self.at..]
    }

    fn step(&mut self) -> Result<Step, PathError> {
        if self.rest().starts_with("..") {
            self.at += 2;
            let selector = if self.rest().starts_with('[') {
                self.bracket()?
            } else {
                self.name()?
            };
            Ok(Step {
                descend: true,
                selector,
            })
        } else if self.rest().starts_with('.') {
            self.at += 1;
            Ok(Step {
                descend: false,
                selector: self.name()?,
            })
        } else if self.rest().starts_with('[') {
            Ok(Step {
                descend: false,
                selector: self.bracket()?,
            })
        } else {
            Err(self.error("expected `.`, `..` or `[`"))
        }
    }

    /// A bare name or `*`, after a dot.
    fn name(&mut self) -> Result<Selector, PathError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c == '.' || c == '[' || c == ']' || c.is_whitespace())
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a member name or `*`"));
        }
        self.at += len;
        Ok(match &rest[..len] {
            "*" => Selector::Any,
            name => Selector::Key(name.to_owned()),
        })
    }

    /// `[*]`, `[digits]` or `["name"]`.
    fn bracket(&mut self) -> Result<Selector, PathError> {
        self.at += 1;
        let rest = self.rest();
        let (selector, len) = if rest.starts_with('*') {
            (Selector::Any, 1)
        } else if rest.starts_with('"') {
            let len = quoted_len(rest).ok_or_else(|| self.error("unterminated string"))?;
            let name: String = serde_json::from_str(&rest[..len])
                .map_err(|_| self.error("invalid string literal"))?;
            (Selector::Key(name), len)
        } else {
            let len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let index = rest[..len]
                .parse()
                .map_err(|_| self.error("expected an index, `*` or a quoted name"))?;
            (Selector::Index(index), len)
        };
        self.at += len;
        if !self.rest().starts_with(']') {
            return Err(self.error("expected `]`"));
        }
        self.at += 1;
        Ok(selector)
    }

    fn error(&self, reason: &'static str) -> PathError {
        PathError::Invalid {
            pattern: self.source.to_owned(),
            at: self.at,
            reason,
        }
    }
}

/// The length of the JSON string literal at the start of `text`, quotes included.
fn quoted_len(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (offset, byte) in text.bytes().enumerate().skip(1) {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(offset + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &[Segment<'_>]) -> bool {
        let pattern = PathPattern::parse(pattern).expect("valid pattern");
        let mut state = pattern.start_state();
        if pattern.accepts(state) {
            return true;
        }
        for segment in path {
            state = pattern.advance(state, *segment);
            if pattern.accepts(state) {
                return true;
            }
        }
        false
    }

    #[test]
    fn canonical_forms_round_trip() {
        for (input, canonical) in [
            ("$", "$"),
            ("$.meta.generated_at", "$.meta.generated_at"),
            ("$.items[*].id", "$.items[*].id"),
            ("$.items.*", "$.items[*]"),
            ("$..timestamp", "$..timestamp"),
            ("$..*", "$..*"),
            ("$..[2]", "$..[2]"),
            ("$[\"first name\"]", "$[\"first name\"]"),
            ("$..[\"a.b\"]", "$..[\"a.b\"]"),
            ("$[\"plain\"]", "$.plain"),
            ("$[\"*\"]", "$[\"*\"]"),
            ("$[\"q\\\"uote\"]", "$[\"q\\\"uote\"]"),
        ] {
            let pattern = PathPattern::parse(input).expect(input);
            assert_eq!(pattern.to_string(), canonical, "{input}");
            assert_eq!(PathPattern::parse(canonical).expect(canonical), pattern);
        }
    }

    #[test]
    fn rejects_malformed_patterns_with_offsets() {
        for (input, at) in [
            ("meta", 0),
            ("$meta", 1),
            ("$.", 2),
            ("$.a..", 5),
            ("$[", 2),
            ("$[x]", 2),
            ("$[1", 3),
            ("$[\"open]", 2),
            ("$.a b", 3),
        ] {
            match PathPattern::parse(input) {
                Err(PathError::Invalid { at: got, .. }) => {
                    assert_eq!(got, at, "{input}")
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        let long = format!("${}", ".a".repeat(MAX_PATTERN_STEPS + 1));
        assert!(matches!(
            PathPattern::parse(&long),
            Err(PathError::TooLong { steps: 64, .. })
        ));
    }

    #[test]
    fn matching_covers_the_location_and_below() {
        use Segment::{Index, Key};
        assert!(matches("$", &[]));
        assert!(matches("$.meta", &[Key("meta"), Key("generated_at")]));
        assert!(!matches("$.meta.generated_at", &[Key("meta")]));
        assert!(matches(
            "$.items[*].id",
            &[Key("items"), Index(7), Key("id")]
        ));
        assert!(!matches(
            "$.items[*].id",
            &[Key("items"), Index(7), Key("name")]
        ));
        assert!(matches("$.items[1]", &[Key("items"), Index(1), Key("x")]));
        assert!(!matches("$.items[1]", &[Key("items"), Index(2)]));
        assert!(!matches("$.items", &[Key("other"), Key("items")]));
        assert!(matches("$..ts", &[Key("ts")]));
        assert!(matches("$..ts", &[Key("a"), Index(0), Key("b"), Key("ts")]));
        assert!(!matches("$..ts", &[Key("a"), Key("tsx")]));
        assert!(matches(
            "$..a..b",
            &[Key("x"), Key("a"), Key("y"), Key("b")]
        ));
        assert!(!matches("$..a..b", &[Key("b"), Key("a")]));
        assert!(matches("$.*", &[Index(0)]));
        assert!(!matches("$.0", &[Index(0)]));
    }

    #[test]
    fn rendered_paths_parse_back() {
        use Segment::{Index, Key};
        let path = [Key("a b"), Index(3), Key("x"), Key("*"), Key("")];
        let rendered = render_path(&path);
        assert_eq!(rendered, r#"$["a b"][3].x["*"][""]"#);
        let pattern = PathPattern::parse(&rendered).expect("rendered path parses");
        assert_eq!(pattern.to_string(), rendered);
        assert!(matches(&rendered, &path));
    }
}
