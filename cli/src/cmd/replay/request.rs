//! The target and the requests sent to it: each recorded request rebuilt as in-process
//! replay rebuilds it (method, path and query, headers, body), aimed at `--target`.
//!
//! What is not sent: hop-by-hop and framing headers ([`SKIPPED_HEADERS`], and any named
//! in the recorded `connection` header), which belong to the recorded connection, not
//! to the request; the client sets `host` from the target and frames the body itself.
//! Redacted values are sent as recorded (`[redacted]` or a pseudonym): the secret was
//! never written to disk.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, Uri};
use http::{Method, Request};
use http_body_util::Full;
use retrace::event::{ResponseHead, ValueKind};
use retrace::{Recording, RecordingId};

use super::exchange::RequestParts;
use super::substitute::Substitutions;

/// Request headers never sent again: hop-by-hop headers (RFC 9110, 7.6.1) and the
/// framing and routing ones the client recomputes for the new connection.
pub(crate) const SKIPPED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// The service replayed against: an `http://` URL, possibly with a base path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    authority: Authority,
    /// Without a trailing slash; empty for the root.
    base_path: String,
}

impl Target {
    /// Parses `--target`: `http://host[:port][/base/path]`, no query.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let example = "expected an http:// URL such as http://127.0.0.1:8080";
        let uri: Uri = text.trim().parse().map_err(|e| format!("{e}; {example}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(
                    "https:// is not supported (no TLS client is built in); use an http:// \
                     address, such as a port-forward to the service"
                        .to_owned(),
                );
            }
            _ => return Err(example.to_owned()),
        }
        let authority = uri.authority().cloned().ok_or_else(|| example.to_owned())?;
        if uri.query().is_some() {
            return Err("the target cannot have a query: each request brings its own".into());
        }
        Ok(Self {
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The host and port to connect to (port 80 when none is given).
    pub(crate) fn host_port(&self) -> (String, u16) {
        let host = self.authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        (host.to_owned(), self.authority.port_u16().unwrap_or(80))
    }

    /// The URL for a recorded request target (origin form, `/path?query`).
    fn url(&self, path_and_query: &str) -> String {
        format!(
            "http://{}{}{}",
            self.authority, self.base_path, path_and_query
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.base_path.is_empty() {
            "/"
        } else {
            &self.base_path
        };
        write!(f, "http://{}{}", self.authority, path)
    }
}

/// The path and query of a recorded request target: as recorded for the origin form,
/// without scheme and authority for an absolute URI; never a fragment.
fn path_and_query(uri: &str) -> Option<&str> {
    let rest = match uri.find("://") {
        Some(end) => {
            let after = &uri[end + 3..];
            after.find('/').map_or("/", |slash| &after[slash..])
        }
        None => uri,
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    rest.starts_with('/').then_some(rest)
}

/// One recording ready to replay: the request to send and the response to expect.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The recording.
    pub(crate) id: RecordingId,
    /// `METHOD /path`, for reports.
    pub(crate) route: String,
    /// When the recorded request arrived.
    pub(crate) started_unix_us: u64,
    /// The recorded trace id, when the request carried one.
    pub(crate) trace: Option<String>,
    /// The clock readings (`retrace::now()`) the recording holds, in microseconds.
    pub(crate) clock_us: Vec<u64>,
    method: Method,
    /// `http://host:port/base`, where the request goes.
    base: String,
    /// The request: path and query, headers, body.
    pub(crate) parts: RequestParts,
    /// The recorded response head.
    pub(crate) expected: ResponseHead,
    /// The recorded response body.
    pub(crate) expected_body: Bytes,
}

/// A recording that cannot be replayed, and why.
#[derive(Debug)]
pub(crate) struct Skipped {
    /// The recording.
    pub(crate) id: RecordingId,
    /// `METHOD /path`, or empty when the request was never recorded.
    pub(crate) route: String,
    /// Why it was not sent.
    pub(crate) reason: String,
}

impl Prepared {
    /// Rebuilds `recording`'s request for `target`, or says why it cannot be replayed.
    pub(crate) fn new(recording: &Recording, target: &Target) -> Result<Self, Skipped> {
        let id = recording.id;
        let Some(head) = recording.request() else {
            return Err(Skipped {
                id,
                route: String::new(),
                reason: "no request was recorded".to_owned(),
            });
        };
        let route = format!("{} {}", head.method, head.path());
        let skip = |reason: String| Skipped {
            id,
            route: route.clone(),
            reason,
        };
        let Some(expected) = recording.response() else {
            return Err(skip("no response was recorded".to_owned()));
        };
        let cut =
            |end: Option<&retrace::BodyEnd>| end.is_some_and(|e| e.captured_len < e.total_len);
        if cut(recording.request_end()) {
            return Err(skip(
                "the request body was cut at the capture limit".to_owned(),
            ));
        }
        if cut(recording.response_end()) {
            return Err(skip(
                "the response body was cut at the capture limit".to_owned(),
            ));
        }
        let method = Method::from_bytes(head.method.as_bytes())
            .map_err(|_| skip(format!("invalid method {:?}", head.method)))?;
        let target_path = path_and_query(&head.uri)
            .ok_or_else(|| skip(format!("request target {:?} has no path", head.uri)))?;
        let base = target.url("");
        format!("{base}{target_path}")
            .parse::<Uri>()
            .map_err(|e| skip(format!("request target {:?}: {e}", head.uri)))?;
        let listed_by_connection: Vec<String> = head
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| {
                String::from_utf8_lossy(&h.value)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut headers = HeaderMap::new();
        for h in &head.headers {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| skip(format!("invalid header name {:?}", h.name)))?;
            if SKIPPED_HEADERS.contains(&name.as_str())
                || listed_by_connection.iter().any(|l| l == name.as_str())
            {
                continue;
            }
            let value = HeaderValue::from_bytes(&h.value)
                .map_err(|_| skip(format!("invalid value of header {:?}", h.name)))?;
            headers.append(name, value);
        }
        let clock_us = recording
            .values()
            .filter(|v| v.kind == ValueKind::Clock)
            .filter_map(|v| postcard::from_bytes::<u64>(&v.value).ok())
            .collect();
        Ok(Self {
            id,
            route,
            started_unix_us: recording.summary.started_unix_us,
            trace: recording.summary.trace_id.map(|t| t.to_string()),
            clock_us,
            method,
            base,
            parts: RequestParts {
                path_and_query: target_path.to_owned(),
                headers,
                body: recording.request_body(),
            },
            expected: expected.clone(),
            expected_body: recording.response_body(),
        })
    }

    /// Applies the replay-time substitutions (`--set-header`, `--drop-header`,
    /// `--set-json`) whose route matches.
    pub(crate) fn substitute(&mut self, substitutions: &mut Substitutions) {
        let path = self
            .parts
            .path_and_query
            .split('?')
            .next()
            .unwrap_or("")
            .to_owned();
        let parts = &mut self.parts;
        substitutions.apply(&self.method, &path, &mut parts.headers, &mut parts.body);
    }

    /// The recorded request's method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The recorded response's headers as text pairs (names lower case).
    pub(crate) fn expected_header_pairs(&self) -> Vec<(String, String)> {
        self.expected
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&h.value).into_owned(),
                )
            })
            .collect()
    }

    /// The recorded response body with its content coding undone (as captured when it
    /// cannot be decoded).
    pub(crate) fn expected_plain_body(&self) -> Bytes {
        retrace::content_coding::decode_message(
            self.expected.headers.clone(),
            self.expected_body.clone(),
            retrace::content_coding::DEFAULT_DECODED_LIMIT,
        )
        .map_or_else(|_| self.expected_body.clone(), |(_, body)| body)
    }

    /// The request to send, from `parts` (this recording's, or a copy with chained
    /// values put in).
    pub(crate) fn request(&self, parts: &RequestParts) -> Result<Request<Full<Bytes>>, String> {
        let uri: Uri = format!("{}{}", self.base, parts.path_and_query)
            .parse()
            .map_err(|e| format!("request target {:?}: {e}", parts.path_and_query))?;
        let mut request = Request::new(Full::new(parts.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = parts.headers.clone();
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_http_urls_with_an_optional_base_path() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(t.url("/a?b=1"), "http://127.0.0.1:8080/a?b=1");
        assert_eq!(t.host_port(), ("127.0.0.1".to_owned(), 8080));
        assert_eq!(t.to_string(), "http://127.0.0.1:8080/");
        let t = Target::parse("http://svc.local/v2/").unwrap();
        assert_eq!(t.url("/users/1"), "http://svc.local/v2/users/1");
        assert_eq!(t.host_port(), ("svc.local".to_owned(), 80));
        let t = Target::parse("http://[::1]:9000/").unwrap();
        assert_eq!(t.host_port(), ("::1".to_owned(), 9000));
        assert!(
            Target::parse("https://example.com")
                .unwrap_err()
                .contains("https")
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://x",
            "http://x/?a=1",
            "not a url",
            "/path",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recorded_targets_keep_path_and_query_only() {
        assert_eq!(path_and_query("/a/b?c=%20d"), Some("/a/b?c=%20d"));
        assert_eq!(path_and_query("http://up.example/x?y#frag"), Some("/x?y"));
        assert_eq!(path_and_query("http://up.example"), Some("/"));
        assert_eq!(path_and_query("*"), None);
    }
}
