//! Flows: the requests that must be replayed in recorded order, whatever
//! `--concurrency` allows, because a later one depends on what an earlier one did.
//!
//! Two recordings are in one flow when they share a trace id, an `authorization` or
//! `cookie` value (the same signed-in subject or session, a pseudonym counting as a
//! value, `[redacted]` not), a distinctive value the client sent (text of at least
//! `MIN_TEXT` ([`super::chain::MIN_TEXT`]) characters in a JSON body under a member that
//! names something, such as `email`, `username`, `slug` or an id: the email of a
//! sign-up and of the log-in that follows, but neither a password several users share
//! nor a comment's text; a later path segment or query value equal to one joins that
//! flow too: `?author={username}`), or a chain rule (a value one answered and the
//! other sent). Flows are the connected groups of that
//! relation; within one, each request waits for the answer to the one before it;
//! different flows run side by side.

use std::collections::HashMap;

use super::chain::{Chain, MIN_TEXT};
use super::exchange::{Scalar, Spot, is_id_key, last_key};
use super::request::Prepared;

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

/// A key that ties recordings together.
enum Key {
    /// Ties to every recording with the same key.
    Starts(String),
    /// Ties to the recordings with the same [`Key::Starts`] key, if any.
    Joins(String),
}

/// The keys that tie a recording to others.
fn keys(p: &Prepared) -> Vec<Key> {
    let mut keys = Vec::new();
    if let Some(trace) = &p.trace {
        keys.push(Key::Starts(format!("trace {trace}")));
    }
    for (spot, value) in p.parts.values() {
        let Scalar::Text(text) = value else { continue };
        if text.contains("[redacted]") || text.chars().count() < MIN_TEXT {
            continue;
        }
        match spot {
            Spot::Header { name } if name == "authorization" || name == "cookie" => {
                keys.push(Key::Starts(format!("{name} {text}")));
            }
            Spot::Header { .. } | Spot::Cookie { .. } => {}
            // Path segments and query values are mostly the route's own words
            // (`articles`): they only join a flow whose body named them first
            // (`/profiles/{username}` after the sign-up that chose the username).
            Spot::PathSegment { .. } | Spot::Query { .. } => {
                keys.push(Key::Joins(format!("value {text}")));
            }
            // Content (a title, a comment, a password several users share) is no
            // subject: in a body, only members that name something are keys.
            Spot::Body { path } if !last_key(&path).is_some_and(names_something) => {}
            Spot::Body { .. } => keys.push(Key::Starts(format!("value {text}"))),
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
                let first = match key {
                    Key::Starts(key) => *first_with.entry(key).or_insert(i),
                    Key::Joins(key) => match first_with.get(&key) {
                        Some(&first) => first,
                        None => continue,
                    },
                };
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
