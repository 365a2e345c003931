//! Call keys and the search for the closest recorded call when nothing matches.

use std::fmt;

use serde::Serialize;

use super::RecordedCall;
use crate::event::OutboundCall;

/// What identifies an outgoing call for matching: method, URI (as recorded, so after
/// redaction) and a digest of the body.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CallKey {
    /// The method.
    pub method: String,
    /// The URI, redacted as the recording redacts it.
    pub uri: String,
    /// BLAKE3 digest of the whole request body.
    #[serde(serialize_with = "hex")]
    pub body_digest: [u8; 32],
}

fn hex<S: serde::Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&blake3::Hash::from_bytes(*d).to_hex())
}

impl CallKey {
    /// The key of a live call.
    pub fn new(method: impl Into<String>, uri: impl Into<String>, body: &[u8]) -> Self {
        Self {
            method: method.into(),
            uri: uri.into(),
            body_digest: *blake3::hash(body).as_bytes(),
        }
    }

    /// The key of a recorded call: its kept digest when the body was cut at the cap.
    pub fn of_recorded(call: &OutboundCall) -> Self {
        Self {
            method: call.head.method.to_string(),
            uri: call.head.uri.clone(),
            body_digest: call
                .body
                .end
                .digest
                .unwrap_or_else(|| *blake3::hash(&call.body.data).as_bytes()),
        }
    }
}

/// The recorded call most like an unmatched one, and what differed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Closest {
    /// The recorded call's id.
    pub call_id: u32,
    /// Its method.
    pub method: String,
    /// Its URI.
    pub uri: String,
    /// What differed: `method`, `uri`, `body`, or `already used`.
    pub differences: Vec<&'static str>,
}

/// An outgoing call during replay that no recorded call answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct UnmatchedCall {
    /// The call's method.
    pub method: String,
    /// The call's URI.
    pub uri: String,
    /// The closest recorded call, if the recording has any.
    pub closest: Option<Box<Closest>>,
}

impl fmt::Display for UnmatchedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no recorded call matches {} {}", self.method, self.uri)?;
        match &self.closest {
            Some(c) => write!(
                f,
                "; closest is call #{} {} {} (differs in {})",
                c.call_id,
                c.method,
                c.uri,
                c.differences.join(", ")
            ),
            None => write!(f, "; the recording has no outgoing calls"),
        }
    }
}

/// The recorded call sharing the most with `key` (method, then URI, then body).
pub(crate) fn closest(calls: &[RecordedCall], key: &CallKey) -> Option<Box<Closest>> {
    calls
        .iter()
        .map(|c| {
            let mut differences = Vec::new();
            if c.key.method != key.method {
                differences.push("method");
            }
            if c.key.uri != key.uri {
                differences.push("uri");
            }
            if c.key.body_digest != key.body_digest {
                differences.push("body");
            }
            if differences.is_empty() && c.uses > 0 {
                differences.push("already used");
            }
            let score = (c.key.method == key.method) as u32 * 4
                + (c.key.uri == key.uri) as u32 * 2
                + (c.key.body_digest == key.body_digest) as u32;
            (score, c, differences)
        })
        .max_by_key(|(score, c, _)| (*score, std::cmp::Reverse(c.call_id)))
        .map(|(_, c, differences)| {
            Box::new(Closest {
                call_id: c.call_id,
                method: c.key.method.clone(),
                uri: c.key.uri.clone(),
                differences,
            })
        })
}
