//! Noise rules: which differences are expected between a recorded response and a replay,
//! so a report shows only the changes a person should look at.
//!
//! Noise is still reported, on its own list ([`Diff::noise`](super::Diff::noise)), so an
//! over-broad rule can be spotted rather than silently hiding a regression.

use super::change::Change;
use super::{ResponseView, diff_responses_with_limit};
use crate::json_path::{PathError, PathPattern};

/// Headers ignored by default, and why: each carries a per-response value that differs
/// on every run without the service having changed.
///
/// | header                   | why it is noise                                            |
/// |--------------------------|------------------------------------------------------------|
/// | `date`                   | the server's clock when the response was sent              |
/// | `age`                    | set by caches: how long the response sat in one            |
/// | `expires`                | usually "now plus a lifetime"; the lifetime itself shows in `cache-control`, which is compared |
/// | `last-modified`          | the clock or a file's mtime, which differs per machine and deployment |
/// | `etag`                   | a hash of the body (whose changes the body diff reports) or of mtime and inode |
/// | `content-length`         | follows from the body, which is compared on its own; an ignored JSON field of another length would otherwise change it |
/// | `transfer-encoding`      | framing chosen by the server, not content (absent in process) |
/// | `connection`, `keep-alive` | connection management, hop-by-hop                        |
/// | `x-request-id`, `x-correlation-id` | a fresh id per request                           |
/// | `traceparent`, `tracestate` | a fresh trace context per request                        |
/// | `x-retrace-recording-id` | the id of the recording this SDK makes of the response      |
/// | `server-timing`, `x-response-time`, `x-runtime` | measured durations                 |
///
/// [`OUTER_LAYER_HEADERS`] (`vary`, CORS) are ignored by default too.
///
/// Use [`NoiseRulesBuilder::compare_header`] to compare one of them after all, or
/// [`NoiseRulesBuilder::without_default_headers`] to start from nothing.
pub const DEFAULT_IGNORED_HEADERS: &[&str] = &[
    "date",
    "age",
    "expires",
    "last-modified",
    "etag",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "x-request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "x-retrace-recording-id",
    "server-timing",
    "x-response-time",
    "x-runtime",
];

/// Headers also ignored by default, besides [`DEFAULT_IGNORED_HEADERS`]: those that
/// layers outside the record layer add to a response: `vary` from compression (and CORS), `access-control-*` from CORS. Their
/// values follow from the request's `origin` and `accept-encoding` and the layers'
/// configuration, not from what the service answered.
pub const OUTER_LAYER_HEADERS: &[&str] = &[
    "vary",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
];

/// An invalid noise rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseRuleError {
    /// A JSON path pattern does not parse.
    #[error(transparent)]
    Path(#[from] PathError),
    /// A header name is empty or contains characters not allowed in HTTP header names.
    #[error("invalid header name {name:?}: expected letters, digits or one of !#$%&'*+-.^_`|~")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
}

/// What to ignore when comparing two responses: header names and JSON paths.
///
/// [`NoiseRules::default`] ignores [`DEFAULT_IGNORED_HEADERS`], [`OUTER_LAYER_HEADERS`]
/// and no JSON paths; [`NoiseRules::none`] ignores nothing; [`NoiseRules::builder`] adds to the defaults;
/// [`NoiseRules::learn`] finds the rules two replays of one recording disagree on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseRules {
    /// Lower case, sorted, without duplicates.
    headers: Vec<String>,
    /// Without duplicates, in the order added.
    paths: Vec<PathPattern>,
}

impl Default for NoiseRules {
    fn default() -> Self {
        let mut rules = Self::none();
        for name in DEFAULT_IGNORED_HEADERS.iter().chain(OUTER_LAYER_HEADERS) {
            rules.insert_header(name);
        }
        rules
    }
}

impl NoiseRules {
    /// Rules that ignore nothing: every difference is reported as a change.
    pub fn none() -> Self {
        Self {
            headers: Vec::new(),
            paths: Vec::new(),
        }
    }

    /// A builder starting from the default rules.
    pub fn builder() -> NoiseRulesBuilder {
        NoiseRulesBuilder::default()
    }

    /// Learns noise from two replays of the same recording: every header and JSON
    /// location on which they disagree is nondeterministic, so it becomes a rule.
    ///
    /// The result holds only the learned rules (no defaults); add them to the rules in
    /// use with [`extend`](Self::extend). Array indices in learned paths are widened to
    /// `[*]` (a timestamp differing in `$.items[0].ts` is taken to differ in every item);
    /// a text or binary body that differs gives `$`, ignoring the body. A status that
    /// differs is not learned: a status is never noise.
    pub fn learn(first: &ResponseView<'_>, second: &ResponseView<'_>) -> Self {
        let diff = diff_responses_with_limit(first, second, &Self::none(), usize::MAX);
        let mut learned = Self::none();
        for change in &diff.changes {
            match change {
                Change::Status { .. } => {}
                Change::Header { name, .. } | Change::Trailer { name, .. } => {
                    learned.insert_header(name)
                }
                Change::Json { path, .. } => match PathPattern::parse(path) {
                    Ok(pattern) => learned.insert_path(pattern.with_any_index()),
                    // Reported paths are rendered in pattern syntax; this cannot happen.
                    Err(error) => debug_assert!(false, "reported path must parse: {error}"),
                },
                Change::Text { .. } | Change::Binary { .. } => {
                    learned.insert_path(PathPattern::root());
                }
            }
        }
        learned
    }

    /// Adds every rule of `other` to these rules.
    pub fn extend(&mut self, other: NoiseRules) {
        for name in &other.headers {
            self.insert_header(name);
        }
        for pattern in other.paths {
            self.insert_path(pattern);
        }
    }

    /// The ignored header names, lower case and sorted.
    pub fn ignored_headers(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(String::as_str)
    }

    /// The ignored JSON path patterns, in the order added.
    pub fn ignored_paths(&self) -> &[PathPattern] {
        &self.paths
    }

    /// Whether a header is ignored (the name is compared case-insensitively).
    pub fn ignores_header(&self, name: &str) -> bool {
        self.headers
            .binary_search_by(|ignored| cmp_ignore_ascii_case(ignored, name))
            .is_ok()
    }

    /// Whether the whole body is ignored (a `$` pattern).
    pub(crate) fn ignores_body(&self) -> bool {
        self.paths.iter().any(PathPattern::is_root)
    }

    fn insert_header(&mut self, name: &str) {
        if let Err(at) = self
            .headers
            .binary_search_by(|ignored| cmp_ignore_ascii_case(ignored, name))
        {
            self.headers.insert(at, name.to_ascii_lowercase());
        }
    }

    fn insert_path(&mut self, pattern: PathPattern) {
        if !self.paths.contains(&pattern) {
            self.paths.push(pattern);
        }
    }

    fn remove_header(&mut self, name: &str) {
        if let Ok(at) = self
            .headers
            .binary_search_by(|ignored| cmp_ignore_ascii_case(ignored, name))
        {
            self.headers.remove(at);
        }
    }
}

/// Orders header names ignoring ASCII case, without allocating.
pub(crate) fn cmp_ignore_ascii_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|byte| byte.to_ascii_lowercase())
        .cmp(b.bytes().map(|byte| byte.to_ascii_lowercase()))
}

/// Builds [`NoiseRules`]; values are checked in [`build`](Self::build).
#[derive(Clone, Debug)]
pub struct NoiseRulesBuilder {
    defaults: bool,
    ignored_headers: Vec<String>,
    compared_headers: Vec<String>,
    paths: Vec<String>,
}

impl Default for NoiseRulesBuilder {
    fn default() -> Self {
        Self {
            defaults: true,
            ignored_headers: Vec::new(),
            compared_headers: Vec::new(),
            paths: Vec::new(),
        }
    }
}

impl NoiseRulesBuilder {
    /// Starts from no ignored headers instead of [`DEFAULT_IGNORED_HEADERS`] and
    /// [`OUTER_LAYER_HEADERS`].
    pub fn without_default_headers(mut self) -> Self {
        self.defaults = false;
        self
    }

    /// Ignores a header (any case).
    pub fn ignore_header(mut self, name: impl Into<String>) -> Self {
        self.ignored_headers.push(name.into());
        self
    }

    /// Compares a header even though it is among the defaults; wins over
    /// [`ignore_header`](Self::ignore_header).
    pub fn compare_header(mut self, name: impl Into<String>) -> Self {
        self.compared_headers.push(name.into());
        self
    }

    /// Ignores the JSON locations a pattern matches; see [`PathPattern`] for the syntax.
    pub fn ignore_path(mut self, pattern: impl Into<String>) -> Self {
        self.paths.push(pattern.into());
        self
    }

    /// Checks every rule and builds the rules.
    pub fn build(self) -> Result<NoiseRules, NoiseRuleError> {
        let mut rules = if self.defaults {
            NoiseRules::default()
        } else {
            NoiseRules::none()
        };
        for name in &self.ignored_headers {
            check_header_name(name)?;
            rules.insert_header(name);
        }
        for name in &self.compared_headers {
            check_header_name(name)?;
            rules.remove_header(name);
        }
        for pattern in &self.paths {
            rules.insert_path(PathPattern::parse(pattern)?);
        }
        Ok(rules)
    }
}

/// Accepts an RFC 9110 token, the syntax of a header name.
fn check_header_name(name: &str) -> Result<(), NoiseRuleError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(NoiseRuleError::InvalidHeaderName {
            name: name.to_owned(),
        })
    }
}
