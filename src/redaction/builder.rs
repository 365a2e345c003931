//! [`RedactionBuilder`] and the errors its [`build`](RedactionBuilder::build) reports.

use std::fmt;

use http::HeaderName;

use super::key::{self, KEY_ENV, KeySource, PseudonymKey};
use super::{
    DEFAULT_HEADERS, DEFAULT_JSON_PATHS, DEFAULT_QUERY_PARAMS, Inner, Redaction, RedactionMode,
};
use crate::config::EnvSource;
use crate::diff::{NoiseRuleError, PathPattern};

/// A bad redaction setting, naming the setting and the value.
#[derive(Debug, thiserror::Error)]
pub enum RedactionError {
    /// A JSON body path does not follow the [`PathPattern`] syntax.
    #[error("invalid redaction JSON path {pattern:?}: {source}")]
    InvalidJsonPath {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: NoiseRuleError,
    },
    /// A header name is empty or has characters not allowed in header names.
    #[error(
        "invalid redaction header name {name:?}: expected letters, digits or one of !#$%&'*+-.^_`|~"
    )]
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
    /// A query parameter name is empty.
    #[error("invalid redaction query parameter name {name:?}: the name is empty")]
    InvalidQueryParam {
        /// The name as given.
        name: String,
    },
    /// An environment variable has a value that does not parse.
    #[error("invalid value {value:?} for {var}: {reason}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
}

/// Builds a [`Redaction`], starting from the default lists; validation happens in
/// [`build`](Self::build), which returns a `Result` rather than panicking in a setter.
///
/// ```
/// use retrace::{Redaction, RedactionMode};
///
/// let redaction = Redaction::builder()
///     .header("X-Session")
///     .query_param("key")
///     .json_path("$.users[*].ssn")
///     .mode(RedactionMode::Pseudonymise)
///     .key([7; 32])
///     .build()?;
/// assert!(redaction.redacts_header("x-session"));
/// # Ok::<(), retrace::RedactionError>(())
/// ```
pub struct RedactionBuilder {
    default_headers: bool,
    default_query_params: bool,
    default_json_paths: bool,
    headers: Vec<String>,
    query_params: Vec<String>,
    json_paths: Vec<String>,
    mode: RedactionMode,
    key: Option<[u8; 32]>,
    env: EnvSource,
}

impl RedactionBuilder {
    pub(super) fn new() -> Self {
        Self {
            default_headers: true,
            default_query_params: true,
            default_json_paths: true,
            headers: Vec::new(),
            query_params: Vec::new(),
            json_paths: Vec::new(),
            mode: RedactionMode::Remove,
            key: None,
            env: EnvSource::Process,
        }
    }

    /// Adds a header whose value is redacted (any case).
    pub fn header(mut self, name: &str) -> Self {
        self.headers.push(name.to_owned());
        self
    }

    /// Drops [`DEFAULT_HEADERS`](super::DEFAULT_HEADERS); headers added with
    /// [`header`](Self::header) are still redacted.
    pub fn without_default_headers(mut self) -> Self {
        self.default_headers = false;
        self
    }

    /// Adds a query parameter whose value is redacted (compared after percent-decoding,
    /// ignoring ASCII case).
    pub fn query_param(mut self, name: &str) -> Self {
        self.query_params.push(name.to_owned());
        self
    }

    /// Drops [`DEFAULT_QUERY_PARAMS`](super::DEFAULT_QUERY_PARAMS); parameters added with
    /// [`query_param`](Self::query_param) are still redacted.
    pub fn without_default_query_params(mut self) -> Self {
        self.default_query_params = false;
        self
    }

    /// Adds a JSON body path whose value is redacted, in [`PathPattern`] syntax:
    /// `$.password`, `$..token`, `$.users[*].ssn`.
    pub fn json_path(mut self, pattern: &str) -> Self {
        self.json_paths.push(pattern.to_owned());
        self
    }

    /// Drops [`DEFAULT_JSON_PATHS`](super::DEFAULT_JSON_PATHS); paths added with
    /// [`json_path`](Self::json_path) are still redacted. With no path left, bodies are
    /// never parsed.
    pub fn without_default_json_paths(mut self) -> Self {
        self.default_json_paths = false;
        self
    }

    /// How secrets are replaced; [`RedactionMode::Remove`] unless set.
    pub fn mode(mut self, mode: RedactionMode) -> Self {
        self.mode = mode;
        self
    }

    /// The pseudonymisation key, which takes precedence over [`KEY_ENV`]. Used only in
    /// [`RedactionMode::Pseudonymise`].
    pub fn key(mut self, key: [u8; 32]) -> Self {
        self.key = Some(key);
        self
    }

    /// Reads [`KEY_ENV`] from these variables instead of the process environment (for
    /// tests and for configuration read from elsewhere); a variable absent from them is
    /// unset.
    pub fn with_env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.env = EnvSource::vars(vars);
        self
    }

    /// Validates the settings and returns the rules. In
    /// [`RedactionMode::Pseudonymise`] without a [`key`](Self::key), reads [`KEY_ENV`],
    /// and without it uses a random per-process key.
    pub fn build(self) -> Result<Redaction, RedactionError> {
        let mut headers = if self.default_headers {
            default_headers()
        } else {
            Vec::new()
        };
        for name in &self.headers {
            let parsed = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| RedactionError::InvalidHeaderName { name: name.clone() })?;
            if !headers.contains(&parsed) {
                headers.push(parsed);
            }
        }

        let mut query_params: Vec<String> = if self.default_query_params {
            DEFAULT_QUERY_PARAMS.iter().map(|&p| p.to_owned()).collect()
        } else {
            Vec::new()
        };
        for name in &self.query_params {
            if name.is_empty() {
                return Err(RedactionError::InvalidQueryParam { name: name.clone() });
            }
            let lower = name.to_ascii_lowercase();
            if !query_params.contains(&lower) {
                query_params.push(lower);
            }
        }

        let mut json_paths = if self.default_json_paths {
            default_json_paths()
        } else {
            Vec::new()
        };
        for pattern in &self.json_paths {
            let parsed =
                PathPattern::parse(pattern).map_err(|source| RedactionError::InvalidJsonPath {
                    pattern: pattern.clone(),
                    source,
                })?;
            if !json_paths.contains(&parsed) {
                json_paths.push(parsed);
            }
        }

        let key = match self.mode {
            RedactionMode::Remove => None,
            RedactionMode::Pseudonymise => Some(match self.key {
                Some(key) => PseudonymKey::new(key, KeySource::Builder),
                None => match self.env.get(KEY_ENV) {
                    Some(value) => {
                        PseudonymKey::new(key::parse_env_key(&value)?, KeySource::Environment)
                    }
                    None => PseudonymKey::per_process(),
                },
            }),
        };

        Ok(Redaction::from_inner(Inner {
            headers,
            query_params,
            json_paths,
            json_filter: once_cell::sync::OnceCell::new(),
            mode: self.mode,
            key,
        }))
    }
}

/// Shows the settings, never the key.
impl fmt::Debug for RedactionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactionBuilder")
            .field("default_headers", &self.default_headers)
            .field("default_query_params", &self.default_query_params)
            .field("default_json_paths", &self.default_json_paths)
            .field("headers", &self.headers)
            .field("query_params", &self.query_params)
            .field("json_paths", &self.json_paths)
            .field("mode", &self.mode)
            .field("key_set", &self.key.is_some())
            .finish()
    }
}

/// [`DEFAULT_HEADERS`] as header names.
pub(super) fn default_headers() -> Vec<HeaderName> {
    DEFAULT_HEADERS
        .iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect()
}

/// [`DEFAULT_JSON_PATHS`] parsed (each is valid; a test checks that none is lost).
pub(super) fn default_json_paths() -> Vec<PathPattern> {
    DEFAULT_JSON_PATHS
        .iter()
        .filter_map(|pattern| PathPattern::parse(pattern).ok())
        .collect()
}
