//! Value chaining: a value the recorded flow received in an answer (a token from
//! log-in, the slug of a created article, a session cookie) and sent again in later
//! requests is, at replay, replaced in those requests by what the live target answered.
//!
//! Rules are learned by equality: scanning the recordings oldest first, each value a
//! later request carries (a header, a path segment, a query value, a JSON scalar) is
//! looked up among the values earlier answers gave; the first answer that gave it (the
//! one that made it, not a later list showing it again) is its source. The same values
//! also set what later answers are expected to show: an answer that shows the id the
//! target made for a recorded one is compared with the live id, not the recorded one. Pseudonymised secrets (`RedactionMode::Pseudonymise`) keep equality, so
//! a pseudonymised token chains like any value; a value recorded as `[redacted]` never
//! does. What counts as a value worth chaining:
//! - text of at least [`MIN_TEXT`] characters, not already sent by the client before
//!   the answer gave it (an echo of what the client chose is not the server's value);
//! - a number only where its place names an entity (`$.article.id`, `comment_id`, the
//!   path segment after `/comments/`), matched with that entity: user 2 and article 2
//!   are different values. Numbers never chain into headers.
//!
//! Rules print, save to a JSON file (`--save-chains`), and load from one (`--chains`),
//! so they can be edited, vetoed (delete a rule or a use) or extended by hand. A file
//! names recordings by id and places by [`Spot`]; values are never written to it: they
//! are read again from the recordings when the file is loaded.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::exchange::{Scalar, Spot, answer_values, identity};
use super::request::Prepared;

/// The shortest text value that is chained.
pub(crate) const MIN_TEXT: usize = 6;

/// One end of a chain: a recording and a place in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct End {
    /// The recording's id.
    pub(crate) recording: String,
    /// Where the value is: in the answer for a rule's source, in the request for a use.
    #[serde(flatten)]
    pub(crate) spot: Spot,
}

/// A chain rule: where a value comes from and where it is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RuleSpec {
    /// The answer that gives the value.
    pub(crate) from: End,
    /// The requests that send it again.
    pub(crate) to: Vec<End>,
}

/// A file of chain rules.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    /// What the file is, for a person who opens it.
    #[serde(default)]
    pub(crate) about: String,
    /// The rules.
    pub(crate) chains: Vec<RuleSpec>,
}

const ABOUT: &str = "retrace replay chain rules: each value taken from the answer `from` is \
                     put, at replay, where `to` sent it. Delete a rule or a use to veto it; \
                     add one to extend. Load with --chains FILE.";

/// A rule resolved against the selection: indices instead of ids, the recorded value.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// The rule as written.
    pub(crate) spec: RuleSpec,
    /// The index of the recording that gives the value.
    pub(crate) producer: usize,
    /// The value as recorded.
    pub(crate) recorded: Scalar,
    /// The key the recorded value is matched by in expected answers.
    pub(crate) key: Option<String>,
    /// Each use: the recording's index and the place.
    pub(crate) uses: Vec<(usize, Spot)>,
}

/// The key a value an answer gives is matched by, when it is worth chaining: text of
/// at least [`MIN_TEXT`] characters that is not redacted, or a number whose place
/// names an entity (see [`identity`]).
fn chain_key(spot: &Spot, value: &Scalar) -> Option<String> {
    match value {
        Scalar::Text(t) if t.chars().count() < MIN_TEXT || t.contains("[redacted]") => None,
        Scalar::Number(n) if !n.is_u64() => None,
        _ => identity(spot, value, ""),
    }
}

/// What learning finds in a selection.
#[derive(Debug)]
pub(crate) struct Learned {
    /// The chain rules.
    pub(crate) rules: Vec<RuleSpec>,
    /// For each recording, the places in its answer holding a value the target made
    /// there (first given by that answer, never sent by the client before): an id, a
    /// slug, a token. At replay each is paired with the live value at the same place,
    /// and later expected answers showing the recorded value expect the live one.
    pub(crate) made: Vec<Vec<Spot>>,
}

/// Learns the chain rules of a selection, oldest first.
pub(crate) fn learn(prepared: &[Prepared]) -> Learned {
    let mut made = vec![Vec::new(); prepared.len()];
    // The answer that first gave each value: key -> (recording, spot).
    let mut given: HashMap<String, (usize, Spot)> = HashMap::new();
    let mut sent_by_client: HashSet<String> = HashSet::new();
    let mut rules: Vec<RuleSpec> = Vec::new();
    let mut rule_of: HashMap<(usize, Spot), usize> = HashMap::new();
    for (k, p) in prepared.iter().enumerate() {
        let request_values = p.parts.values();
        let request_keys: Vec<Option<String>> = request_values
            .iter()
            .map(|(spot, value)| identity(spot, value, &p.parts.path_and_query))
            .collect();
        for ((spot, value), key) in request_values.iter().zip(&request_keys) {
            let found: Vec<&(usize, Spot)> = match spot {
                // A header may carry the value inside (`Token <jwt>`, `a=1; sid=<id>`);
                // numbers never chain into headers.
                Spot::Header { .. } => {
                    let text = value.text();
                    given
                        .iter()
                        .filter(|(key, _)| !key.contains('#') && text.contains(key.as_str()))
                        .map(|(_, g)| g)
                        .collect()
                }
                _ => key
                    .as_ref()
                    .and_then(|key| given.get(key))
                    .into_iter()
                    .collect(),
            };
            for (producer, from) in found {
                let at = *rule_of.entry((*producer, from.clone())).or_insert_with(|| {
                    rules.push(RuleSpec {
                        from: End {
                            recording: prepared[*producer].id.to_string(),
                            spot: from.clone(),
                        },
                        to: Vec::new(),
                    });
                    rules.len() - 1
                });
                let use_ = End {
                    recording: p.id.to_string(),
                    spot: spot.clone(),
                };
                if !rules[at].to.contains(&use_) {
                    rules[at].to.push(use_);
                }
            }
        }
        sent_by_client.extend(request_keys.into_iter().flatten());
        for (spot, value) in answer_values(&p.expected_header_pairs(), &p.expected_plain_body()) {
            let Some(key) = chain_key(&spot, &value) else {
                continue;
            };
            if !sent_by_client.contains(&key) && !given.contains_key(&key) {
                // The first answer that gave a value made it; a list that shows it
                // again later is not its source.
                made[k].push(spot.clone());
                given.insert(key, (k, spot));
            }
        }
    }
    Learned { rules, made }
}

/// Resolves rules (learned or loaded) against the selection: each recording id must be
/// selected, and the source place must hold a value in the recorded answer.
pub(crate) fn resolve(specs: Vec<RuleSpec>, prepared: &[Prepared]) -> Result<Vec<Chain>, String> {
    let index: HashMap<String, usize> = prepared
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.to_string(), i))
        .collect();
    let find = |end: &End, what: &str| {
        index.get(&end.recording).copied().ok_or_else(|| {
            format!(
                "chain rule {what} {}: recording {} is not among those replayed",
                end.spot, end.recording
            )
        })
    };
    let mut chains = Vec::with_capacity(specs.len());
    for spec in specs {
        let producer = find(&spec.from, "from")?;
        let recorded = answer_values(
            &prepared[producer].expected_header_pairs(),
            &prepared[producer].expected_plain_body(),
        )
        .into_iter()
        .find(|(spot, _)| *spot == spec.from.spot)
        .map(|(_, value)| value)
        .ok_or_else(|| {
            format!(
                "chain rule from {} of recording {}: the recorded answer has no value there",
                spec.from.spot, spec.from.recording
            )
        })?;
        let mut uses = Vec::with_capacity(spec.to.len());
        for end in &spec.to {
            let consumer = find(end, "use")?;
            if consumer <= producer {
                return Err(format!(
                    "chain rule from recording {} is used by recording {}, which is not later",
                    spec.from.recording, end.recording
                ));
            }
            uses.push((consumer, end.spot.clone()));
        }
        chains.push(Chain {
            key: identity(&spec.from.spot, &recorded, ""),
            spec,
            producer,
            recorded,
            uses,
        });
    }
    Ok(chains)
}

/// The rules as a file.
pub(crate) fn to_file(chains: &[Chain]) -> RuleFile {
    RuleFile {
        about: ABOUT.to_owned(),
        chains: chains.iter().map(|c| c.spec.clone()).collect(),
    }
}

/// The rules for people: one line per rule, its source and its uses by place.
pub(crate) fn describe(chains: &[Chain], prepared: &[Prepared]) -> String {
    let mut out = String::new();
    for (n, chain) in chains.iter().enumerate() {
        let from = &prepared[chain.producer];
        let mut places: Vec<(String, usize)> = Vec::new();
        for (_, spot) in &chain.uses {
            let place = spot.to_string();
            match places.iter_mut().find(|(p, _)| *p == place) {
                Some((_, count)) => *count += 1,
                None => places.push((place, 1)),
            }
        }
        let places: Vec<String> = places
            .into_iter()
            .map(|(p, count)| {
                if count == 1 {
                    p
                } else {
                    format!("{p} ({count})")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "  c{}  {} of {} ({}) -> {} use{}: {}",
            n + 1,
            chain.spec.from.spot,
            short(&chain.spec.from.recording),
            from.route,
            chain.uses.len(),
            if chain.uses.len() == 1 { "" } else { "s" },
            places.join(", ")
        );
    }
    out
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
