//! Redaction at capture time: secrets are replaced before anything is buffered.
//!
//! A recording is a file on disk that outlives the request, is copied to laptops for
//! replay and attached to tickets. A credential that reaches it has leaked. So the
//! capture layers (the server record layer and the client layer in `retrace-tower`) pass
//! every recorded request and response head, and every JSON body, through a
//! [`Redaction`] *before* the event is built: no unredacted copy is ever buffered, sent to
//! the writer or written. This module is that step. It is pure: plain values in, redacted
//! values out, no I/O and no runtime (it reads one environment variable when it is built,
//! see [Keys](#keys)).
//!
//! # What is redacted
//!
//! - **Headers** by name, case-insensitively. The header stays in the recording with its
//!   name, position and repetitions; only its value is replaced, so replay and diffs still
//!   see that it was there. The defaults are [`DEFAULT_HEADERS`].
//! - **Query parameters** by name, in the request target. Everything else in the URI is
//!   kept byte for byte (encoded characters, parameters without a value, order). The
//!   defaults are [`DEFAULT_QUERY_PARAMS`].
//! - **JSON body fields** by path ([`PathPattern`] syntax, the one noise rules use:
//!   `$.password`, `$..token`, `$.users[*].ssn`). A matched value is replaced whatever it
//!   is (string, number, object, array, `null`), together with everything below it. The
//!   defaults are [`DEFAULT_JSON_PATHS`].
//!
//! # Modes
//!
//! [`RedactionMode::Remove`] (the default) writes [`REDACTED`] in place of the value.
//! [`RedactionMode::Pseudonymise`] writes `pseudo:` and 32 hex digits of a keyed BLAKE3
//! hash of the value: equal secrets give equal pseudonyms (so replay can still match an
//! outgoing call by its redacted URI, and a diff can still say "the token changed"), but
//! without the key a pseudonym cannot be turned back into the value or checked against a
//! guess.
//!
//! # Keys
//!
//! The pseudonymisation key comes, first match wins, from
//! [`RedactionBuilder::key`], from the environment variable [`KEY_ENV`] (64 hex digits;
//! any other value is an error naming the variable), or from a random key made once per
//! process. With the per-process key, equal secrets match only within one process: two
//! pods, or one pod before and after a restart, give different pseudonyms for the same
//! value. Set [`KEY_ENV`] to the same value everywhere for stable pseudonyms. The
//! environment is read only in pseudonymise mode, and only when no key was given in code.
//! [`Redaction::key_source`] says which source was used.
//!
//! # Choices worth knowing
//!
//! - Empty values (an empty header value, `?token=`) are left empty: there is nothing to
//!   hide, and this keeps the URI identical. A query parameter without `=` has no value
//!   and is left as it is.
//! - Query parameter names are compared after percent-decoding, ignoring ASCII case
//!   (`Access_Token`, `access%5Ftoken` and `access_token` are one name), and parameters are
//!   split at `&` and at `;` (some servers still accept `;`): when in doubt, redact more.
//! - In a URI the replacement is percent-encoded where the query syntax requires it, so
//!   `[redacted]` appears as `%5Bredacted%5D` and the recorded URI stays valid. A query
//!   value is pseudonymised after form decoding (`%XX`, and `+` as a space), so a token
//!   gets the same pseudonym in a query as in a header.
//! - In a JSON body a matched string is pseudonymised by its content (again the same
//!   pseudonym as in a header); any other matched value by its compact JSON text.
//! - JSON body paths match member names exactly (case-sensitive), as [`PathPattern`]
//!   does. A body in which something matched is re-serialised compactly (white space
//!   is not kept); a body with no match is kept byte for byte (the caller keeps the
//!   original bytes when [`Redaction::json_body`] returns `None`). A body that names a
//!   listed key but does not parse (cut at the body cap, or malformed) fails closed: it
//!   is replaced whole, as a header value is. The layers apply JSON paths to bodies
//!   whose content type is JSON (`application/json`, `*+json`), in both directions and
//!   on outgoing calls alike.
//! - Headers come from an [`http::HeaderMap`], which groups the values of a repeated
//!   name together: that is the order the map gives and the order recorded.
//!
//! ```
//! use retrace::{Redaction, RedactionMode};
//!
//! let redaction = Redaction::builder()
//!     .header("x-session")
//!     .query_param("sig")
//!     .json_path("$.card.number")
//!     .build()?;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("authorization", "Bearer s3cr3t".parse()?);
//! headers.insert("accept", "application/json".parse()?);
//! let recorded = redaction.headers(&headers);
//! assert_eq!(recorded[0].value, "[redacted]");
//! assert_eq!(recorded[1].value, "application/json");
//!
//! let uri: http::Uri = "/pay?sig=abc&amount=10".parse()?;
//! assert_eq!(redaction.uri(&uri), "/pay?sig=%5Bredacted%5D&amount=10");
//!
//! let body = redaction.json_body(br#"{"card":{"number":"4111"}}"#).expect("matched");
//! assert_eq!(body, r#"{"card":{"number":"[redacted]"}}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod json;
mod key;
mod query;
#[cfg(test)]
mod tests;

pub use builder::{RedactionBuilder, RedactionError};
pub use key::{KEY_ENV, KeySource};

use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, Uri};

use crate::diff::PathPattern;
use crate::event::Header;

/// What [`RedactionMode::Remove`] writes in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// The prefix of a pseudonym written by [`RedactionMode::Pseudonymise`].
pub const PSEUDONYM_PREFIX: &str = "pseudo:";

/// Headers redacted by default. Each carries a credential by convention:
///
/// - `authorization`, `proxy-authorization`: HTTP authentication (RFC 9110);
/// - `cookie`, `set-cookie`: session cookies, in both directions;
/// - `x-api-key`, `x-goog-api-key`: API keys (the first by wide convention, the second
///   Google's header form of its `key` parameter);
/// - `x-auth-token`, `x-access-token`: bearer tokens in a custom header (OpenStack and
///   many web frameworks);
/// - `x-amz-security-token`: the session-token half of temporary AWS credentials, which
///   `authorization` alone does not cover; recorded outgoing calls to AWS carry it;
/// - `x-retrace-record`: the SDK's own trigger header, whose value is the shared token
///   that lets a caller force recording. A layer configured with another trigger header
///   name adds that name with [`RedactionBuilder::header`].
///
/// CSRF tokens (`x-csrf-token`) are not in the list: they are tied to a session whose
/// cookie is already redacted, and alone they grant nothing.
pub const DEFAULT_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-goog-api-key",
    "x-auth-token",
    "x-access-token",
    "x-amz-security-token",
    "x-retrace-record",
];

/// Query parameters redacted by default (compared ignoring ASCII case):
///
/// - `access_token`, `refresh_token`, `id_token`, `client_secret`: OAuth 2 and OpenID
///   Connect (RFC 6750 §2.3 allows a bearer token in the query);
/// - `token`, `api_key`, `apikey`, `password`, `secret`: the names credentials most often
///   travel under in a URL (magic links, reset links, key-in-URL APIs);
/// - `x-amz-signature`, `x-amz-security-token`, `x-goog-signature`, `sig`: the signatures
///   of pre-signed S3, GCS and Azure SAS URLs, each valid on its own until it expires.
///
/// `key` (Google's API key parameter) and `code` (the OAuth authorization code) are left
/// out: both names are common for values that are not secrets, and the code is single-use
/// and short-lived. Add them with [`RedactionBuilder::query_param`] where they are secrets.
pub const DEFAULT_QUERY_PARAMS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "token",
    "api_key",
    "apikey",
    "password",
    "secret",
    "x-amz-signature",
    "x-amz-security-token",
    "x-goog-signature",
    "sig",
];

/// JSON body paths redacted by default: members whose name is, at any depth, a password
/// or an OAuth credential.
///
/// These names are almost never anything but a secret, and they are what a recording is
/// most likely to catch: a login form posted to the service (`password`) and, through the
/// client layer, the answer of a token endpoint (`access_token`, `refresh_token`,
/// `id_token`) or the request to it (`client_secret`). The generic names `token` and
/// `secret` are left out for bodies, unlike for query parameters: in JSON they often name
/// pagination cursors or flags, and a redacted cursor makes replay diffs useless.
///
/// The cost: with any JSON path configured, [`Redaction::redacts_json`] is true and the
/// capture layer buffers a recorded JSON body (up to its cap) and parses it once before
/// recording it. Only recorded requests pay this; [`RedactionBuilder::without_default_json_paths`]
/// turns it off.
pub const DEFAULT_JSON_PATHS: &[&str] = &[
    "$..password",
    "$..access_token",
    "$..refresh_token",
    "$..id_token",
    "$..client_secret",
    "$..api_key",
];

/// How a secret value is replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedactionMode {
    /// Replace the value with [`REDACTED`].
    #[default]
    Remove,
    /// Replace the value with `pseudo:` and 32 hex digits of a keyed hash: equal secrets
    /// give equal output, and the value cannot be read back without the key.
    Pseudonymise,
}

/// The redaction rules of a capture layer: which headers, query parameters and JSON body
/// fields are secrets, and how they are replaced.
///
/// Cheap to clone (one `Arc`), `Send` and `Sync`. Build one with [`Redaction::builder`];
/// [`Redaction::default`] applies the default lists in [`RedactionMode::Remove`];
/// [`Redaction::disabled`] redacts nothing. See the [module documentation](self).
#[derive(Clone)]
pub struct Redaction {
    inner: Arc<Inner>,
}

struct Inner {
    headers: Vec<HeaderName>,
    /// Lower case; compared with percent-decoded, lower-cased names.
    query_params: Vec<String>,
    json_paths: Vec<PathPattern>,
    /// Built on first use from `json_paths`.
    json_filter: once_cell::sync::OnceCell<json::KeyFilter>,
    mode: RedactionMode,
    /// `None` in [`RedactionMode::Remove`].
    key: Option<key::PseudonymKey>,
}

impl Redaction {
    /// A builder starting from the defaults: [`DEFAULT_HEADERS`],
    /// [`DEFAULT_QUERY_PARAMS`], [`DEFAULT_JSON_PATHS`], [`RedactionMode::Remove`].
    pub fn builder() -> RedactionBuilder {
        RedactionBuilder::new()
    }

    /// Rules that redact nothing: the explicit opt-out, for services whose traffic holds
    /// no secrets or that redact by other means.
    pub fn disabled() -> Self {
        Self::from_inner(Inner {
            headers: Vec::new(),
            query_params: Vec::new(),
            json_paths: Vec::new(),
            json_filter: once_cell::sync::OnceCell::new(),
            mode: RedactionMode::Remove,
            key: None,
        })
    }

    fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The headers of `headers` as recorded events, in the map's order with repeated
    /// names kept as separate entries, the value of every listed header (compared
    /// case-insensitively) replaced by [`replace`](Self::replace). Empty values stay
    /// empty.
    pub fn headers(&self, headers: &HeaderMap) -> Vec<Header> {
        // Kept values are copied into one buffer and recorded as slices of it: one
        // allocation for the whole head instead of one per header. A kept value is left
        // empty until the buffer is whole; a redacted one never is empty (a
        // replacement is `[redacted]` or a pseudonym), so the second pass tells them
        // apart by that alone.
        let mut buf = BytesMut::with_capacity(headers.iter().map(|(_, v)| v.len()).sum());
        let mut out = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let value = value.as_bytes();
            let value = if self.redacts_value(name, value) {
                self.replace(value)
            } else {
                buf.extend_from_slice(value);
                Bytes::new()
            };
            out.push(Header {
                name: crate::names::header(name),
                value,
            });
        }
        let buf = buf.freeze();
        let mut at = 0;
        for (header, (_, value)) in out.iter_mut().zip(headers) {
            if header.value.is_empty() {
                header.value = buf.slice(at..at + value.len());
                at += value.len();
            }
        }
        out
    }

    fn redacts_value(&self, name: &HeaderName, value: &[u8]) -> bool {
        !value.is_empty() && self.redacts_header_name(name)
    }

    /// Whether the value of header `name` is redacted (case-insensitive).
    pub fn redacts_header(&self, name: &str) -> bool {
        HeaderName::from_bytes(name.as_bytes()).is_ok_and(|name| self.redacts_header_name(&name))
    }

    fn redacts_header_name(&self, name: &HeaderName) -> bool {
        self.inner.headers.iter().any(|listed| listed == name)
    }

    /// The request target as recorded: the path and query for an origin-form URI
    /// (`/a?b=c`), the whole URI for an absolute one (`https://host/a?b=c`), with the value
    /// of every listed query parameter replaced by [`replace`](Self::replace)
    /// (percent-encoded where the query syntax needs it). Everything else is kept byte
    /// for byte.
    pub fn uri(&self, uri: &Uri) -> String {
        let text = printed_uri(uri);
        match uri.query() {
            Some(query) if !self.inner.query_params.is_empty() => {
                // `http::Uri` drops the fragment, so the query ends the printed URI. Were
                // that ever not so, fail closed: drop the query rather than leak it.
                if text.ends_with(query) {
                    query::redact(self, text, query.len())
                } else {
                    uri.path().to_owned()
                }
            }
            _ => text,
        }
    }

    /// Whether the value of query parameter `name` is redacted (compared after
    /// percent-decoding, ignoring ASCII case).
    pub fn redacts_query_param(&self, name: &str) -> bool {
        query::is_listed(&self.inner.query_params, name.as_bytes())
    }

    /// Whether any JSON body path is configured, so the caller knows it must buffer a
    /// JSON body and pass it to [`json_body`](Self::json_body) before recording it.
    pub fn redacts_json(&self) -> bool {
        !self.inner.json_paths.is_empty()
    }

    /// A redacted copy of a body declared JSON, compactly serialised, when a configured
    /// path matched; `None` when no path is configured or nothing matched: the caller
    /// then records the original bytes. A body that names a listed key but does not
    /// parse (cut at the body cap, or malformed) fails closed: the whole body is
    /// replaced, as by [`replace`](Self::replace).
    pub fn json_body(&self, body: &[u8]) -> Option<Bytes> {
        json::redact(self, body, json::Unparseable::Replace)
    }

    /// Like [`json_body`](Self::json_body) for a body that is not declared JSON but may
    /// be (an upstream that answers JSON as `text/plain`): redacted when it parses and
    /// something matched, `None` otherwise, since text that is not JSON holds no JSON
    /// field.
    pub fn json_body_if_parses(&self, body: &[u8]) -> Option<Bytes> {
        json::redact(self, body, json::Unparseable::Keep)
    }

    /// The replacement for one secret value: [`REDACTED`] in [`RedactionMode::Remove`],
    /// `pseudo:` and 32 hex digits of a keyed hash in [`RedactionMode::Pseudonymise`].
    pub fn replace(&self, secret: &[u8]) -> Bytes {
        match &self.inner.key {
            Some(key) => Bytes::from(key.pseudonym(secret)),
            None => Bytes::from_static(REDACTED.as_bytes()),
        }
    }

    /// The replacement mode.
    pub fn mode(&self) -> RedactionMode {
        self.inner.mode
    }

    /// Where the pseudonymisation key came from; `None` in [`RedactionMode::Remove`].
    pub fn key_source(&self) -> Option<KeySource> {
        self.inner.key.as_ref().map(|key| key.source)
    }

    /// The redacted header names, lower case.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.inner.headers.iter().map(HeaderName::as_str)
    }

    /// The redacted query parameter names, lower case.
    pub fn query_param_names(&self) -> impl Iterator<Item = &str> {
        self.inner.query_params.iter().map(String::as_str)
    }

    /// The redacted JSON body paths.
    pub fn json_paths(&self) -> &[PathPattern] {
        &self.inner.json_paths
    }
}

impl Default for Redaction {
    /// The default lists ([`DEFAULT_HEADERS`], [`DEFAULT_QUERY_PARAMS`],
    /// [`DEFAULT_JSON_PATHS`]) in [`RedactionMode::Remove`].
    fn default() -> Self {
        Self::from_inner(Inner {
            headers: builder::default_headers(),
            query_params: DEFAULT_QUERY_PARAMS.iter().map(|&p| p.to_owned()).collect(),
            json_paths: builder::default_json_paths(),
            json_filter: once_cell::sync::OnceCell::new(),
            mode: RedactionMode::Remove,
            key: None,
        })
    }
}

/// Shows the rules, never the key.
impl fmt::Debug for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<String> = self
            .inner
            .json_paths
            .iter()
            .map(|p| p.to_string())
            .collect();
        f.debug_struct("Redaction")
            .field("mode", &self.inner.mode)
            .field("key_source", &self.key_source())
            .field("headers", &self.header_names().collect::<Vec<_>>())
            .field("query_params", &self.inner.query_params)
            .field("json_paths", &paths)
            .finish()
    }
}

/// The URI as `http` prints it (scheme, authority, path, query), built from its parts
/// without going through `fmt`: it is done for every recorded request and call.
fn printed_uri(uri: &Uri) -> String {
    let (path, query) = (uri.path(), uri.query());
    let scheme = uri.scheme_str();
    let authority = uri.authority().map(|a| a.as_str());
    let mut text = String::with_capacity(
        scheme.map_or(0, |s| s.len() + 3)
            + authority.map_or(0, str::len)
            + path.len()
            + query.map_or(0, |q| q.len() + 1),
    );
    if let Some(scheme) = scheme {
        text.push_str(scheme);
        text.push_str("://");
    }
    if let Some(authority) = authority {
        text.push_str(authority);
    }
    text.push_str(path);
    if let Some(query) = query {
        text.push('?');
        text.push_str(query);
    }
    text
}
