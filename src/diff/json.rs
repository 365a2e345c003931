//! Structural comparison of JSON bodies.
//!
//! Objects are compared by key (member order does not count), arrays element by element
//! at the same index (extra elements are reported as added or removed; an insertion at
//! the front therefore shows as a change at every later index), and numbers by value:
//! `1`, `1.0` and `1e0` are equal, since JSON has one number type and serialisers differ
//! in how they print it; integers are compared exactly, never through `f64`.
//!
//! A location matched by an ignored path is compared as a whole and, if it differs,
//! reported once as noise without descending into it. Matching state is kept on a stack
//! beside the path, so no path string is built unless a change is kept.

use std::cmp::Ordering;

use super::change::{Change, Collector};
use super::node::JsonNode;
use super::noise::NoiseRules;
use crate::json_path::{PathPattern, Segment, render_path};

/// Compares two parsed bodies, recording one change per differing location.
pub(crate) fn diff_json<'v>(
    expected: &'v JsonNode<'v>,
    actual: &'v JsonNode<'v>,
    rules: &NoiseRules,
    collector: &mut Collector,
) {
    let patterns = rules.ignored_paths();
    let mut walker = Walker {
        patterns,
        path: Vec::new(),
        states: Vec::with_capacity(patterns.len() * 8),
        collector,
    };
    walker
        .states
        .extend(patterns.iter().map(PathPattern::start_state));
    if rules.ignores_body() {
        if !expected.same(actual) {
            walker.report(Some(expected), Some(actual), true);
        }
    } else {
        walker.walk(expected, actual);
    }
}

struct Walker<'v, 'r, 'c> {
    patterns: &'r [PathPattern],
    /// The location of the node being compared.
    path: Vec<Segment<'v>>,
    /// One matching state per pattern for each level of `path`, root first.
    states: Vec<u64>,
    collector: &'c mut Collector,
}

impl<'v> Walker<'v, '_, '_> {
    /// Compares two values at the current location, which is not ignored.
    fn walk(&mut self, expected: &'v JsonNode<'v>, actual: &'v JsonNode<'v>) {
        match (expected, actual) {
            (JsonNode::Object(ours), JsonNode::Object(theirs)) => {
                // Both are sorted by key: one merge pass pairs the members.
                let (mut ours, mut theirs) = (ours.as_slice(), theirs.as_slice());
                loop {
                    let order = match (ours.first(), theirs.first()) {
                        (Some((a, _)), Some((b, _))) => a.cmp(b),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => break,
                    };
                    let (key, left, right) = match order {
                        Ordering::Less => (&ours[0].0, Some(&ours[0].1), None),
                        Ordering::Greater => (&theirs[0].0, None, Some(&theirs[0].1)),
                        Ordering::Equal => (&ours[0].0, Some(&ours[0].1), Some(&theirs[0].1)),
                    };
                    self.child(Segment::Key(key.as_ref()), left, right);
                    if order != Ordering::Greater {
                        ours = &ours[1..];
                    }
                    if order != Ordering::Less {
                        theirs = &theirs[1..];
                    }
                }
            }
            (JsonNode::Array(ours), JsonNode::Array(theirs)) => {
                for index in 0..ours.len().max(theirs.len()) {
                    self.child(Segment::Index(index), ours.get(index), theirs.get(index));
                }
            }
            _ => {
                if !expected.same(actual) {
                    self.report(Some(expected), Some(actual), false);
                }
            }
        }
    }

    /// Descends into one member or element, present on one side or both.
    fn child(
        &mut self,
        segment: Segment<'v>,
        expected: Option<&'v JsonNode<'v>>,
        actual: Option<&'v JsonNode<'v>>,
    ) {
        self.path.push(segment);
        let ignored = self.enter(segment);
        match (expected, actual) {
            (Some(ours), Some(theirs)) if !ignored => self.walk(ours, theirs),
            (Some(ours), Some(theirs)) => {
                if !ours.same(theirs) {
                    self.report(expected, actual, true);
                }
            }
            _ => self.report(expected, actual, ignored),
        }
        self.states
            .truncate(self.states.len() - self.patterns.len());
        self.path.pop();
    }

    /// Pushes the matching states for one more level; true if a pattern matches it.
    fn enter(&mut self, segment: Segment<'_>) -> bool {
        let parent = self.states.len() - self.patterns.len();
        let mut ignored = false;
        for (offset, pattern) in self.patterns.iter().enumerate() {
            let state = pattern.advance(self.states[parent + offset], segment);
            ignored |= pattern.accepts(state);
            self.states.push(state);
        }
        ignored
    }

    fn report(
        &mut self,
        expected: Option<&JsonNode<'_>>,
        actual: Option<&JsonNode<'_>>,
        noise: bool,
    ) {
        let path = &self.path;
        self.collector.record(noise, || Change::Json {
            path: render_path(path),
            expected: expected.map(JsonNode::to_value),
            actual: actual.map(JsonNode::to_value),
        });
    }
}
