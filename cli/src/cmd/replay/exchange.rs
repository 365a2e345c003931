//! The places a value can sit in a request or an answer, and reading and replacing
//! values there: what chaining ([`super::chain`]) and flows ([`super::flow`]) are built
//! on.
//!
//! A [`Spot`] names a place the way a person would (`request header authorization`,
//! `response body $.user.token`, `request path segment 1`); spots print in that form
//! and are saved in chain rule files.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use retrace::diff::{PathPattern, for_each_scalar};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a value sits in a request or an answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub(crate) enum Spot {
    /// A JSON body, at a concrete location (`$.user.token`).
    Body {
        /// The location, in [`PathPattern`] syntax.
        path: String,
    },
    /// A header's value; in a request, the value may be part of it (`Token <jwt>`).
    Header {
        /// The header name, lower case.
        name: String,
    },
    /// A cookie an answer sets with `set-cookie`.
    Cookie {
        /// The cookie's name.
        name: String,
    },
    /// A segment of the request path, counted from 0 after the leading `/`.
    PathSegment {
        /// The segment's position.
        index: usize,
    },
    /// A query parameter of the request.
    Query {
        /// The parameter's name.
        name: String,
    },
}

impl fmt::Display for Spot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body { path } => write!(f, "body {path}"),
            Self::Header { name } => write!(f, "header {name}"),
            Self::Cookie { name } => write!(f, "cookie {name}"),
            Self::PathSegment { index } => write!(f, "path segment {index}"),
            Self::Query { name } => write!(f, "query {name}"),
        }
    }
}

/// A value found somewhere: text, or a JSON number (kept as such when written back).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Scalar {
    /// A string, a header or cookie value, a path segment.
    Text(String),
    /// A JSON number.
    Number(serde_json::Number),
}

impl Scalar {
    /// The value as text: what is searched for in headers, paths and queries.
    pub(crate) fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Number(n) => n.to_string(),
        }
    }

    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::String(s) => Some(Self::Text(s.clone())),
            Value::Number(n) => Some(Self::Number(n.clone())),
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Text(t) => Value::String(t.clone()),
            Self::Number(n) => Value::Number(n.clone()),
        }
    }

    /// Whether `value` (a JSON scalar) is this value.
    fn equals_json(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::Text(t), Value::String(s)) => t == s,
            (Self::Number(n), Value::Number(m)) => n.to_string() == m.to_string(),
            _ => false,
        }
    }
}

/// Characters percent-encoded when a value is written into a path segment or a query.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn decoded(component: &str) -> String {
    percent_decode_str(component)
        .decode_utf8_lossy()
        .into_owned()
}

/// A request as it will be sent: what chaining reads and rewrites.
#[derive(Clone, Debug)]
pub(crate) struct RequestParts {
    /// `/path?query`, as recorded.
    pub(crate) path_and_query: String,
    /// The headers to send.
    pub(crate) headers: HeaderMap,
    /// The body to send.
    pub(crate) body: Bytes,
}

/// Headers whose values are protocol, not data a flow carries from answer to request.
const NOT_DATA_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "user-agent",
    "origin",
    "referer",
    "traceparent",
    "tracestate",
    "cache-control",
    "pragma",
];

impl RequestParts {
    fn split(&self) -> (&str, Option<&str>) {
        match self.path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (&self.path_and_query, None),
        }
    }

    /// Every value the request carries, with where: header values (whole), path
    /// segments and query values (decoded), and the scalars of a JSON body.
    pub(crate) fn values(&self) -> Vec<(Spot, Scalar)> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            if NOT_DATA_HEADERS.contains(&name.as_str()) {
                continue;
            }
            if let Ok(text) = value.to_str() {
                out.push((
                    Spot::Header {
                        name: name.as_str().to_owned(),
                    },
                    Scalar::Text(text.to_owned()),
                ));
            }
        }
        let (path, query) = self.split();
        for (index, segment) in path.trim_start_matches('/').split('/').enumerate() {
            if !segment.is_empty() {
                out.push((Spot::PathSegment { index }, Scalar::Text(decoded(segment))));
            }
        }
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            out.push((
                Spot::Query {
                    name: name.into_owned(),
                },
                Scalar::Text(value.into_owned()),
            ));
        }
        out.extend(json_scalars(&self.body));
        out
    }

    /// Replaces `recorded` with `live` at `spot` (inside a header's value, a whole path
    /// segment or query value, a JSON scalar); whether anything changed.
    pub(crate) fn replace(&mut self, spot: &Spot, recorded: &Scalar, live: &Scalar) -> bool {
        let (old, new) = (recorded.text(), live.text());
        match spot {
            Spot::Header { name } => {
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    return false;
                };
                let mut changed = false;
                let values: Vec<HeaderValue> =
                    self.headers.get_all(&name).iter().cloned().collect();
                let mut rewritten = Vec::with_capacity(values.len());
                for value in values {
                    match value.to_str() {
                        Ok(text) if text.contains(&old) => {
                            match HeaderValue::from_str(&text.replace(&old, &new)) {
                                Ok(v) => {
                                    changed = true;
                                    rewritten.push(v);
                                }
                                Err(_) => rewritten.push(value),
                            }
                        }
                        _ => rewritten.push(value),
                    }
                }
                if changed {
                    self.headers.remove(&name);
                    for v in rewritten {
                        self.headers.append(name.clone(), v);
                    }
                }
                changed
            }
            Spot::PathSegment { index } => {
                let (path, query) = self.split();
                let mut segments: Vec<String> = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                match segments.get_mut(*index) {
                    Some(segment) if decoded(segment) == old => {
                        *segment = utf8_percent_encode(&new, COMPONENT).to_string();
                    }
                    _ => return false,
                }
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                self.path_and_query = format!("/{}{query}", segments.join("/"));
                true
            }
            Spot::Query { name } => {
                let (path, Some(query)) = self.split() else {
                    return false;
                };
                let mut changed = false;
                let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| {
                        if k == name.as_str() && v == old.as_str() {
                            changed = true;
                            (k.into_owned(), new.clone())
                        } else {
                            (k.into_owned(), v.into_owned())
                        }
                    })
                    .collect();
                if changed {
                    let query = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs)
                        .finish();
                    self.path_and_query = format!("{path}?{query}");
                }
                changed
            }
            Spot::Body { path } => {
                let Ok(pattern) = PathPattern::parse(path) else {
                    return false;
                };
                let Ok(mut doc) = serde_json::from_slice::<Value>(&self.body) else {
                    return false;
                };
                if !pattern
                    .first_match(&doc)
                    .is_some_and(|v| recorded.equals_json(v))
                {
                    return false;
                }
                pattern.replace_matches(&mut doc, &live.to_json());
                match serde_json::to_vec(&doc) {
                    Ok(bytes) => {
                        self.body = Bytes::from(bytes);
                        true
                    }
                    Err(_) => false,
                }
            }
            Spot::Cookie { .. } => false,
        }
    }
}

/// The scalars of a JSON body (strings and numbers), with their locations; none for a
/// body that is not JSON.
pub(crate) fn json_scalars(body: &[u8]) -> Vec<(Spot, Scalar)> {
    let mut out = Vec::new();
    if let Ok(doc) = serde_json::from_slice::<Value>(body) {
        for_each_scalar(&doc, &mut |path, value| {
            if let Some(scalar) = Scalar::from_json(value) {
                out.push((
                    Spot::Body {
                        path: path.to_owned(),
                    },
                    scalar,
                ));
            }
        });
    }
    out
}

/// The values an answer gives: its JSON body's scalars, the cookies it sets, and its
/// own (`x-`) headers.
pub(crate) fn answer_values(headers: &[(String, String)], body: &[u8]) -> Vec<(Spot, Scalar)> {
    let mut out = json_scalars(body);
    for (name, value) in headers {
        if name == "set-cookie" {
            if let Some((cookie, v)) = value.split(';').next().and_then(|c| c.split_once('=')) {
                out.push((
                    Spot::Cookie {
                        name: cookie.trim().to_owned(),
                    },
                    Scalar::Text(v.trim().to_owned()),
                ));
            }
        } else if name.starts_with("x-") || name.contains("token") {
            out.push((
                Spot::Header { name: name.clone() },
                Scalar::Text(value.clone()),
            ));
        }
    }
    out
}

/// The value at `spot` in an answer, for a spot [`answer_values`] gives.
pub(crate) fn answer_value(spot: &Spot, headers: &HeaderMap, body: &[u8]) -> Option<Scalar> {
    match spot {
        Spot::Body { path } => {
            let doc = serde_json::from_slice::<Value>(body).ok()?;
            Scalar::from_json(PathPattern::parse(path).ok()?.first_match(&doc)?)
        }
        Spot::Header { name } => Some(Scalar::Text(
            headers.get(name.as_str())?.to_str().ok()?.to_owned(),
        )),
        Spot::Cookie { name } => headers.get_all("set-cookie").iter().find_map(|value| {
            let (cookie, v) = value.to_str().ok()?.split(';').next()?.split_once('=')?;
            (cookie.trim() == name).then(|| Scalar::Text(v.trim().to_owned()))
        }),
        Spot::PathSegment { .. } | Spot::Query { .. } => None,
    }
}

/// Replaces, in an expected (recorded) JSON body, every scalar whose [`identity`] is in
/// `mapping` with the live value it maps to; the body unchanged when nothing matched.
pub(crate) fn map_expected_body(body: &Bytes, mapping: &HashMap<String, Scalar>) -> Bytes {
    if mapping.is_empty() {
        return body.clone();
    }
    let Ok(mut doc) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    fn walk(value: &mut Value, keys: &mut Vec<String>, mapping: &HashMap<String, Scalar>) -> bool {
        match value {
            Value::Object(members) => {
                let mut changed = false;
                for (k, v) in members.iter_mut() {
                    keys.push(k.clone());
                    changed |= walk(v, keys, mapping);
                    keys.pop();
                }
                changed
            }
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| walk(v, keys, mapping) | changed),
            scalar => {
                let key = match &*scalar {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => {
                        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                        entity_of_keys(&keys).map(|e| format!("{e}#{n}"))
                    }
                    _ => None,
                };
                match key.and_then(|k| mapping.get(&k)) {
                    Some(live) => {
                        *scalar = live.to_json();
                        true
                    }
                    None => false,
                }
            }
        }
    }
    if walk(&mut doc, &mut Vec::new(), mapping) {
        serde_json::to_vec(&doc).map_or_else(|_| body.clone(), Bytes::from)
    } else {
        body.clone()
    }
}

/// The key a value is matched by across requests and answers: text as itself; a
/// number as `entity#n`, its entity read from where it sits (`$.article.id`,
/// `article_id`, the path segment before it: `/articles/7`), so that user 2 and
/// article 2 are different values. `None` for a number whose place names no entity
/// (a count, a price), which is never matched.
pub(crate) fn identity(spot: &Spot, value: &Scalar, path_and_query: &str) -> Option<String> {
    let number = match value {
        Scalar::Number(n) => n.to_string(),
        Scalar::Text(t) => match spot {
            Spot::PathSegment { .. } | Spot::Query { .. }
                if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) =>
            {
                t.clone()
            }
            _ => return Some(t.clone()),
        },
    };
    let entity = match spot {
        Spot::Body { path } => entity_of_keys(&keys_of(path)),
        Spot::Query { name } => entity_of_keys(&[name]),
        Spot::PathSegment { index } => {
            let path = path_and_query.split('?').next().unwrap_or("");
            index
                .checked_sub(1)
                .and_then(|before| path.trim_start_matches('/').split('/').nth(before))
                .filter(|s| {
                    s.bytes()
                        .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
                })
                .map(singular)
        }
        Spot::Header { .. } | Spot::Cookie { .. } => None,
    }?;
    Some(format!("{entity}#{number}"))
}

/// The member names along a concrete body location (`$.articles[0].id` gives
/// `articles`, `id`).
fn keys_of(path: &str) -> Vec<&str> {
    path.split(['.', '['])
        .filter(|t| !t.is_empty() && *t != "$" && !t.ends_with(']'))
        .collect()
}

/// The entity an id-like member names: `id` under `article` or `articles` is
/// `article`; `article_id` and `articleId` are `article`.
fn entity_of_keys(keys: &[&str]) -> Option<String> {
    let (&last, before) = keys.split_last()?;
    if last.eq_ignore_ascii_case("id") {
        return before.last().map(|k| singular(k));
    }
    let stem = last
        .strip_suffix("_id")
        .or_else(|| last.strip_suffix("Id"))?;
    (!stem.is_empty()).then(|| singular(stem))
}

fn singular(word: &str) -> String {
    let word = word.to_ascii_lowercase();
    match word.strip_suffix('s') {
        Some(stem) if !stem.is_empty() => stem.to_owned(),
        _ => word,
    }
}

/// Whether a JSON member name names an identifier: `id`, `user_id`, `articleId`.
pub(crate) fn is_id_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("id") || key.ends_with("_id") || key.ends_with("Id")
}

/// The member name a concrete body location ends in, if it ends in one.
pub(crate) fn last_key(path: &str) -> Option<&str> {
    let tail = path.rsplit(['.', '[']).next()?;
    (!tail.ends_with(']')).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path_and_query: &str, headers: &[(&str, &str)], body: &str) -> RequestParts {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        RequestParts {
            path_and_query: path_and_query.to_owned(),
            headers: map,
            body: Bytes::from(body.to_owned()),
        }
    }

    fn text(s: &str) -> Scalar {
        Scalar::Text(s.to_owned())
    }

    #[test]
    fn a_value_is_replaced_wherever_a_request_carries_it() {
        let mut r = request(
            "/articles/old-slug/comments?after=old-slug&limit=5",
            &[
                ("authorization", "Token old-token"),
                ("cookie", "a=1; sid=old-sid"),
            ],
            r#"{"comment":{"article":"old-slug","id":7}}"#,
        );
        assert!(r.replace(
            &Spot::PathSegment { index: 1 },
            &text("old-slug"),
            &text("new slug/1")
        ));
        assert!(r.replace(
            &Spot::Query {
                name: "after".into()
            },
            &text("old-slug"),
            &text("n&w")
        ));
        assert!(r.replace(
            &Spot::Header {
                name: "authorization".into()
            },
            &text("old-token"),
            &text("jwt.x.y")
        ));
        assert!(r.replace(
            &Spot::Header {
                name: "cookie".into()
            },
            &text("old-sid"),
            &text("live-sid")
        ));
        assert!(r.replace(
            &Spot::Body {
                path: "$.comment.id".into()
            },
            &Scalar::Number(7.into()),
            &Scalar::Number(12.into())
        ));
        assert_eq!(
            r.path_and_query,
            "/articles/new%20slug%2F1/comments?after=n%26w&limit=5"
        );
        assert_eq!(r.headers["authorization"], "Token jwt.x.y");
        assert_eq!(r.headers["cookie"], "a=1; sid=live-sid");
        assert_eq!(
            &r.body[..],
            br#"{"comment":{"article":"old-slug","id":12}}"#
        );
        // A spot whose value is not the recorded one is left alone.
        assert!(!r.replace(
            &Spot::PathSegment { index: 0 },
            &text("old-slug"),
            &text("x")
        ));
        assert!(!r.replace(
            &Spot::Body {
                path: "$.comment.article".into()
            },
            &text("other"),
            &text("x")
        ));
    }

    #[test]
    fn requests_and_answers_list_their_values() {
        let r = request(
            "/a/b%20c?x=1",
            &[("authorization", "Token t"), ("accept", "*/*")],
            r#"{"n":[1,"s"]}"#,
        );
        let spots: Vec<String> = r
            .values()
            .iter()
            .map(|(s, v)| format!("{s}={}", v.text()))
            .collect();
        assert_eq!(
            spots,
            [
                "header authorization=Token t",
                "path segment 0=a",
                "path segment 1=b c",
                "query x=1",
                "body $.n[0]=1",
                "body $.n[1]=s"
            ]
        );
        let answer = answer_values(
            &[
                ("set-cookie".into(), "sid=abc123; Path=/; HttpOnly".into()),
                ("x-csrf-token".into(), "csrf-1".into()),
                ("content-type".into(), "application/json".into()),
            ],
            br#"{"user":{"token":"jwt"}}"#,
        );
        let spots: Vec<String> = answer
            .iter()
            .map(|(s, v)| format!("{s}={}", v.text()))
            .collect();
        assert_eq!(
            spots,
            [
                "body $.user.token=jwt",
                "cookie sid=abc123",
                "header x-csrf-token=csrf-1"
            ]
        );
        let mut live = HeaderMap::new();
        live.append("set-cookie", "sid=live; Path=/".parse().unwrap());
        assert_eq!(
            answer_value(&Spot::Cookie { name: "sid".into() }, &live, b""),
            Some(text("live"))
        );
        assert_eq!(
            answer_value(
                &Spot::Body {
                    path: "$.user.token".into()
                },
                &live,
                br#"{"user":{"token":"j2"}}"#
            ),
            Some(text("j2"))
        );
    }

    #[test]
    fn expected_bodies_take_live_values_by_identity() {
        let body = Bytes::from_static(
            br#"{"article":{"slug":"old-slug","id":3,"favourites":3,"author":{"id":3}}}"#,
        );
        let mapping: HashMap<String, Scalar> = [
            ("old-slug".to_owned(), text("new-slug")),
            ("article#3".to_owned(), Scalar::Number(9.into())),
        ]
        .into();
        let mapped = map_expected_body(&body, &mapping);
        assert_eq!(
            &mapped[..],
            br#"{"article":{"slug":"new-slug","id":9,"favourites":3,"author":{"id":3}}}"#,
            "article 3 is mapped; a count and the author (a user) are not"
        );
    }

    #[test]
    fn numbers_are_matched_with_the_entity_their_place_names() {
        let n = |v: u64| Scalar::Number(v.into());
        let body = |p: &str| Spot::Body { path: p.to_owned() };
        assert_eq!(
            identity(&body("$.article.id"), &n(7), "").as_deref(),
            Some("article#7")
        );
        assert_eq!(
            identity(&body("$.articles[2].id"), &n(7), "").as_deref(),
            Some("article#7")
        );
        assert_eq!(
            identity(&body("$.comment.article_id"), &n(7), "").as_deref(),
            Some("article#7")
        );
        assert_eq!(identity(&body("$.total"), &n(7), ""), None);
        let segment = Spot::PathSegment { index: 3 };
        assert_eq!(
            identity(&segment, &text("7"), "/articles/a-slug/comments/7?x=1").as_deref(),
            Some("comment#7")
        );
        let query = Spot::Query {
            name: "userId".to_owned(),
        };
        assert_eq!(
            identity(&query, &text("7"), "/x?userId=7").as_deref(),
            Some("user#7")
        );
        assert_eq!(
            identity(
                &Spot::PathSegment { index: 1 },
                &text("a-slug"),
                "/articles/a-slug"
            )
            .as_deref(),
            Some("a-slug")
        );
        assert_eq!(
            identity(&Spot::PathSegment { index: 0 }, &text("7"), "/7"),
            None
        );
    }
}
