//! [`RedactionBuilder`] and the errors its [`build`](RedactionBuilder::build) reports.

use std::fmt;

use super::detect::{Detector, DetectorKind};
use super::json::KeyFilter;
use super::key::{self, KEY_ENV, KeySource, PseudonymKey};
use super::names::{self, NameMatch, SecretNames};
use super::scan::{self, Scanner};
use super::{Inner, Place, Redaction, RedactionMode};
use crate::config::EnvSource;
use crate::json_path::{PathError, PathPattern};

/// A bad redaction setting, naming the setting and the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactionError {
    /// A JSON body path does not follow the [`PathPattern`] syntax.
    #[error("invalid redaction JSON path {pattern:?}: {source}")]
    InvalidJsonPath {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: PathError,
    },
    /// A secret name has no letter or digit (names are compared by those alone).
    #[error("invalid redaction name {name:?}: it has no letter or digit")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// A custom detector's pattern does not compile.
    #[error("invalid redaction detector {name:?}: {reason}")]
    InvalidDetector {
        /// The detector's name.
        name: String,
        /// What is wrong with its pattern.
        reason: String,
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

/// Builds a [`Redaction`], starting from the defaults; validation happens in
/// [`build`](Self::build), which returns a `Result` rather than panicking in a setter.
///
/// ```
/// use retrace::{Redaction, RedactionMode};
/// use retrace::redaction::DetectorKind;
///
/// let redaction = Redaction::builder()
///     .name("X-Session")                 // also x_session, xSession...
///     .allow_name("cardNumber")          // a test fixture's fake numbers, say
///     .json_path("$.users[*].nickname")
///     .without_detector(DetectorKind::AwsSecretKey)
///     .mode(RedactionMode::Pseudonymise)
///     .key([7; 32])
///     .build()?;
/// assert!(redaction.is_secret_name("x_session"));
/// assert!(!redaction.is_secret_name("card_number"));
/// # Ok::<(), retrace::RedactionError>(())
/// ```
#[derive(Clone)]
pub struct RedactionBuilder {
    default_names: bool,
    names: Vec<String>,
    allowed: Vec<String>,
    json_paths: Vec<String>,
    detectors: Vec<DetectorKind>,
    custom: Vec<Detector>,
    mode: RedactionMode,
    key: Option<[u8; 32]>,
    env: EnvSource,
}

impl RedactionBuilder {
    pub(super) fn new() -> Self {
        Self {
            default_names: true,
            names: Vec::new(),
            allowed: Vec::new(),
            json_paths: Vec::new(),
            detectors: DetectorKind::ALL.to_vec(),
            custom: Vec::new(),
            mode: RedactionMode::Remove,
            key: None,
            env: EnvSource::Process,
        }
    }

    /// Adds a secret name: a header, query or form parameter or JSON member of this name
    /// (compared normalised: case and separators ignored) has its value redacted.
    pub fn name(mut self, name: &str) -> Self {
        self.names.push(name.to_owned());
        self
    }

    /// Keeps values under this name (compared normalised) even when a rule of
    /// [`DEFAULT_SECRET_NAMES`](super::DEFAULT_SECRET_NAMES) matches it. The value
    /// detectors still look at them.
    pub fn allow_name(mut self, name: &str) -> Self {
        self.allowed.push(name.to_owned());
        self
    }

    /// Drops [`DEFAULT_SECRET_NAMES`](super::DEFAULT_SECRET_NAMES) and
    /// [`NAME_EXCEPTIONS`](super::NAME_EXCEPTIONS); names added with
    /// [`name`](Self::name) are still secrets.
    pub fn without_default_names(mut self) -> Self {
        self.default_names = false;
        self
    }

    /// Adds a JSON body path whose value is redacted, in [`PathPattern`] syntax:
    /// `$.card.number`, `$..nickname`, `$.users[*].ssn`; for fields whose name says
    /// nothing.
    pub fn json_path(mut self, pattern: &str) -> Self {
        self.json_paths.push(pattern.to_owned());
        self
    }

    /// Turns one built-in value detector off.
    pub fn without_detector(mut self, kind: DetectorKind) -> Self {
        self.detectors.retain(|k| *k != kind);
        self
    }

    /// Turns every built-in value detector off (custom ones added with
    /// [`detector`](Self::detector) still run).
    pub fn without_default_detectors(mut self) -> Self {
        self.detectors.clear();
        self
    }

    /// Adds a custom value detector ([`Detector::regex`], [`Detector::function`]).
    pub fn detector(mut self, detector: Detector) -> Self {
        self.custom.push(detector);
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
        self.build_with(None)
    }

    /// Builds with `key` (an existing redaction's) in place of the configured source.
    pub(super) fn build_with(self, key: Option<PseudonymKey>) -> Result<Redaction, RedactionError> {
        let mut names = SecretNames::new(self.default_names);
        let mut stems = Vec::new();
        for name in &self.names {
            let normalised = names::normalise(name);
            if normalised.is_empty() {
                return Err(RedactionError::InvalidName { name: name.clone() });
            }
            // The longest part as written, and the first and last letters of the
            // normalised name, so the name is found in any spelling
            // (`employeeId`, `employee_id`, `EMPLOYEE-ID`).
            stems.push(scan::stem(name));
            stems.push(normalised.chars().take(3).collect());
            stems.push(
                normalised
                    .chars()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect(),
            );
            names.add(normalised, NameMatch::Exact);
        }
        for name in &self.allowed {
            names.allow(names::normalise(name));
        }
        names.finish();

        let mut json_paths = Vec::new();
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

        let key = match (self.mode, key) {
            (RedactionMode::Remove, _) => None,
            (RedactionMode::Pseudonymise, Some(key)) => Some(key),
            (RedactionMode::Pseudonymise, None) => Some(match self.key {
                Some(key) => PseudonymKey::new(key, KeySource::Builder),
                None => match self.env.get(KEY_ENV) {
                    Some(value) => {
                        PseudonymKey::new(key::parse_env_key(&value)?, KeySource::Environment)
                    }
                    None => PseudonymKey::per_process(),
                },
            }),
        };

        let scanner = Scanner::new(&names, &stems, &self.detectors, self.custom.clone());
        let headers_where = |list: &[&'static str], secret: bool| {
            list.iter()
                .filter(|h| names.is_secret(h.as_bytes(), Place::Field) == secret)
                .map(|h| http::HeaderName::from_static(h))
                .collect()
        };
        let plain_headers = headers_where(super::PROTOCOL_HEADERS, false);
        let secret_headers = headers_where(super::CREDENTIAL_HEADERS, true);
        Ok(Redaction::from_inner(Inner {
            json_filter: KeyFilter::new(&json_paths),
            plain_headers,
            secret_headers,
            names,
            json_paths,
            scanner,
            mode: self.mode,
            key,
            settings: self,
        }))
    }
}

/// Shows the settings, never the key.
impl fmt::Debug for RedactionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactionBuilder")
            .field("default_names", &self.default_names)
            .field("names", &self.names)
            .field("allowed", &self.allowed)
            .field("json_paths", &self.json_paths)
            .field("detectors", &self.detectors)
            .field("custom", &self.custom)
            .field("mode", &self.mode)
            .field("key_set", &self.key.is_some())
            .finish()
    }
}
