//! The environment variables the SDK reads: one definition each, which the code reads
//! by and the documentation is made from ([`table`]; a test keeps the README's table
//! equal to it).

/// An environment variable the SDK reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// What it sets.
    pub meaning: &'static str,
    /// Its value when unset, as a person reads it.
    pub default: &'static str,
}

impl AsRef<str> for Variable {
    fn as_ref(&self) -> &str {
        self.name
    }
}

macro_rules! variables {
    ($($(#[$doc:meta])* $id:ident = $name:literal, $meaning:literal, $default:literal;)*) => {
        $(
            $(#[$doc])*
            pub const $id: Variable = Variable {
                name: $name,
                meaning: $meaning,
                default: $default,
            };
        )*
        /// Every variable, in the order the documentation lists them.
        pub const VARIABLES: &[Variable] = &[$($id),*];
    };
}

variables! {
    /// The master switch.
    ENABLED = "RETRACE", "master switch (`1`/`0`, `on`/`off`, `true`/`false`)", "off";
    /// [`Config::recording_path`](super::Config::recording_path).
    RECORDING_PATH = "RETRACE_RECORDING_PATH", "root directory of the recordings", "`./recordings`";
    /// [`Config::service`](super::Config::service).
    SERVICE = "RETRACE_SERVICE", "service name, used in session names and summaries", "the executable's name";
    /// [`Config::sample_rate`](super::Config::sample_rate).
    SAMPLE_RATE = "RETRACE_SAMPLE_RATE", "share of requests recorded by ratio sampling, 0 to 1 (deterministic on the trace id)", "`0`";
    /// [`Config::trigger_header`](super::Config::trigger_header).
    TRIGGER_HEADER = "RETRACE_TRIGGER_HEADER", "header that asks for a request to be recorded", "`x-retrace-record`";
    /// [`Config::trigger_token`](super::Config::trigger_token).
    TRIGGER_TOKEN = "RETRACE_TRIGGER_TOKEN", "value the trigger header must carry; also signs parent propagation", "none: any value";
    /// [`Config::keep_statuses`](super::Config::keep_statuses).
    KEEP = "RETRACE_KEEP", "tail keep: record the rest tentatively, keep these statuses (`5xx,429`), or `off`", "off";
    /// [`Config::keep_latency`](super::Config::keep_latency).
    KEEP_LATENCY = "RETRACE_KEEP_LATENCY", "tail keep also keeps requests slower than this (`2s`); needs `RETRACE_KEEP`", "none";
    /// [`Config::channel_capacity`](super::Config::channel_capacity).
    CHANNEL_CAPACITY = "RETRACE_CHANNEL_CAPACITY", "messages the hand-off channel holds (1 or more)", "`1024`";
    /// [`Config::max_in_flight_bytes`](super::Config::max_in_flight_bytes).
    MAX_IN_FLIGHT_BYTES = "RETRACE_MAX_IN_FLIGHT_BYTES", "bytes allowed between the request path and the disk", "`64MiB`";
    /// [`Config::chunk_bytes`](super::Config::chunk_bytes).
    CHUNK_BYTES = "RETRACE_CHUNK_BYTES", "a long recording is sent in chunks of this size (1KiB or more)", "`1MiB`";
    /// [`Config::segment_max_bytes`](super::Config::segment_max_bytes).
    SEGMENT_MAX_BYTES = "RETRACE_SEGMENT_MAX_BYTES", "a segment file is closed past this size (4KiB or more)", "`64MiB`";
    /// [`Config::segment_max_age`](super::Config::segment_max_age).
    SEGMENT_MAX_AGE = "RETRACE_SEGMENT_MAX_AGE", "a segment file is closed past this age", "`10m`";
    /// [`Config::flush`](super::Config::flush).
    FLUSH = "RETRACE_FLUSH", "`batch` (write every batch) or an interval such as `200ms`", "`batch`";
    /// [`Config::fsync`](super::Config::fsync).
    FSYNC = "RETRACE_FSYNC", "fsync after each write", "`0`";
    /// [`Config::max_disk_bytes`](super::Config::max_disk_bytes).
    MAX_DISK_BYTES = "RETRACE_MAX_DISK_BYTES", "disk budget for the whole recording path", "none";
    /// [`Config::disk_policy`](super::Config::disk_policy).
    DISK_POLICY = "RETRACE_DISK_POLICY", "at the budget: `delete-oldest` closed segments, or `stop`", "`delete-oldest`";
    /// [`Config::shutdown_timeout`](super::Config::shutdown_timeout).
    SHUTDOWN_TIMEOUT = "RETRACE_SHUTDOWN_TIMEOUT", "longest the guard waits for the writer on drop", "`5s`";
    /// [`Config::max_window`](super::Config::max_window).
    MAX_WINDOW = "RETRACE_MAX_WINDOW", "the longest an investigation window or capture may stay open (up to `24h`)", "`1h`";
    /// [`Config::policy_file`](super::Config::policy_file).
    POLICY_FILE = "RETRACE_POLICY_FILE", "a TOML policy file (rates, keep rules, routes, windows, captures), read again when it changes", "none";
    /// [`Config::max_captures`](super::Config::max_captures).
    MAX_CAPTURES = "RETRACE_MAX_CAPTURES", "the most captures active at once", "`10`";
    /// [`Config::max_capture_rate`](super::Config::max_capture_rate).
    MAX_CAPTURE_RATE = "RETRACE_MAX_CAPTURE_RATE", "the most recordings per second all captures together may take", "`100`";
    /// [`Config::ship_url`](super::Config::ship_url).
    SHIP_URL = "RETRACE_SHIP_URL", "ship closed segments from a background thread to `s3://bucket/prefix`, `gs://`, `az://` or a directory (the `ship` feature)", "none";
    /// [`Config::ship_interval`](super::Config::ship_interval).
    SHIP_INTERVAL = "RETRACE_SHIP_INTERVAL", "how often the shipping thread looks for closed segments", "`10s`";
    /// [`Config::ship_delete`](super::Config::ship_delete).
    SHIP_DELETE = "RETRACE_SHIP_DELETE", "delete each segment once its upload is verified", "off";
    /// [`Config::encrypt_to`](super::Config::encrypt_to).
    ENCRYPT_TO = "RETRACE_ENCRYPT_TO", "encrypt segments and indexes to these age X25519 recipients (`age1…`, comma-separated; the `encryption` feature)", "none: not encrypted";
    /// The admin service's API keys (`retrace_tower::admin`): a file of `id scopes blake3:hash` lines.
    ADMIN_KEYS_FILE = "RETRACE_ADMIN_KEYS_FILE", "the admin service's API keys file; without one only `/health` is served", "none";
    /// Where the admin service listens when it runs on its own listener.
    ADMIN_ADDR = "RETRACE_ADMIN_ADDR", "the admin service's own listener (loopback unless said otherwise)", "`127.0.0.1:9736`";
    /// The audit log the admin service and the CLI append to.
    AUDIT_LOG = "RETRACE_AUDIT_LOG", "the audit log of admin actions and reads of recordings", "`<recording path>/audit.log`";
    /// The pod, as the Kubernetes downward API gives it ([`Origin`](crate::metadata::Origin)).
    POD_NAME = "POD_NAME", "the pod's name, kept in each session's metadata (`retrace ls --pod`)", "none";
    /// The node, from the downward API.
    NODE_NAME = "NODE_NAME", "the node's name, kept in each session's metadata", "none";
    /// The namespace, from the downward API.
    POD_NAMESPACE = "POD_NAMESPACE", "the namespace, kept in each session's metadata", "none";
    /// The region.
    REGION = "RETRACE_REGION", "the region, kept in each session's metadata", "none";
    /// The build's version.
    BUILD_VERSION = "RETRACE_BUILD_VERSION", "the build's version, kept in each session's metadata", "none";
    /// The commit the build came from.
    GIT_COMMIT = "RETRACE_GIT_COMMIT", "the commit the build came from, kept in each session's metadata", "none";
    /// The pseudonymisation key ([`RedactionBuilder::key`](crate::RedactionBuilder::key)).
    REDACTION_KEY = "RETRACE_REDACTION_KEY", "64 hex digits: key for pseudonymised values (same key, same pseudonym)", "per process";
    /// Regression tests store new answers as expectations (`retrace_tower::Regression`).
    ACCEPT = "RETRACE_ACCEPT", "regression tests store the new answers as expectations (`1`)", "off";
}

/// The variables as a Markdown table: `| variable | meaning | default |`.
pub fn table() -> String {
    let mut out = String::from("| variable | meaning | default |\n|---|---|---|\n");
    for v in VARIABLES {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            v.name, v.meaning, v.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table is made from [`VARIABLES`]; this fails when they drift and
    /// prints the table to paste.
    #[test]
    fn the_readme_lists_exactly_these_variables() {
        let readme = include_str!("../../README.md");
        let table = table();
        assert!(
            readme.contains(&table),
            "README.md's table of variables differs from config::VARIABLES; replace it with:\n\n{table}"
        );
    }

    /// Every `RETRACE_*` name the code reads is defined here, so none is read
    /// somewhere the documentation does not know of.
    #[test]
    fn every_variable_the_code_names_is_defined_here() {
        let sources = [
            include_str!("../config.rs"),
            include_str!("../redaction/key.rs"),
            include_str!("../recorder/handle.rs"),
            include_str!("../../middleware/src/regression.rs"),
        ];
        for source in sources {
            for (at, _) in source.match_indices("\"RETRACE") {
                let rest = &source[at + 1..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                assert!(
                    VARIABLES.iter().any(|v| v.name == name),
                    "{name} is named in the code but not defined in config::variables"
                );
            }
        }
        let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIABLES.len(), "a variable is defined twice");
    }
}
