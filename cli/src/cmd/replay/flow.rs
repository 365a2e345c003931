//! Flows: the requests that must be replayed in recorded order, whatever
//! `--concurrency` allows, because a later one depends on what an earlier one did.
//!
//! Two recordings are in one flow when they share a trace id, an `authorization` or
//! `cookie` value (the same signed-in subject or session, a pseudonym counting as a
//! value, `[redacted]` not), a distinctive value the client sent (text of at least
//! [`MIN_TEXT`](super::chain::MIN_TEXT) characters in a JSON body, under a member that names something, such as `email`, `username`, `slug` or an
//! id, and not a pseudonymised secret: the email of a sign-up and of the log-in that
//! follows, but neither a password several users share nor a comment's text), or a
//! chain rule (a
//! value one answered and the other sent). Flows are the connected groups of that
//! relation; within one, each request waits for the answer to the one before it;
//! different flows run side by side.

use std::collections::HashMap;

use super::chain::{Chain, MIN_TEXT};
use super::exchange::{Scalar, Spot, is_id_key, last_key};
use super::request::Prepared;
use retrace::redaction::PSEUDONYM_PREFIX;

/// The flows of a selection.
#[derive(Debug)]
pub(crate) struct Flows {
    /// For each recording, the one before it in its flow.
    previous: Vec<Option<usize>>,
    /// How many flows there are.
    pub(crate) count: usize,
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// The keys that tie a recording to others.
fn keys(p: &Prepared) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(trace) = &p.trace {
        keys.push(format!("trace {trace}"));
    }
    for (spot, value) in p.parts.values() {
        let Scalar::Text(text) = value else { continue };
        if text.contains("[redacted]") {
            continue;
        }
        let secret = text.starts_with(PSEUDONYM_PREFIX);
        match spot {
            Spot::Header { name } if name == "authorization" || name == "cookie" => {
                keys.push(format!("{name} {text}"));
            }
            // Path segments and query values are mostly the route's own words
            // (`articles`); those an answer gave are tied by the chain rules instead.
            Spot::Header { .. }
            | Spot::Cookie { .. }
            | Spot::PathSegment { .. }
            | Spot::Query { .. } => {}
            // A secret several subjects share (a fixture password) is no subject, and
            // content (a title, a comment) is not either: in a body, only members that
            // name something are keys.
            Spot::Body { path } if !last_key(&path).is_some_and(names_something) => {}
            Spot::Body { .. } => {
                if !secret && text.chars().count() >= MIN_TEXT {
                    keys.push(format!("value {text}"));
                }
            }
        }
    }
    keys
}

/// Whether a JSON member name names a subject or a thing rather than content: an id,
/// an email, a user or account name, a slug, a session.
fn names_something(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    is_id_key(&key)
        || key.ends_with("id")
        || [
            "email", "user", "login", "name", "handle", "slug", "account", "session",
        ]
        .iter()
        .any(|word| key.contains(word))
}

impl Flows {
    /// Groups `prepared` (oldest first) into flows.
    pub(crate) fn new(prepared: &[Prepared], chains: &[Chain]) -> Self {
        let n = prepared.len();
        let mut groups = UnionFind((0..n).collect());
        let mut first_with: HashMap<String, usize> = HashMap::new();
        for (i, p) in prepared.iter().enumerate() {
            for key in keys(p) {
                let first = *first_with.entry(key).or_insert(i);
                groups.union(first, i);
            }
        }
        for chain in chains {
            for (consumer, _) in &chain.uses {
                groups.union(chain.producer, *consumer);
            }
        }
        let mut last_of: HashMap<usize, usize> = HashMap::new();
        let mut previous = Vec::with_capacity(n);
        for i in 0..n {
            let root = groups.find(i);
            previous.push(last_of.insert(root, i));
        }
        Self {
            previous,
            count: last_of.len(),
        }
    }

    /// The recording `recording` waits for: the one before it in its flow.
    pub(crate) fn previous(&self, recording: usize) -> Option<usize> {
        self.previous[recording]
    }
}
