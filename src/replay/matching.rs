//! Call keys and the search for the closest recorded call when nothing matches.

use std::fmt;

use serde::Serialize;

use super::RecordedCall;
use crate::event::OutboundCall;

/// What identifies an outgoing call for matching: what the code meant, not where it
/// ran. Method, path, query parameters (in any order) and a digest of the body are the
/// key; scheme, host and port are kept apart and compared only when
/// [`ReplayOptions::match_authority`](super::ReplayOptions::match_authority) asks, so a
/// recording made against `http://10.0.0.7:8080` answers the same code run against
/// `http://127.0.0.1:41234`. The URI is the recorded (redacted) one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CallKey {
    /// The method.
    pub method: String,
    /// The URI, redacted as the recording redacts it, as sent: shown in reports, not
    /// compared (a key function edits `path` and `query`).
    pub uri: String,
    /// Scheme and authority (`http://10.0.0.7:8080`); empty for an origin-form URI.
    pub authority: String,
    /// The path.
    pub path: String,
    /// The query parameters, sorted.
    pub query: Vec<String>,
    /// BLAKE3 digest of the whole request body.
    #[serde(serialize_with = "hex")]
    pub body_digest: [u8; 32],
}

fn hex<S: serde::Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&blake3::Hash::from_bytes(*d).to_hex())
}

/// Splits a printed URI into scheme and authority, path, and sorted query parameters.
fn split_uri(uri: &str) -> (String, String, Vec<String>) {
    // An authority only where the URI starts with a scheme: `://` before any `/` or
    // `?` (a `://` in a query parameter is not one).
    let scheme_end = uri.find("://").filter(|&i| !uri[..i].contains(['/', '?']));
    let (authority, rest) = match scheme_end {
        Some(scheme_end) => {
            let after = scheme_end + 3;
            let path_start = uri[after..]
                .find(['/', '?'])
                .map_or(uri.len(), |i| after + i);
            (&uri[..path_start], &uri[path_start..])
        }
        None => ("", uri),
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = if path.is_empty() { "/" } else { path };
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    params.sort();
    (authority.to_owned(), path.to_owned(), params)
}

impl CallKey {
    /// The key of a live call.
    pub fn new(method: impl Into<String>, uri: impl Into<String>, body: &[u8]) -> Self {
        Self::from_parts(method.into(), uri.into(), *blake3::hash(body).as_bytes())
    }

    fn from_parts(method: String, uri: String, body_digest: [u8; 32]) -> Self {
        let (authority, path, query) = split_uri(&uri);
        Self {
            method,
            uri,
            authority,
            path,
            query,
            body_digest,
        }
    }

    /// The key of a recorded call: its kept digest when the body was cut at the cap.
    pub fn of_recorded(call: &OutboundCall) -> Self {
        Self::from_parts(
            call.head.method.to_string(),
            call.head.uri.clone(),
            call.body
                .end
                .digest
                .unwrap_or_else(|| *blake3::hash(&call.body.data).as_bytes()),
        )
    }

    /// Whether a live call with this key is answered by a recorded call with `other`.
    pub fn matches(&self, other: &CallKey, match_authority: bool) -> bool {
        self.method == other.method
            && self.path == other.path
            && self.query == other.query
            && self.body_digest == other.body_digest
            && (!match_authority || self.authority == other.authority)
    }

    /// What differs from `recorded`, field by field, as a reader needs it
    /// (`path /v1/rates, recorded /v2/rates`).
    pub fn differences(&self, recorded: &CallKey, match_authority: bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.method != recorded.method {
            out.push(format!(
                "method {}, recorded {}",
                self.method, recorded.method
            ));
        }
        if self.path != recorded.path {
            out.push(format!("path {}, recorded {}", self.path, recorded.path));
        }
        if self.query != recorded.query {
            out.push(format!(
                "query {:?}, recorded {:?}",
                self.query.join("&"),
                recorded.query.join("&")
            ));
        }
        if self.body_digest != recorded.body_digest {
            out.push("body differs".to_owned());
        }
        if match_authority && self.authority != recorded.authority {
            out.push(format!(
                "host {}, recorded {}",
                self.authority, recorded.authority
            ));
        }
        out
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
    /// What differed, field by field (`path /a, recorded /b`, `body differs`).
    pub differences: Vec<String>,
}

/// An outgoing call during replay that no recorded call answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct UnmatchedCall {
    /// The call's method.
    pub method: String,
    /// The call's URI.
    pub uri: String,
    /// The closest recorded call not used yet, if the recording has one.
    pub closest: Option<Box<Closest>>,
}

impl fmt::Display for UnmatchedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no recorded call matches {} {}", self.method, self.uri)?;
        match &self.closest {
            Some(c) => write!(
                f,
                "; closest unused is call #{} {} {} ({})",
                c.call_id,
                c.method,
                c.uri,
                c.differences.join("; ")
            ),
            None => write!(f, "; every recorded call is used"),
        }
    }
}

/// The recorded call not used yet sharing the most with `key` (path, then method,
/// then query, then body), with what differs. A used call is never named: it could
/// not have answered.
pub(crate) fn closest(
    calls: &[RecordedCall],
    key: &CallKey,
    match_authority: bool,
) -> Option<Box<Closest>> {
    calls
        .iter()
        .filter(|c| c.uses == 0)
        .map(|c| {
            let score = u32::from(c.key.path == key.path) * 8
                + u32::from(c.key.method == key.method) * 4
                + u32::from(c.key.query == key.query) * 2
                + u32::from(c.key.body_digest == key.body_digest);
            (score, c)
        })
        .max_by_key(|(score, c)| (*score, std::cmp::Reverse(c.call_id)))
        .map(|(_, c)| {
            Box::new(Closest {
                call_id: c.call_id,
                method: c.key.method.clone(),
                uri: c.key.uri.clone(),
                differences: key.differences(&c.key, match_authority),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(call_id: u32, key: CallKey, uses: u32) -> RecordedCall {
        RecordedCall {
            call_id,
            key,
            outcome: None,
            uses,
        }
    }

    #[test]
    fn keys_match_on_meaning_not_on_where_the_upstream_ran() {
        let recorded = CallKey::new("GET", "http://10.0.0.7:8080/rates?to=EUR&from=USD", b"");
        let live = CallKey::new("GET", "http://127.0.0.1:41234/rates?from=USD&to=EUR", b"");
        assert!(
            live.matches(&recorded, false),
            "host, port and query order ignored"
        );
        assert!(
            !live.matches(&recorded, true),
            "unless the authority is asked for"
        );
        let origin = CallKey::new("GET", "/rates?from=USD&to=EUR", b"");
        assert!(origin.matches(&recorded, false));
        assert!(!CallKey::new("GET", "/rates?from=USD", b"").matches(&recorded, false));
        assert!(!CallKey::new("GET", "/rates?from=USD&to=EUR", b"x").matches(&recorded, false));
        assert_eq!(
            live.differences(&recorded, true),
            ["host http://127.0.0.1:41234, recorded http://10.0.0.7:8080"]
        );
    }

    #[test]
    fn the_closest_candidate_is_never_a_used_one_and_says_what_differs() {
        let calls = [
            call(0, CallKey::new("GET", "/rates?from=USD", b""), 1),
            call(1, CallKey::new("POST", "/rates?from=USD", b"{}"), 0),
            call(2, CallKey::new("GET", "/quotes", b""), 0),
        ];
        let live = CallKey::new("GET", "/rates?from=USD", b"");
        let closest = closest(&calls, &live, false).expect("an unused call");
        // Call 0 is identical but used; call 1 shares path and query.
        assert_eq!(closest.call_id, 1);
        assert_eq!(
            closest.differences,
            ["method GET, recorded POST", "body differs"]
        );
        let all_used = [call(0, CallKey::new("GET", "/a", b""), 1)];
        assert_eq!(closest_none(&all_used, &live), None);
    }

    fn closest_none(calls: &[RecordedCall], key: &CallKey) -> Option<u32> {
        closest(calls, key, false).map(|c| c.call_id)
    }
}

#[cfg(test)]
mod reviewed {
    use super::*;

    #[test]
    fn a_url_in_a_query_parameter_is_not_an_authority() {
        let key = CallKey::new("GET", "/login?next=http://a.example/home", b"");
        assert_eq!(key.authority, "");
        assert_eq!(key.path, "/login");
        let other = CallKey::new("GET", "/logout?next=https://b.example/home", b"");
        assert!(!key.matches(&other, false));
        let absolute = CallKey::new("GET", "http://h:1/login?next=http://a.example/x", b"");
        assert_eq!(absolute.authority, "http://h:1");
        assert_eq!(absolute.path, "/login");
    }
}
