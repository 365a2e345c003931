//! Replay-time substitution: `--set-header`, `--drop-header` and `--set-json` change the
//! rebuilt requests before they are sent, so a value the recording could not keep (a
//! password recorded as `[redacted]`, a token valid only in production) is replaced by
//! one valid in the target environment.
//!
//! A rule is `[ROUTE ]NAME=VALUE` (`--drop-header` takes `[ROUTE ]NAME`):
//! - ROUTE scopes it: `POST /users/login`, `* /admin/**` (`*` is any method or one path
//!   segment, `**` the rest of the path); without one it applies everywhere.
//! - VALUE is literal, or `@env:NAME` (an environment variable, so a credential stays
//!   out of shell history) or `@file:PATH` (a file's contents, one trailing newline
//!   removed).
//! - `--set-json PATH=VALUE` sets a JSON string; `PATH:=VALUE` sets raw JSON
//!   (`$.count:=3`, `$.tags:=["a"]`), as httpie does. PATH is a [`PathPattern`] and only
//!   replaces locations that exist; nothing is created.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use retrace::diff::PathPattern;
use serde_json::Value;

/// Which requests a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteScope {
    /// `None` for any method.
    method: Option<Method>,
    /// The path's segments; `*` one segment, `**` the rest.
    segments: Vec<String>,
}

impl RouteScope {
    fn parse(method: &str, path: &str) -> Result<Self, String> {
        let method = match method {
            "*" => None,
            m => Some(
                Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method {m:?}"))?,
            ),
        };
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        if let Some(at) = segments.iter().position(|s| s == "**")
            && at + 1 != segments.len()
        {
            return Err(format!("`**` must be the last segment of {path:?}"));
        }
        Ok(Self { method, segments })
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        let mut actual = path.trim_start_matches('/').split('/');
        for wanted in &self.segments {
            if wanted == "**" {
                return true;
            }
            match actual.next() {
                Some(segment) if wanted == "*" || wanted == segment => {}
                _ => return false,
            }
        }
        actual.next().is_none()
    }
}

impl fmt::Display for RouteScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.method {
            Some(m) => write!(f, "{m} /{}", self.segments.join("/")),
            None => write!(f, "* /{}", self.segments.join("/")),
        }
    }
}

/// What a rule does.
#[derive(Clone, Debug)]
enum Action {
    SetHeader(HeaderName, HeaderValue),
    DropHeader(HeaderName),
    SetJson(PathPattern, Value),
}

/// One `--set-header`, `--drop-header` or `--set-json`.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    scope: Option<RouteScope>,
    action: Action,
    /// The rule as given, with its value hidden: for messages.
    shown: String,
}

/// How many requests each rule changed.
#[derive(Debug, Default)]
pub(crate) struct Substitutions {
    rules: Vec<Rule>,
    applied: Vec<usize>,
}

/// Splits an optional `METHOD /path ` scope off the front of a rule.
fn split_scope(text: &str) -> Result<(Option<RouteScope>, &str), String> {
    let mut parts = text.splitn(3, ' ');
    if let (Some(method), Some(path), Some(rest)) = (parts.next(), parts.next(), parts.next())
        && path.starts_with('/')
        && (method == "*" || method.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Ok((Some(RouteScope::parse(method, path)?), rest.trim_start()));
    }
    Ok((None, text))
}

/// Reads a rule's value: literal, `@env:NAME` or `@file:PATH`.
fn read_value(text: &str) -> Result<String, String> {
    if let Some(name) = text.strip_prefix("@env:") {
        return std::env::var(name).map_err(|e| match e {
            std::env::VarError::NotPresent => format!("environment variable {name} is not set"),
            std::env::VarError::NotUnicode(_) => {
                format!("environment variable {name} is not valid UTF-8")
            }
        });
    }
    if let Some(path) = text.strip_prefix("@file:") {
        let mut value =
            std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
        return Ok(value);
    }
    Ok(text.to_owned())
}

/// How a value is shown: where it came from, never a secret.
fn shown_value(text: &str) -> String {
    if text.starts_with("@env:") || text.starts_with("@file:") {
        text.to_owned()
    } else {
        "(value given)".to_owned()
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("invalid header name {name:?}"))
}

impl Rule {
    /// Parses `--set-header [ROUTE ]NAME=VALUE`.
    pub(crate) fn set_header(text: &str) -> Result<Self, String> {
        let (scope, rest) = split_scope(text)?;
        let (name, value) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected [METHOD /path ]NAME=VALUE, got {text:?}"))?;
        let name = header_name(name)?;
        let shown = format!("{}{name}={}", scope_prefix(&scope), shown_value(value));
        let value = HeaderValue::try_from(read_value(value)?)
            .map_err(|_| format!("the value for header {name} is not a valid header value"))?;
        Ok(Self {
            scope,
            action: Action::SetHeader(name, value),
            shown,
        })
    }

    /// Parses `--drop-header [ROUTE ]NAME`.
    pub(crate) fn drop_header(text: &str) -> Result<Self, String> {
        let (scope, rest) = split_scope(text)?;
        let name = header_name(rest)?;
        Ok(Self {
            shown: format!("{}{name}", scope_prefix(&scope)),
            scope,
            action: Action::DropHeader(name),
        })
    }

    /// Parses `--set-json [ROUTE ]PATH=VALUE` (a string) or `PATH:=JSON`.
    pub(crate) fn set_json(text: &str) -> Result<Self, String> {
        let (scope, rest) = split_scope(text)?;
        let at = json_split(rest).ok_or_else(|| {
            format!("expected [METHOD /path ]$.json.path=VALUE or :=JSON, got {text:?}")
        })?;
        let raw = at > 0 && rest.as_bytes()[at - 1] == b':';
        let path_text = if raw { &rest[..at - 1] } else { &rest[..at] };
        let value_text = &rest[at + 1..];
        let path = PathPattern::parse(path_text.trim()).map_err(|e| e.to_string())?;
        let value = read_value(value_text)?;
        let value = if raw {
            serde_json::from_str(&value)
                .map_err(|e| format!("the value for {path} is not JSON: {e}"))?
        } else {
            Value::String(value)
        };
        Ok(Self {
            shown: format!(
                "{}{path}{}{}",
                scope_prefix(&scope),
                if raw { ":=" } else { "=" },
                shown_value(value_text)
            ),
            scope,
            action: Action::SetJson(path, value),
        })
    }
}

fn scope_prefix(scope: &Option<RouteScope>) -> String {
    scope.as_ref().map_or_else(String::new, |s| format!("{s} "))
}

/// The `=` ending a JSON path: the first one outside brackets and quotes.
fn json_split(text: &str) -> Option<usize> {
    let (mut depth, mut quote) = (0u32, None);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '=') if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

impl Substitutions {
    /// The rules, in the order given.
    pub(crate) fn new(rules: Vec<Rule>) -> Self {
        let applied = vec![0; rules.len()];
        Self { rules, applied }
    }

    /// Applies every rule whose scope matches to one request; a JSON body that a rule
    /// changed is written back compactly.
    pub(crate) fn apply(
        &mut self,
        method: &Method,
        path: &str,
        headers: &mut HeaderMap,
        body: &mut Bytes,
    ) {
        let mut json: Option<Value> = None;
        let mut json_changed = false;
        for (rule, applied) in self.rules.iter().zip(&mut self.applied) {
            if rule
                .scope
                .as_ref()
                .is_some_and(|s| !s.matches(method, path))
            {
                continue;
            }
            match &rule.action {
                Action::SetHeader(name, value) => {
                    headers.insert(name.clone(), value.clone());
                    *applied += 1;
                }
                Action::DropHeader(name) => {
                    if headers.remove(name).is_some() {
                        *applied += 1;
                    }
                }
                Action::SetJson(pattern, value) => {
                    if json.is_none() {
                        json = serde_json::from_slice(body).ok();
                    }
                    if let Some(doc) = json.as_mut()
                        && pattern.replace_matches(doc, value) > 0
                    {
                        json_changed = true;
                        *applied += 1;
                    }
                }
            }
        }
        if json_changed && let Some(doc) = json {
            *body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_else(|_| body.to_vec()));
        }
    }

    /// Each rule as given (values hidden) and how many requests it changed.
    pub(crate) fn report(&self) -> impl Iterator<Item = (&str, usize)> {
        self.rules
            .iter()
            .map(|r| r.shown.as_str())
            .zip(self.applied.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(
        rules: Vec<Rule>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (HeaderMap, String, Vec<usize>) {
        let mut subs = Substitutions::new(rules);
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let mut body = Bytes::from(body.to_owned());
        subs.apply(
            &Method::from_bytes(method.as_bytes()).unwrap(),
            path,
            &mut map,
            &mut body,
        );
        let counts = subs.report().map(|(_, n)| n).collect();
        (map, String::from_utf8(body.to_vec()).unwrap(), counts)
    }

    #[test]
    fn headers_are_set_and_dropped_where_the_route_matches() {
        let rules = vec![
            Rule::set_header("authorization=Token live-token").unwrap(),
            Rule::drop_header("POST /users/* x-debug").unwrap(),
        ];
        let (headers, _, counts) = apply(
            rules.clone(),
            "POST",
            "/users/login",
            &[("authorization", "Token [redacted]"), ("x-debug", "1")],
            "",
        );
        assert_eq!(headers["authorization"], "Token live-token");
        assert!(!headers.contains_key("x-debug"));
        assert_eq!(counts, [1, 1]);
        let (headers, _, counts) = apply(rules, "GET", "/users/login", &[("x-debug", "1")], "");
        assert!(
            headers.contains_key("x-debug"),
            "another method is out of scope"
        );
        assert_eq!(counts, [1, 0]);
    }

    #[test]
    fn json_values_replace_existing_locations_only() {
        let rules = vec![
            Rule::set_json("$.user.password=hunter2").unwrap(),
            Rule::set_json("$..count:=3").unwrap(),
            Rule::set_json("$.absent=x").unwrap(),
        ];
        let (_, body, counts) = apply(
            rules,
            "POST",
            "/users",
            &[],
            r#"{"user":{"email":"a@b.c","password":"[redacted]"},"page":{"count":1}}"#,
        );
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["user"]["password"], "hunter2");
        assert_eq!(doc["page"]["count"], 3);
        assert!(doc.get("absent").is_none());
        assert_eq!(counts, [1, 1, 0]);
        // A body that is not JSON, or a rule that matches nothing, keeps the bytes.
        let (_, body, _) = apply(
            vec![Rule::set_json("$.a=b").unwrap()],
            "POST",
            "/",
            &[],
            "a=1&b=2",
        );
        assert_eq!(body, "a=1&b=2");
    }

    #[test]
    fn values_come_from_the_environment_or_a_file_and_are_never_shown() {
        let path = std::env::var("PATH").unwrap();
        let rule = Rule::set_json("POST /users/login $.user.password=@env:PATH").unwrap();
        assert_eq!(rule.shown, "POST /users/login $.user.password=@env:PATH");
        let (_, body, _) = apply(
            vec![rule],
            "POST",
            "/users/login",
            &[],
            r#"{"user":{"password":"x"}}"#,
        );
        let doc: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["user"]["password"], path.as_str());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "file-token\n").unwrap();
        let rule = Rule::set_header(&format!("authorization=@file:{}", file.display())).unwrap();
        let (headers, _, _) = apply(vec![rule], "GET", "/", &[], "");
        assert_eq!(headers["authorization"], "file-token");

        assert_eq!(
            Rule::set_header("authorization=Bearer s3cret")
                .unwrap()
                .shown,
            "authorization=(value given)"
        );
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let err = |r: Result<Rule, String>| r.unwrap_err();
        assert_eq!(
            err(Rule::set_header("no-equals")),
            "expected [METHOD /path ]NAME=VALUE, got \"no-equals\""
        );
        assert_eq!(
            err(Rule::set_header("bad name=1")),
            "invalid header name \"bad name\""
        );
        assert_eq!(
            err(Rule::set_header("x=@env:RETRACE_TEST_SURELY_UNSET")),
            "environment variable RETRACE_TEST_SURELY_UNSET is not set"
        );
        assert!(err(Rule::set_json("$.a:=not json")).starts_with("the value for $.a is not JSON"));
        assert!(err(Rule::set_json("a.b=1")).contains("invalid JSON path"));
        assert_eq!(
            err(Rule::drop_header("GET /a/**/b x")),
            "`**` must be the last segment of \"/a/**/b\""
        );
    }

    #[test]
    fn route_scopes_match_methods_and_path_segments() {
        let scope = RouteScope::parse("*", "/articles/*/comments").unwrap();
        assert!(scope.matches(&Method::GET, "/articles/hello/comments"));
        assert!(!scope.matches(&Method::GET, "/articles/hello"));
        assert!(!scope.matches(&Method::GET, "/articles/hello/comments/1"));
        let scope = RouteScope::parse("DELETE", "/articles/**").unwrap();
        assert!(scope.matches(&Method::DELETE, "/articles/a/comments/1"));
        assert!(!scope.matches(&Method::GET, "/articles/a"));
        assert_eq!(scope.to_string(), "DELETE /articles/**");
    }
}
