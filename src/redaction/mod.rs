//! Redaction at capture time: secrets are replaced before anything is buffered.
//!
//! A recording is a file on disk that outlives the request, is copied to laptops for
//! replay and attached to tickets. A credential that reaches it has leaked. So every
//! capture point (the server record layer, the client layer, the reqwest adapter) passes
//! every recorded request and response head and every body through the recorder's one
//! [`Redaction`] *before* the event is built: no unredacted copy is ever buffered, sent
//! to the writer or written. This module is that step. It is pure: plain values in,
//! redacted values out, no I/O and no runtime (it reads one environment variable when it
//! is built, see [Keys](#keys)).
//!
//! # What is redacted
//!
//! Two things find secrets, and both are on by default:
//!
//! - **Names, matched as people write them.** Header names, query and form parameter
//!   names and JSON member names (at any depth) are compared after normalising:
//!   `accessToken`, `access-token`, `ACCESS_TOKEN` and `Access.Token` are one name. The
//!   list is [`DEFAULT_SECRET_NAMES`] (names that end in `token` or `secret`, contain
//!   `password`, `apiKey`, `privateKey`, `sessionId`, signature headers, card fields...)
//!   minus [`NAME_EXCEPTIONS`] (pagination cursors); each entry says why it is there. A
//!   named header keeps its name, position and an HTTP authentication scheme
//!   (`Bearer [redacted]`); a named JSON member keeps its name and loses its whole value,
//!   object or array included.
//! - **Values, recognised whatever their name** ([`DetectorKind`]): JWTs, `Bearer`,
//!   `Basic` and `Token` credentials, PEM private keys, AWS access key ids and secret
//!   keys, provider keys by prefix (Stripe, GitHub, Slack, GitLab, Google, OpenAI...),
//!   card numbers that pass Luhn, passwords in URLs. They look at every header value, the
//!   request target, every query and form value, every JSON string and every text body.
//!   Each can be turned off; custom ones ([`Detector`]) can be added.
//!
//! Bodies are redacted by what they are, not what they claim: a body that parses as JSON
//! is redacted as JSON (a JSON body sent as a form, as `curl -d` does, included); a form
//! body by its fields; other text by its detected values and the values it assigns to
//! secret names (`password: hunter2`, `token=...`, a multipart part named `pin`); a
//! binary body is replaced whole when a detector finds a secret in it. A body that claims
//! or looks to be JSON but does not parse (cut at the body cap, say) is replaced whole
//! when it holds any candidate. JSON body paths ([`PathPattern`] syntax: `$.card.number`,
//! `$.users[*].ssn`) can be added for fields whose name says nothing.
//!
//! # Cost
//!
//! One pass over each text with a precompiled Aho-Corasick automaton finds every
//! candidate name and detector anchor; one more pass over runs of digits and base64
//! characters finds card numbers and AWS secret keys. A body with no candidate is kept as
//! it is: nothing is parsed or copied. Only recorded requests pay any of it; the figures
//! are in `benches/README.md`.
//!
//! # Modes
//!
//! [`RedactionMode::Remove`] (the default) writes [`REDACTED`] in place of the value.
//! [`RedactionMode::Pseudonymise`] writes `pseudo:` and 32 hex digits of a keyed BLAKE3
//! hash of the value: equal secrets give equal pseudonyms (so replay can still match an
//! outgoing call by its redacted URI, a diff can still say "the token changed", and a
//! token handed out in one answer can be followed into later requests), but without the
//! key a pseudonym cannot be turned back into the value or checked against a guess. A
//! credential is pseudonymised alone wherever it appears: `Authorization: Bearer X`, a
//! JSON `"access_token": "X"` and `?token=X` all give the pseudonym of `X`.
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
//! - Empty values (an empty header value, `?token=`, `"password": ""`) are left empty:
//!   there is nothing to hide.
//! - In a URI the replacement is percent-encoded where the query syntax requires it, so
//!   `[redacted]` appears as `%5Bredacted%5D` and the recorded URI stays valid. A query
//!   value is pseudonymised after form decoding (`%XX`, and `+` as a space).
//! - A JSON body in which something was replaced is re-serialised compactly (white space
//!   is not kept); a body with no secret is kept byte for byte.
//! - JSON nested in a JSON string (an escaped payload) is redacted as JSON, four levels
//!   deep.
//! - Headers come from an [`http::HeaderMap`], which groups the values of a repeated
//!   name together: that is the order the map gives and the order recorded.
//! - Bodies with a `content-encoding` (gzip, br) are binary to the detectors; the capture
//!   layers see bodies before a compression layer outside them and after a
//!   decompression layer inside them.
//!
//! ```
//! use retrace::{Redaction, RedactionMode};
//!
//! let redaction = Redaction::builder()
//!     .name("x-session")
//!     .json_path("$.card.number")
//!     .build()?;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("authorization", "Bearer s3cr3t".parse()?);
//! headers.insert("accept", "application/json".parse()?);
//! let recorded = redaction.headers(&headers);
//! assert_eq!(recorded[0].value, "Bearer [redacted]");
//! assert_eq!(recorded[1].value, "application/json");
//!
//! let uri: http::Uri = "/pay?sig=abc&amount=10".parse()?;
//! assert_eq!(redaction.uri(&uri), "/pay?sig=%5Bredacted%5D&amount=10");
//!
//! // JSON sent as a form, names in any case, a card number in free text.
//! let body = redaction
//!     .body(Some(b"application/x-www-form-urlencoded"), br#"{"Password":"hunter2","user":"ada"}"#)
//!     .expect("found");
//! assert_eq!(body, r#"{"Password":"[redacted]","user":"ada"}"#);
//! let note = redaction.body(Some(b"text/plain"), b"card 4111 1111 1111 1111 ok").expect("found");
//! assert_eq!(note, "card [redacted] ok");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod body;
mod builder;
pub mod detect;
mod json;
mod key;
pub mod names;
mod params;
mod scan;
#[cfg(test)]
mod tests;
mod trigrams;
mod value;
mod verdicts;

pub use builder::{RedactionBuilder, RedactionError};
pub use detect::{Detector, DetectorKind};
pub use key::{KEY_ENV, KeySource};
pub use names::{DEFAULT_SECRET_NAMES, NAME_EXCEPTIONS, NameMatch, NameRule, NameScope};

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Uri};

use crate::arena::ByteArena;
use crate::event::Header;
use crate::json_path::PathPattern;
use crate::recorder::RecordingHandle;
use names::{Place, SecretNames};

/// What [`RedactionMode::Remove`] writes in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// The prefix of a pseudonym written by [`RedactionMode::Pseudonymise`].
pub const PSEUDONYM_PREFIX: &str = "pseudo:";

macro_rules! auth_schemes {
    ($($scheme:literal),* $(,)?) => {
        /// HTTP authentication schemes kept in front of a redacted credential, so a
        /// recording still says how the caller authenticated (compared ignoring case).
        pub(super) const AUTH_SCHEMES: &[&str] = &[$($scheme),*];
        /// Each scheme's credential as [`RedactionMode::Remove`] records it, when it is
        /// sent spelled as in [`AUTH_SCHEMES`] with one space: a static value, so nearly
        /// every request's credential is replaced without an allocation.
        static REDACTED_CREDENTIALS: &[&str] = &[$(concat!($scheme, " [redacted]")),*];
    };
}

auth_schemes![
    "Bearer",
    "Basic",
    "Token",
    "Digest",
    "Negotiate",
    "NTLM",
    "DPoP",
    "AWS4-HMAC-SHA256",
    "ApiKey",
    "SSWS",
];

/// Header values shorter than this are not scanned: no detected value is this short,
/// nor a `name=value` worth hiding.
const MIN_SCANNED_VALUE: usize = 8;

/// Headers whose values are protocol metadata (media types, lengths, encodings, dates,
/// cache validators, trace context), never a credential: their values are not scanned.
const PROTOCOL_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "date",
    "etag",
    "expires",
    "if-modified-since",
    "if-none-match",
    "last-modified",
    "transfer-encoding",
    "vary",
    // W3C trace context: a version, two ids and flags, in hex.
    "traceparent",
    // Retrace's own propagation, on every recorded outgoing call: the calling
    // recording's id and, with a trigger token, a signature bound to that id and the
    // trace (`policy::trigger`), never the token.
    crate::policy::PARENT_HEADER,
];

/// Credential headers most requests or answers carry: the name test's verdict on each
/// is taken once, when the rules are built, rather than on every head.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
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

/// The redaction rules of a recorder: which names and which values are secrets, and how
/// they are replaced.
///
/// Cheap to clone (one `Arc`), `Send` and `Sync`. Build one with [`Redaction::builder`];
/// [`Redaction::default`] applies the default names and detectors in
/// [`RedactionMode::Remove`]; [`Redaction::disabled`] redacts nothing. See the
/// [module documentation](self).
#[derive(Clone)]
pub struct Redaction {
    inner: Arc<Inner>,
}

struct Inner {
    /// What built this, so a name can be added later ([`Redaction::with_secret_name`]).
    settings: RedactionBuilder,
    names: SecretNames,
    json_paths: Vec<PathPattern>,
    json_filter: json::KeyFilter,
    scanner: scan::Scanner,
    /// The [`PROTOCOL_HEADERS`] whose names these rules do not hold secret: their
    /// values are recorded as they are, with neither a name test nor a scan (the name
    /// test is a thousand instructions, and most of a head is these).
    plain_headers: Vec<http::HeaderName>,
    /// The [`CREDENTIAL_HEADERS`] these rules hold secret, known without the test.
    secret_headers: Vec<http::HeaderName>,
    mode: RedactionMode,
    /// `None` in [`RedactionMode::Remove`].
    key: Option<key::PseudonymKey>,
}

impl Redaction {
    /// A builder starting from the defaults: [`DEFAULT_SECRET_NAMES`] with
    /// [`NAME_EXCEPTIONS`], every [`DetectorKind`], [`RedactionMode::Remove`].
    pub fn builder() -> RedactionBuilder {
        RedactionBuilder::new()
    }

    /// Rules that redact nothing: the explicit opt-out, for services whose traffic holds
    /// no secrets or that redact by other means.
    pub fn disabled() -> Self {
        RedactionBuilder::new()
            .without_default_names()
            .without_default_detectors()
            .build()
            .unwrap_or_else(|_| unreachable!("no setting to reject"))
    }

    fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// These rules with one more secret name (an exact name, normalised as every name
    /// is). The recorder adds its trigger header's name this way.
    pub fn with_secret_name(&self, name: &str) -> Self {
        if self.is_secret_name(name) {
            return self.clone();
        }
        let settings = self.inner.settings.clone().name(name);
        let key = self.inner.key.clone();
        settings.build_with(key).unwrap_or_else(|_| self.clone())
    }

    /// The headers of `headers` as recorded events, in the map's order with repeated
    /// names kept as separate entries: the value of a header with a secret name replaced
    /// (an authentication scheme in front of it kept), and every secret a detector finds
    /// in any other value replaced in place. Empty values stay empty.
    pub fn headers(&self, headers: &HeaderMap) -> Vec<Header> {
        let out = Vec::with_capacity(headers.len());
        self.headers_in(headers, &mut ByteArena::unpooled(), out)
    }

    /// [`headers`](Self::headers) for an event of `recording`: the kept values are
    /// copied into the recording's buffers, which its bodies' copies share (see
    /// [`crate::arena`]).
    pub fn headers_for(&self, headers: &HeaderMap, recording: &RecordingHandle) -> Vec<Header> {
        recording.with_copies(|copies| {
            let out = copies.header_list(headers.len());
            self.headers_in(headers, &mut copies.bytes, out)
        })
    }

    /// [`headers`](Self::headers) into `out` (empty), with the kept values copied into
    /// `arena`.
    fn headers_in(
        &self,
        headers: &HeaderMap,
        arena: &mut ByteArena,
        mut out: Vec<Header>,
    ) -> Vec<Header> {
        // Kept values are copied as one block and recorded as slices of it. A kept
        // value is left empty until the block is made; a redacted one is never empty
        // (a value that is empty is kept), so the second pass tells them apart by that
        // alone.
        let mut kept = 0;
        for (name, value) in headers {
            let value = value.as_bytes();
            let redacted = if value.is_empty() || self.inner.plain_headers.contains(name) {
                None
            } else if self.inner.secret_headers.contains(name)
                || self
                    .inner
                    .names
                    .is_secret(name.as_str().as_bytes(), Place::Field)
            {
                Some(self.replace_header_value(name, value))
            } else if value.len() < MIN_SCANNED_VALUE {
                None
            } else {
                self.redact_text_value(value)
            };
            let value = match redacted {
                Some(value) => value,
                None => {
                    kept += value.len();
                    Bytes::new()
                }
            };
            out.push(Header {
                name: crate::names::header(name),
                value,
            });
        }
        let kept_values = out
            .iter()
            .zip(headers)
            .filter(|(header, _)| header.value.is_empty())
            .map(|(_, (_, value))| value.as_bytes());
        let buf = arena.copy_parts(kept, kept_values);
        let mut at = 0;
        for (header, (_, value)) in out.iter_mut().zip(headers) {
            if header.value.is_empty() {
                header.value = buf.slice(at..at + value.len());
                at += value.len();
            }
        }
        out
    }

    /// A short text value (a header's) with every secret a detector finds, or a value
    /// it assigns to a secret name, replaced; `None` when there is none.
    fn redact_text_value(&self, value: &[u8]) -> Option<Bytes> {
        if !self.inner.scanner.is_active() {
            return None;
        }
        let secrets = self
            .inner
            .scanner
            .scan(&self.inner.names, value, true)
            .secrets();
        (!secrets.is_empty()).then(|| Bytes::from(self.replace_ranges(value, &secrets)))
    }

    /// The replacement of a secret header's value. Cookies keep their names and
    /// attributes and lose their values (`sid=[redacted]; theme=[redacted]`, and for
    /// `set-cookie` `sid=[redacted]; HttpOnly; Path=/`), so a recording still says which
    /// cookies were set and sent; any other value is a
    /// [credential](Self::replace_credential).
    fn replace_header_value(&self, name: &http::HeaderName, value: &[u8]) -> Bytes {
        let pairs = if name == http::header::COOKIE {
            usize::MAX
        } else if name == http::header::SET_COOKIE {
            1
        } else {
            return self.replace_credential(value);
        };
        let mut out = Vec::with_capacity(value.len() + 32);
        for (i, pair) in value.split(|&b| b == b';').enumerate() {
            if i > 0 {
                out.push(b';');
            }
            match memchr::memchr(b'=', pair) {
                Some(eq) if i < pairs => {
                    out.extend_from_slice(&pair[..=eq]);
                    let secret = &pair[eq + 1..];
                    if !secret.is_empty() {
                        out.extend_from_slice(&self.replace(secret));
                    }
                }
                // A cookie without `=` is all value; an attribute is kept.
                None if i < pairs => out.extend_from_slice(&self.replace(pair)),
                _ => out.extend_from_slice(pair),
            }
        }
        Bytes::from(out)
    }

    /// The replacement of a credential: an HTTP authentication scheme in front of it
    /// (`Bearer`, `Basic`...) is kept, the rest replaced, so `Bearer X` pseudonymises to
    /// `Bearer` and the pseudonym of `X`.
    fn replace_credential(&self, value: &[u8]) -> Bytes {
        if let Some(space) = memchr::memchr(b' ', value) {
            let scheme = &value[..space];
            let rest = value[space..].trim_ascii_start();
            let known = AUTH_SCHEMES
                .iter()
                .position(|s| s.as_bytes().eq_ignore_ascii_case(scheme));
            if let (false, Some(known)) = (rest.is_empty(), known) {
                let start = value.len() - rest.len();
                if self.inner.key.is_none()
                    && start == space + 1
                    && scheme == AUTH_SCHEMES[known].as_bytes()
                {
                    return Bytes::from_static(REDACTED_CREDENTIALS[known].as_bytes());
                }
                let replaced = self.replace(rest);
                // Exactly the capacity it needs: `Bytes` then takes the vector as it
                // is, where spare capacity would cost it an allocation of its own.
                let mut out = Vec::with_capacity(start + replaced.len());
                out.extend_from_slice(&value[..start]);
                out.extend_from_slice(&replaced);
                return Bytes::from(out);
            }
        }
        self.replace(value)
    }

    /// Whether `name` is a secret's name as a header, JSON member, query or form
    /// parameter (normalised: `accessToken`, `ACCESS-TOKEN` alike).
    pub fn is_secret_name(&self, name: &str) -> bool {
        self.inner
            .names
            .is_secret(name.as_bytes(), Place::Parameter)
    }

    /// The request target as recorded: the path and query for an origin-form URI
    /// (`/a?b=c`), the whole URI for an absolute one (`https://host/a?b=c`), with every
    /// secret a detector finds in the path replaced, and the value of every secret query
    /// parameter (by name or by value) replaced, percent-encoded where the query syntax
    /// needs it. Everything else is kept byte for byte.
    pub fn uri(&self, uri: &Uri) -> String {
        self.uri_into(uri, String::new())
    }

    /// [`uri`](Self::uri) for an event of `recording`, reusing an allocation the
    /// recording holds for it when there is one.
    pub fn uri_for(&self, uri: &Uri, recording: &RecordingHandle) -> String {
        let text = recording.with_copies(|copies| copies.text());
        self.uri_into(uri, text)
    }

    /// [`uri`](Self::uri), printed into `text` (empty).
    fn uri_into(&self, uri: &Uri, text: String) -> String {
        let text = printed_uri(uri, text);
        if !self.inspects_bodies() {
            return text;
        }
        let query_len = uri.query().map_or(0, |q| q.len() + 1);
        // `http::Uri` drops the fragment, so the query ends the printed URI.
        let path_end = text.len() - query_len;
        // The scheme and host are read only when the authority has user information
        // (`user:password@host`), the one secret they can hold.
        let from = match uri.authority() {
            Some(authority) if authority.as_str().contains('@') => 0,
            _ => path_end - uri.path().len(),
        };
        let in_path = self
            .inner
            .scanner
            .values(&self.inner.names, &text.as_bytes()[from..path_end]);
        let mut bytes = if in_path.is_empty() {
            None
        } else {
            let mut redacted = Vec::with_capacity(text.len() + 16);
            let mut copied = 0;
            for range in &in_path {
                let range = range.start + from..range.end + from;
                redacted.extend_from_slice(&text.as_bytes()[copied..range.start]);
                params::push_encoded(
                    &mut redacted,
                    &self.replace(&text.as_bytes()[range.clone()]),
                );
                copied = range.end;
            }
            redacted.extend_from_slice(&text.as_bytes()[copied..]);
            Some(redacted)
        };
        if query_len > 0 {
            let current = bytes.as_deref().unwrap_or(text.as_bytes());
            let start = current.len() - query_len + 1;
            if let Some(redacted) = params::redact(self, current, start) {
                bytes = Some(redacted);
            }
        }
        match bytes {
            // Every byte written is ASCII or came from the URI (valid UTF-8); were that
            // ever not so, fail closed: nothing of the target is kept.
            Some(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| REDACTED.to_owned()),
            None => text,
        }
    }

    /// Whether bodies must be looked at before they are recorded (anything at all is
    /// configured), so a capture layer knows to hold a body until it ends and pass it
    /// to [`body`](Self::body).
    pub fn inspects_bodies(&self) -> bool {
        self.inner.scanner.is_active() || !self.inner.json_paths.is_empty()
    }

    /// A body with its secrets replaced (see [the module docs](self) for how each kind
    /// of body is read), or `None` when it holds none: the caller then records the
    /// original bytes. `content_type` is the `content-type` header's value, if any.
    pub fn body(&self, content_type: Option<&[u8]>, body: &[u8]) -> Option<Bytes> {
        self.redact_body(content_type, body, 0)
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

    /// The configured JSON body paths.
    pub fn json_paths(&self) -> &[PathPattern] {
        &self.inner.json_paths
    }
}

impl Default for Redaction {
    /// [`DEFAULT_SECRET_NAMES`], [`NAME_EXCEPTIONS`] and every [`DetectorKind`] in
    /// [`RedactionMode::Remove`].
    fn default() -> Self {
        static DEFAULT: once_cell::sync::OnceCell<Redaction> = once_cell::sync::OnceCell::new();
        DEFAULT
            .get_or_init(|| {
                RedactionBuilder::new()
                    .build()
                    .unwrap_or_else(|_| unreachable!("the defaults are valid"))
            })
            .clone()
    }
}

/// Shows the rules, never the key.
impl fmt::Debug for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redaction")
            .field("mode", &self.inner.mode)
            .field("key_source", &self.key_source())
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// The URI as `http` prints it (scheme, authority, path, query), built from its parts
/// without going through `fmt` (it is done for every recorded request and call), into
/// `text`: emptied first, its allocation reused.
fn printed_uri(uri: &Uri, mut text: String) -> String {
    let (path, query) = (uri.path(), uri.query());
    let scheme = uri.scheme_str();
    let authority = uri.authority().map(|a| a.as_str());
    let len = scheme.map_or(0, |s| s.len() + 3)
        + authority.map_or(0, str::len)
        + path.len()
        + query.map_or(0, |q| q.len() + 1);
    if text.capacity() == 0 {
        text = String::with_capacity(len);
    } else {
        text.clear();
        text.reserve_exact(len);
    }
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
