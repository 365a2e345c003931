//! Configuration: a builder in code, overridable from the environment.
//!
//! Operators expect to turn recording on and off and move the files without a rebuild,
//! so every setting has an environment variable, and the environment wins over the
//! code when [`ConfigBuilder::with_env`] is used. A value that does not parse is an
//! error naming the variable and the value; it never falls back to a default silently.
//!
//! The variables are defined once, in [`variables`] ([`VARIABLES`] lists them with
//! their meaning and default; the README's table is made from it).
//!
//! Sizes accept a plain byte count or a unit: `512KiB`, `64MiB`, `1GiB`, `10MB`.
//! Durations use humantime's syntax: `500ms`, `10s`, `5m`.

pub mod variables;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use variables::{
    BUILD_VERSION, CHANNEL_CAPACITY, CHUNK_BYTES, DISK_POLICY, ENABLED, ENCRYPT_TO, FLUSH, FSYNC,
    GIT_COMMIT, KEEP, KEEP_LATENCY, MAX_CAPTURE_RATE, MAX_CAPTURES, MAX_DISK_BYTES,
    MAX_IN_FLIGHT_BYTES, MAX_WINDOW, NODE_NAME, POD_NAME, POD_NAMESPACE, POLICY_FILE,
    RECORDING_PATH, REGION, SAMPLE_RATE, SEGMENT_MAX_AGE, SEGMENT_MAX_BYTES, SERVICE, SHIP_DELETE,
    SHIP_INTERVAL, SHIP_URL, SHUTDOWN_TIMEOUT, TRIGGER_HEADER, TRIGGER_TOKEN,
};
pub use variables::{VARIABLES, Variable};

use serde::{Deserialize, Serialize};

/// When the writer hands written frames to the operating system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlushPolicy {
    /// Write after every batch drained from the channel: a crash loses at most what was
    /// still in the channel.
    EveryBatch,
    /// Accumulate frames and write at most this often: fewer, larger writes.
    Interval(Duration),
}

/// What the writer does when the recording path would exceed its disk budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskPolicy {
    /// Delete the oldest closed segments under the recording path until it fits.
    DeleteOldest,
    /// Stop writing; further recordings are dropped and counted.
    StopRecording,
}

/// A bad configuration value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable has a value that does not parse or is out of range.
    #[error("invalid value {value:?} for {var}: {reason}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A value (set in code, or read from the environment and valid on its own) is out
    /// of range, or does not fit with another.
    #[error("invalid {setting}{}: {reason}", var_suffix(.var))]
    Invalid {
        /// The builder setting.
        setting: &'static str,
        /// The environment variable that sets it too, if one does.
        var: Option<Variable>,
        /// What is wrong.
        reason: String,
    },
}

fn var_suffix(var: &Option<Variable>) -> String {
    var.map(|v| format!(" ({})", v.name)).unwrap_or_default()
}

/// The recorder's configuration. Build it with [`Config::builder`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Master switch; when off the recorder starts no thread and records nothing.
    pub enabled: bool,
    /// Root directory of the recordings.
    pub recording_path: PathBuf,
    /// Service name.
    pub service: String,
    /// Service version, stored in session metadata.
    pub service_version: String,
    /// Share of requests recorded by ratio sampling, from 0 to 1.
    pub sample_rate: f64,
    /// Messages the hand-off channel holds.
    pub channel_capacity: usize,
    /// Bytes allowed in flight between the request path and the disk.
    pub max_in_flight_bytes: usize,
    /// Size past which a recording is sent in chunks.
    pub chunk_bytes: usize,
    /// Target size of one frame; the writer closes a frame past it.
    pub frame_target_bytes: usize,
    /// Segment size past which it is closed.
    pub segment_max_bytes: u64,
    /// Segment age past which it is closed.
    pub segment_max_age: Duration,
    /// When frames are handed to the OS.
    pub flush: FlushPolicy,
    /// Whether to fsync after each write.
    pub fsync: bool,
    /// Disk budget for the whole recording path.
    pub max_disk_bytes: Option<u64>,
    /// What to do at the disk budget.
    pub disk_policy: DiskPolicy,
    /// Longest the guard waits for the writer when dropped.
    pub shutdown_timeout: Duration,
    /// Unix permission bits of directories the recorder creates.
    pub dir_mode: u32,
    /// Unix permission bits of files the recorder creates.
    pub file_mode: u32,
    /// The trigger header's name.
    pub trigger_header: String,
    /// The token the trigger header must carry; `None` accepts any value.
    #[serde(skip_serializing)]
    pub trigger_token: Option<String>,
    /// Tail keep's status set (`5xx,429`); `None`: tail keep off.
    pub keep_statuses: Option<String>,
    /// Tail keep's latency threshold.
    pub keep_latency: Option<Duration>,
    /// The longest an investigation window (or a capture) may stay open.
    pub max_window: Duration,
    /// The most captures active at once.
    pub max_captures: usize,
    /// The policy file, read at start and again whenever it changes.
    pub policy_file: Option<PathBuf>,
    /// Where this process runs and what it was built from, for its sessions' metadata.
    #[serde(default)]
    pub origin: crate::metadata::Origin,
    /// The most recordings per second all captures together may claim.
    pub max_capture_rate: u64,
    /// Where a background thread ships closed segments (`s3://bucket/prefix`, `gs://…`,
    /// `az://…`, a directory), as `retrace ship --watch` would; `None`: not shipped.
    /// Needs the `ship` feature; see the `retrace::ship` module it enables.
    #[serde(default)]
    pub ship_url: Option<String>,
    /// How often the shipping thread looks for closed segments.
    #[serde(default = "default_ship_interval")]
    pub ship_interval: Duration,
    /// Whether the shipping thread deletes each segment once its upload is verified.
    #[serde(default)]
    pub ship_delete: bool,
    /// The age X25519 recipients (`age1…`) segments and indexes are encrypted to;
    /// empty: not encrypted. Several recipients let a key be rotated: a file reads with
    /// the identity of any of them. Needs the `encryption` feature. See
    /// [`encryption`](crate::encryption).
    #[serde(default)]
    pub encrypt_to: Vec<String>,
    /// What is redacted, by every layer, boundary and outgoing call that records
    /// through this recorder (the trigger header's name is added to it).
    #[serde(skip)]
    pub redaction: crate::Redaction,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: false,
            recording_path: PathBuf::from("./recordings"),
            service: default_service_name(),
            service_version: String::new(),
            sample_rate: 0.0,
            channel_capacity: 1024,
            max_in_flight_bytes: 64 << 20,
            chunk_bytes: 1 << 20,
            frame_target_bytes: 1 << 20,
            segment_max_bytes: 64 << 20,
            segment_max_age: Duration::from_secs(600),
            flush: FlushPolicy::EveryBatch,
            fsync: false,
            max_disk_bytes: None,
            disk_policy: DiskPolicy::DeleteOldest,
            shutdown_timeout: Duration::from_secs(5),
            dir_mode: 0o700,
            file_mode: 0o600,
            trigger_header: crate::policy::TRIGGER_HEADER.to_owned(),
            trigger_token: None,
            keep_statuses: None,
            keep_latency: None,
            max_window: crate::policy::DEFAULT_MAX_WINDOW,
            max_captures: crate::policy::DEFAULT_MAX_ACTIVE_CAPTURES,
            policy_file: None,
            origin: crate::metadata::Origin::default(),
            max_capture_rate: crate::policy::DEFAULT_MAX_CAPTURE_RATE,
            ship_url: None,
            ship_interval: default_ship_interval(),
            ship_delete: false,
            encrypt_to: Vec::new(),
            redaction: crate::Redaction::default(),
        }
    }
}

fn default_ship_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "service".to_owned())
}

impl Config {
    /// A policy builder seeded from this configuration: master switch, sample rate,
    /// trigger header and token, tail keep. [`Recorder::new`](crate::Recorder::new)
    /// builds the recorder's policy with it; a layer may be given another.
    ///
    /// ```
    /// let config = retrace::Config::builder().sample_rate(0.25).build()?;
    /// let policy = config.policy()?.build()?;
    /// assert_eq!(policy.sample_rate(), 0.25);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn policy(&self) -> Result<crate::policy::PolicyBuilder, crate::policy::PolicyError> {
        use crate::policy::{Policy, TailKeep};
        let mut b = Policy::builder()
            .enabled(self.enabled)
            .sample_rate(self.sample_rate)
            .trigger_header(&self.trigger_header)
            .trigger_token(self.trigger_token.clone())
            .max_window(self.max_window)
            .max_active_captures(self.max_captures)
            .max_capture_rate(self.max_capture_rate);
        if let Some(set) = &self.keep_statuses {
            b = b.tail(Some(
                TailKeep::default()
                    .statuses(set)?
                    .latency(self.keep_latency),
            ));
        }
        Ok(b)
    }

    /// A builder starting from the defaults (recording off).
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The defaults overridden by the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().with_env().build()
    }
}

/// Where environment overrides come from: nowhere, the process, or a given map (for
/// tests and configuration read from elsewhere). Shared by every builder that reads
/// `RETRACE_*` variables.
#[derive(Clone, Debug, Default)]
pub(crate) enum EnvSource {
    #[default]
    None,
    Process,
    Map(HashMap<String, String>),
}

impl EnvSource {
    /// A source holding exactly these variables.
    pub(crate) fn vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self::Map(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub(crate) fn get(&self, var: &str) -> Option<String> {
        match self {
            Self::None => None,
            Self::Process => std::env::var_os(var).map(|v| v.to_string_lossy().into_owned()),
            Self::Map(m) => m.get(var).cloned(),
        }
    }
}

/// Builds a [`Config`]; validation happens in [`build`](Self::build), which returns a
/// `Result` rather than panicking in a setter.
///
/// ```
/// use retrace::Config;
/// let config = Config::builder()
///     .enabled(true)
///     .service("checkout")
///     .recording_path("/tmp/recordings")
///     .sample_rate(0.1)
///     .build()
///     .unwrap();
/// assert_eq!(config.sample_rate, 0.1);
/// assert!(Config::builder().sample_rate(1.5).build().is_err());
/// ```
#[derive(Debug, Default)]
pub struct ConfigBuilder {
    config: Config,
    env: EnvSource,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl ConfigBuilder {
    setter!(
        /// Turns recording on or off.
        enabled: bool
    );
    setter!(
        /// Share of requests recorded by ratio sampling, from 0 to 1.
        sample_rate: f64
    );
    setter!(
        /// Messages the hand-off channel holds.
        channel_capacity: usize
    );
    setter!(
        /// Bytes allowed in flight between the request path and the disk.
        max_in_flight_bytes: usize
    );
    setter!(
        /// Size past which a recording is sent in chunks.
        chunk_bytes: usize
    );
    setter!(
        /// Target size of one frame.
        frame_target_bytes: usize
    );
    setter!(
        /// Segment size past which it is closed.
        segment_max_bytes: u64
    );
    setter!(
        /// Segment age past which it is closed.
        segment_max_age: Duration
    );
    setter!(
        /// When frames are handed to the OS.
        flush: FlushPolicy
    );
    setter!(
        /// Whether to fsync after each write.
        fsync: bool
    );
    setter!(
        /// Disk budget for the whole recording path.
        max_disk_bytes: Option<u64>
    );
    setter!(
        /// What to do at the disk budget.
        disk_policy: DiskPolicy
    );
    setter!(
        /// Longest the guard waits for the writer when dropped.
        shutdown_timeout: Duration
    );
    setter!(
        /// The longest an investigation window (or a capture) may stay open.
        max_window: Duration
    );
    setter!(
        /// The most captures active at once.
        max_captures: usize
    );
    setter!(
        /// The most recordings per second all captures together may claim.
        max_capture_rate: u64
    );
    setter!(
        /// Unix permission bits of directories the recorder creates.
        dir_mode: u32
    );
    setter!(
        /// Unix permission bits of files the recorder creates.
        file_mode: u32
    );

    /// The policy file: read when the recorder starts (a file that cannot be used is
    /// an error then) and again whenever it changes (a bad version is refused and the
    /// policy in force stays). See [`policy::PolicyFile`](crate::policy::PolicyFile).
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.policy_file = Some(path.into());
        self
    }

    /// Ships closed segments to `url` from a background thread
    /// ([`Config::ship_url`]; needs the `ship` feature).
    pub fn ship_to(mut self, url: impl Into<String>) -> Self {
        self.config.ship_url = Some(url.into());
        self
    }

    /// How often the shipping thread looks for closed segments
    /// ([`Config::ship_interval`]).
    pub fn ship_interval(mut self, interval: Duration) -> Self {
        self.config.ship_interval = interval;
        self
    }

    /// Encrypts segments and indexes to these age X25519 recipients
    /// ([`Config::encrypt_to`]; needs the `encryption` feature).
    pub fn encrypt_to<I, S>(mut self, recipients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.encrypt_to = recipients.into_iter().map(Into::into).collect();
        self
    }

    /// Whether shipped segments are deleted locally ([`Config::ship_delete`]).
    pub fn ship_delete(mut self, delete: bool) -> Self {
        self.config.ship_delete = delete;
        self
    }

    /// Where this process runs and what it was built from (a commit from the build,
    /// say: `git_commit: option_env!("GIT_COMMIT").map(Into::into)`); the environment
    /// fills what is left out when read.
    pub fn origin(mut self, origin: crate::metadata::Origin) -> Self {
        self.config.origin = origin;
        self
    }

    /// Root directory of the recordings.
    pub fn recording_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.recording_path = path.into();
        self
    }

    /// Service name.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.config.service = name.into();
        self
    }

    /// The trigger header's name.
    pub fn trigger_header(mut self, name: impl Into<String>) -> Self {
        self.config.trigger_header = name.into();
        self
    }

    /// The token the trigger header must carry.
    pub fn trigger_token(mut self, token: Option<String>) -> Self {
        self.config.trigger_token = token;
        self
    }

    /// Turns tail keep on with a status set such as `5xx,429` (`None`: off).
    pub fn keep_statuses(mut self, set: Option<String>) -> Self {
        self.config.keep_statuses = set;
        self
    }

    /// Tail keep's latency threshold.
    pub fn keep_latency(mut self, threshold: Option<Duration>) -> Self {
        self.config.keep_latency = threshold;
        self
    }

    /// Service version, stored in session metadata.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.config.service_version = version.into();
        self
    }

    /// What every capture point of the recorder redacts (default:
    /// [`Redaction::default`](crate::Redaction::default)).
    pub fn redaction(mut self, redaction: crate::Redaction) -> Self {
        self.config.redaction = redaction;
        self
    }

    /// Lets the process environment override what was set in code.
    pub fn with_env(mut self) -> Self {
        self.env = EnvSource::Process;
        self
    }

    /// Lets the given variables override what was set in code, as the environment would
    /// (for tests and for configuration read from elsewhere).
    pub fn with_env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.env = EnvSource::vars(vars);
        self
    }

    /// Applies the environment, validates and returns the configuration.
    pub fn build(self) -> Result<Config, ConfigError> {
        let env = self.env;
        let mut c = self.config;
        if let Some(v) = env.get(ENABLED.name) {
            c.enabled = parse_bool(ENABLED.name, &v)?;
        }
        if let Some(v) = env.get(RECORDING_PATH.name) {
            if v.trim().is_empty() {
                return Err(invalid_env(RECORDING_PATH.name, &v, "empty path"));
            }
            c.recording_path = PathBuf::from(v);
        }
        if let Some(v) = env.get(SERVICE.name) {
            c.service = v;
        }
        if let Some(v) = env.get(SAMPLE_RATE.name) {
            c.sample_rate = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    invalid_env(SAMPLE_RATE.name, &v, "expected a number from 0 to 1")
                })?;
        }
        if let Some(v) = env.get(CHANNEL_CAPACITY.name) {
            c.channel_capacity = parse_count(CHANNEL_CAPACITY.name, &v)?;
        }
        if let Some(v) = env.get(MAX_IN_FLIGHT_BYTES.name) {
            c.max_in_flight_bytes = parse_size(MAX_IN_FLIGHT_BYTES.name, &v)? as usize;
        }
        if let Some(v) = env.get(CHUNK_BYTES.name) {
            c.chunk_bytes = parse_size(CHUNK_BYTES.name, &v)? as usize;
        }
        if let Some(v) = env.get(SEGMENT_MAX_BYTES.name) {
            c.segment_max_bytes = parse_size(SEGMENT_MAX_BYTES.name, &v)?;
        }
        if let Some(v) = env.get(SEGMENT_MAX_AGE.name) {
            c.segment_max_age = parse_duration(SEGMENT_MAX_AGE.name, &v)?;
        }
        if let Some(v) = env.get(FLUSH.name) {
            c.flush = if v.trim().eq_ignore_ascii_case("batch") {
                FlushPolicy::EveryBatch
            } else {
                FlushPolicy::Interval(parse_duration(FLUSH.name, &v).map_err(|_| {
                    invalid_env(
                        FLUSH.name,
                        &v,
                        "expected `batch` or a duration such as `200ms`",
                    )
                })?)
            };
        }
        if let Some(v) = env.get(FSYNC.name) {
            c.fsync = parse_bool(FSYNC.name, &v)?;
        }
        if let Some(v) = env.get(MAX_DISK_BYTES.name) {
            c.max_disk_bytes = Some(parse_size(MAX_DISK_BYTES.name, &v)?);
        }
        if let Some(v) = env.get(DISK_POLICY.name) {
            c.disk_policy = match v.trim() {
                "delete-oldest" => DiskPolicy::DeleteOldest,
                "stop" => DiskPolicy::StopRecording,
                _ => {
                    return Err(invalid_env(
                        DISK_POLICY.name,
                        &v,
                        "expected `delete-oldest` or `stop`",
                    ));
                }
            };
        }
        if let Some(v) = env.get(TRIGGER_HEADER.name) {
            if http::HeaderName::from_bytes(v.trim().as_bytes()).is_err() {
                return Err(invalid_env(
                    TRIGGER_HEADER.name,
                    &v,
                    "not a valid header name",
                ));
            }
            c.trigger_header = v.trim().to_ascii_lowercase();
        }
        if let Some(v) = env.get(TRIGGER_TOKEN.name) {
            if v.trim().is_empty() {
                return Err(invalid_env(TRIGGER_TOKEN.name, &v, "the token is empty"));
            }
            c.trigger_token = Some(v);
        }
        if let Some(v) = env.get(KEEP.name) {
            c.keep_statuses = if v.trim().eq_ignore_ascii_case("off") {
                None
            } else {
                crate::policy::parse_status_set(&v).map_err(|_| {
                    invalid_env(
                        KEEP.name,
                        &v,
                        "expected `off` or statuses such as `5xx,429`",
                    )
                })?;
                Some(v)
            };
        }
        if let Some(v) = env.get(KEEP_LATENCY.name) {
            c.keep_latency = Some(parse_duration(KEEP_LATENCY.name, &v)?);
        }
        if let Some(v) = env.get(SHUTDOWN_TIMEOUT.name) {
            c.shutdown_timeout = parse_duration(SHUTDOWN_TIMEOUT.name, &v)?;
        }
        if let Some(v) = env.get(MAX_WINDOW.name) {
            c.max_window = parse_duration(MAX_WINDOW.name, &v)?;
        }
        let o = &mut c.origin;
        for (var, field) in [
            (POD_NAME, &mut o.pod),
            (NODE_NAME, &mut o.node),
            (POD_NAMESPACE, &mut o.namespace),
            (REGION, &mut o.region),
            (BUILD_VERSION, &mut o.build_version),
            (GIT_COMMIT, &mut o.git_commit),
        ] {
            if let Some(v) = env.get(var.name).filter(|v| !v.trim().is_empty()) {
                *field = Some(v.trim().to_owned());
            }
        }
        if let Some(v) = env.get(POLICY_FILE.name) {
            if v.trim().is_empty() {
                return Err(invalid_env(POLICY_FILE.name, &v, "expected a file path"));
            }
            c.policy_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env.get(MAX_CAPTURES.name) {
            c.max_captures = parse_count(MAX_CAPTURES.name, &v)?;
        }
        if let Some(v) = env.get(MAX_CAPTURE_RATE.name) {
            c.max_capture_rate = parse_count(MAX_CAPTURE_RATE.name, &v)? as u64;
        }
        if let Some(v) = env.get(SHIP_URL.name).filter(|v| !v.trim().is_empty()) {
            c.ship_url = Some(v.trim().to_owned());
        }
        if let Some(v) = env.get(SHIP_INTERVAL.name) {
            c.ship_interval = parse_duration(SHIP_INTERVAL.name, &v)?;
        }
        if let Some(v) = env.get(SHIP_DELETE.name) {
            c.ship_delete = parse_bool(SHIP_DELETE.name, &v)?;
        }
        if let Some(v) = env.get(ENCRYPT_TO.name) {
            c.encrypt_to = v
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect();
        }
        validate(&c)?;
        fit_segments_to_budget(&mut c)?;
        Ok(c)
    }
}

impl Config {
    /// Checks the whole configuration, each value and how they fit together; the
    /// error names the setting, its environment variable and what is wrong.
    /// [`ConfigBuilder::build`] and [`Recorder::new`](crate::Recorder::new) call it, so
    /// a configuration a recorder runs with has passed it.
    ///
    /// ```
    /// let mut config = retrace::Config::default();
    /// config.channel_capacity = 0;
    /// assert_eq!(
    ///     config.validate().unwrap_err().to_string(),
    ///     "invalid channel_capacity (RETRACE_CHANNEL_CAPACITY): must be at least 1"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate(self)?;
        check_budget(self)
    }
}

/// Whether segments can be shipped to `url`: the `ship` feature is on and the URL
/// names a store (no connection is made).
fn check_ship_url(url: &str) -> Result<(), String> {
    #[cfg(feature = "ship")]
    {
        if !url.contains("://") {
            return Ok(()); // a directory, created when shipping starts
        }
        crate::ship::Destination::parse(url)
            .map(drop)
            .map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "ship"))]
    {
        Err(format!(
            "cannot ship to {url:?}: this build of retrace lacks its `ship` cargo feature"
        ))
    }
}

/// The longest `max_window` may be: an investigation left open for more than a day is
/// a recording mode, which sampling is for.
const MAX_WINDOW_CAP: Duration = Duration::from_secs(24 * 3600);

fn validate(c: &Config) -> Result<(), ConfigError> {
    let invalid = |setting, var: Variable, reason: &str| {
        Err(ConfigError::Invalid {
            setting,
            var: Some(var),
            reason: reason.to_owned(),
        })
    };
    if !(0.0..=1.0).contains(&c.sample_rate) {
        return invalid(
            "sample_rate",
            SAMPLE_RATE,
            &format!("{} is not between 0 and 1", c.sample_rate),
        );
    }
    if c.service.trim().is_empty() {
        return invalid("service", SERVICE, "the service name is empty");
    }
    if c.max_window.is_zero() || c.max_window > MAX_WINDOW_CAP {
        return invalid(
            "max_window",
            MAX_WINDOW,
            &format!(
                "{} is not more than 0 and at most {}",
                humantime::format_duration(c.max_window),
                humantime::format_duration(MAX_WINDOW_CAP)
            ),
        );
    }
    if let Some(url) = &c.ship_url {
        check_ship_url(url).or_else(|reason| invalid("ship_url", SHIP_URL, &reason))?;
        if c.ship_interval < Duration::from_millis(100) {
            return invalid(
                "ship_interval",
                SHIP_INTERVAL,
                &format!(
                    "{} is shorter than 100ms",
                    humantime::format_duration(c.ship_interval)
                ),
            );
        }
    }
    if !c.encrypt_to.is_empty() {
        crate::encryption::check_recipients(&c.encrypt_to)
            .or_else(|e| invalid("encrypt_to", ENCRYPT_TO, &e.to_string()))?;
    }
    if c.max_captures == 0 {
        return invalid("max_captures", MAX_CAPTURES, "must be at least 1");
    }
    if c.max_capture_rate == 0 {
        return invalid("max_capture_rate", MAX_CAPTURE_RATE, "must be at least 1");
    }
    if c.channel_capacity == 0 {
        return invalid("channel_capacity", CHANNEL_CAPACITY, "must be at least 1");
    }
    if c.max_in_flight_bytes == 0 {
        return invalid(
            "max_in_flight_bytes",
            MAX_IN_FLIGHT_BYTES,
            "must be at least 1",
        );
    }
    if c.chunk_bytes < 1024 {
        return invalid("chunk_bytes", CHUNK_BYTES, "must be at least 1 KiB");
    }
    if c.frame_target_bytes == 0 || c.frame_target_bytes > crate::segment::MAX_FRAME_BYTES / 2 {
        return Err(ConfigError::Invalid {
            setting: "frame_target_bytes",
            var: None,
            reason: format!(
                "must be between 1 and {}",
                crate::segment::MAX_FRAME_BYTES / 2
            ),
        });
    }
    if let Some(set) = &c.keep_statuses
        && let Err(e) = crate::policy::parse_status_set(set)
    {
        return invalid("keep_statuses", KEEP, &e.to_string());
    }
    if let (Some(latency), None) = (c.keep_latency, &c.keep_statuses) {
        return invalid(
            "keep_latency",
            KEEP_LATENCY,
            &format!(
                "{} is a tail keep rule, and tail keep is off: set keep_statuses ({}) too, \
                 such as `5xx`",
                humantime::format_duration(latency),
                KEEP.name
            ),
        );
    }
    if c.segment_max_bytes < MIN_SEGMENT_BYTES {
        return invalid(
            "segment_max_bytes",
            SEGMENT_MAX_BYTES,
            "must be at least 4 KiB",
        );
    }
    if let FlushPolicy::Interval(d) = c.flush
        && d.is_zero()
    {
        return invalid("flush", FLUSH, "the interval must be above zero");
    }
    if c.trigger_header.is_empty()
        || http::HeaderName::from_bytes(c.trigger_header.as_bytes()).is_err()
    {
        return invalid(
            "trigger_header",
            TRIGGER_HEADER,
            &format!("{:?} is not a valid header name", c.trigger_header),
        );
    }
    Ok(())
}

/// The smallest segment size.
pub(crate) const MIN_SEGMENT_BYTES: u64 = 4096;

/// With a disk budget, segments must be small enough that closed ones can be deleted
/// to make room (the open one never is): at most a quarter of the budget. A larger
/// segment size is lowered to that, and the change logged; a budget too small for
/// four of the smallest segments is an error.
/// A disk budget too small for four of the smallest segments is an error.
fn check_budget(c: &Config) -> Result<(), ConfigError> {
    let Some(max) = c.max_disk_bytes else {
        return Ok(());
    };
    let min = crate::writer::MIN_BUDGET;
    if max < min {
        return Err(ConfigError::Invalid {
            setting: "max_disk_bytes",
            var: Some(MAX_DISK_BYTES),
            reason: format!(
                "{max} bytes cannot hold a recording: the budget must be at least {min} bytes \
                 (four segments of 4 KiB and 16 KiB for the session metadata)"
            ),
        });
    }
    Ok(())
}

fn fit_segments_to_budget(c: &mut Config) -> Result<(), ConfigError> {
    check_budget(c)?;
    let Some(max) = c.max_disk_bytes else {
        return Ok(());
    };
    let fitting = ((max - crate::writer::METADATA_RESERVE) / 4).max(MIN_SEGMENT_BYTES);
    if c.segment_max_bytes > fitting {
        tracing::warn!(
            "retrace: segment_max_bytes (RETRACE_SEGMENT_MAX_BYTES) lowered from {} to {} bytes \
             to fit max_disk_bytes (RETRACE_MAX_DISK_BYTES) of {} bytes: a segment is at most \
             a quarter of the budget, so closed segments can make room",
            c.segment_max_bytes,
            fitting,
            max
        );
        c.segment_max_bytes = fitting;
    }
    Ok(())
}

fn invalid_env(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" | "" => Ok(false),
        _ => Err(invalid_env(
            var,
            value,
            "expected 1/0, true/false, on/off or yes/no",
        )),
    }
}

fn parse_count(var: &'static str, value: &str) -> Result<usize, ConfigError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| invalid_env(var, value, "expected a whole number above zero"))
}

fn parse_duration(var: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|e| {
        invalid_env(
            var,
            value,
            &format!("expected a duration such as `10s`: {e}"),
        )
    })
}

/// Parses a byte size: a plain count or a number with a unit (`KiB`, `MiB`, `GiB`, `KB`,
/// `MB`, `GB`, `B`). For the crates' own use (the CLI's size flags).
#[doc(hidden)]
pub fn parse_size(var: &'static str, value: &str) -> Result<u64, ConfigError> {
    let bad = || {
        invalid_env(
            var,
            value,
            "expected a byte size such as `65536` or `64MiB`",
        )
    };
    let text = value.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).filter(|&b| b > 0).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(var: &str, value: &str) -> Result<Config, ConfigError> {
        Config::builder().with_env_vars([(var, value)]).build()
    }

    #[test]
    fn env_overrides_code() {
        let c = Config::builder()
            .enabled(false)
            .sample_rate(0.5)
            .with_env_vars([
                ("RETRACE", "on"),
                ("RETRACE_SAMPLE_RATE", "0.25"),
                ("RETRACE_RECORDING_PATH", "/var/rec"),
                ("RETRACE_SERVICE", "billing"),
                ("RETRACE_FLUSH", "250ms"),
                ("RETRACE_MAX_DISK_BYTES", "2GiB"),
                ("RETRACE_DISK_POLICY", "stop"),
            ])
            .build()
            .unwrap();
        assert!(c.enabled);
        assert_eq!(c.sample_rate, 0.25);
        assert_eq!(c.recording_path, PathBuf::from("/var/rec"));
        assert_eq!(c.service, "billing");
        assert_eq!(c.flush, FlushPolicy::Interval(Duration::from_millis(250)));
        assert_eq!(c.max_disk_bytes, Some(2 << 30));
        assert_eq!(c.disk_policy, DiskPolicy::StopRecording);
    }

    #[test]
    fn the_longest_window_is_bounded() {
        for (value, shown) in [("0s", "0s"), ("2days", "2days")] {
            assert_eq!(
                with("RETRACE_MAX_WINDOW", value).unwrap_err().to_string(),
                format!(
                    "invalid max_window (RETRACE_MAX_WINDOW): {shown} is not more than 0 and at most 1day"
                )
            );
        }
        let c = with("RETRACE_MAX_WINDOW", "15m").unwrap();
        assert_eq!(c.max_window, Duration::from_secs(900));
        assert_eq!(
            c.policy().unwrap().build().unwrap().max_window(),
            Duration::from_secs(900)
        );
    }

    #[test]
    #[cfg(feature = "encryption")]
    fn a_bad_recipient_names_the_variable_and_the_value() {
        let err = with("RETRACE_ENCRYPT_TO", "age1nope")
            .unwrap_err()
            .to_string();
        assert!(err.contains("RETRACE_ENCRYPT_TO"), "{err}");
        assert!(
            err.contains("\"age1nope\" is not an age X25519 recipient"),
            "{err}"
        );
    }

    #[test]
    fn each_bad_env_value_names_the_variable_and_value() {
        let cases = [
            ("RETRACE", "maybe"),
            ("RETRACE_RECORDING_PATH", " "),
            ("RETRACE_SAMPLE_RATE", "1.5"),
            ("RETRACE_SAMPLE_RATE", "ten percent"),
            ("RETRACE_CHANNEL_CAPACITY", "0"),
            ("RETRACE_CHANNEL_CAPACITY", "-3"),
            ("RETRACE_MAX_IN_FLIGHT_BYTES", "lots"),
            ("RETRACE_CHUNK_BYTES", "12XB"),
            ("RETRACE_SEGMENT_MAX_BYTES", "0"),
            ("RETRACE_SEGMENT_MAX_AGE", "soon"),
            ("RETRACE_FLUSH", "sometimes"),
            ("RETRACE_FSYNC", "2"),
            ("RETRACE_MAX_DISK_BYTES", "1.5GiB"),
            ("RETRACE_DISK_POLICY", "panic"),
            ("RETRACE_SHUTDOWN_TIMEOUT", "forever"),
            ("RETRACE_MAX_WINDOW", "all day"),
            ("RETRACE_MAX_CAPTURES", "0"),
            ("RETRACE_MAX_CAPTURE_RATE", "fast"),
            ("RETRACE_TRIGGER_HEADER", "bad header"),
            ("RETRACE_TRIGGER_TOKEN", ""),
            ("RETRACE_KEEP", "errors"),
            ("RETRACE_KEEP_LATENCY", "slow"),
            ("RETRACE_SHIP_INTERVAL", "often"),
            ("RETRACE_SHIP_DELETE", "2"),
        ];
        for (var, value) in cases {
            let err = with(var, value).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("invalid value {value:?} for {var}: ")),
                "{var}={value:?} gave {text:?}"
            );
            match err {
                ConfigError::InvalidEnv {
                    var: v, value: val, ..
                } => {
                    assert_eq!((v, val.as_str()), (var, value));
                }
                other => panic!("{var}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("X", "65536").unwrap(), 65536);
        assert_eq!(parse_size("X", "64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("X", "10 MB").unwrap(), 10_000_000);
        assert!(parse_size("X", "99999999999999999999GiB").is_err());
    }

    #[test]
    fn code_values_are_validated() {
        let err = Config::builder().channel_capacity(0).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid channel_capacity (RETRACE_CHANNEL_CAPACITY): must be at least 1"
        );
        assert!(Config::builder().service(" ").build().is_err());
    }

    #[test]
    fn settings_that_do_not_fit_together_are_refused_naming_both() {
        let err = Config::builder()
            .with_env_vars([("RETRACE_KEEP_LATENCY", "2s")])
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid keep_latency (RETRACE_KEEP_LATENCY): 2s is a tail keep rule, and tail \
             keep is off: set keep_statuses (RETRACE_KEEP) too, such as `5xx`"
        );
        let ok = Config::builder()
            .with_env_vars([("RETRACE_KEEP_LATENCY", "2s"), ("RETRACE_KEEP", "5xx")])
            .build();
        assert!(ok.is_ok(), "{ok:?}");
        // A configuration changed after it was built is checked again by the recorder.
        let mut config = Config::builder().enabled(true).build().unwrap();
        config.trigger_header = "bad header".to_owned();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "invalid trigger_header (RETRACE_TRIGGER_HEADER): \"bad header\" is not a valid \
             header name"
        );
    }
}
