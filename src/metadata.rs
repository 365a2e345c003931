//! `metadata.json`: what a session directory says about the process that wrote it, and
//! `counters.json`: its counters, kept current even when the disk is full.
//!
//! `metadata.json` is written when the session starts, rewritten whenever a segment
//! closes and on clean shutdown (atomically: a temporary file renamed over the old
//! one). A session whose metadata says `closed_cleanly: false` after its process is gone
//! crashed, and its last segment may have a torn tail.
//!
//! An atomic rewrite needs new blocks, which a full disk does not have: during an
//! outage `metadata.json` would keep saying "no drops, no write errors" while
//! recordings were being lost. So the counters are also written to `counters.json`, a
//! file of [`COUNTERS_FILE_LEN`] bytes allocated when the session starts and rewritten in
//! place (JSON padded with spaces), which needs no new block on file systems that
//! overwrite in place (ext4, xfs, tmpfs; not copy-on-write ones such as btrfs or zfs).
//! The writer rewrites it at most once a second while counters change, on every flush
//! and with every metadata update. Readers take whichever of the two is newer.

use serde::{Deserialize, Serialize};

use crate::stats::Stats;

/// The name of the metadata file in a session directory.
pub const METADATA_FILE: &str = "metadata.json";

/// The name of the counters file in a session directory.
pub const COUNTERS_FILE: &str = "counters.json";

/// The fixed size of `counters.json`.
pub const COUNTERS_FILE_LEN: usize = 4096;

/// The contents of `counters.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionCounters {
    /// When the counters were written, milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
    /// The recorder's counters then.
    pub stats: Stats,
}

impl SessionMetadata {
    /// Takes the counters of `counters` when they are newer than the metadata's own.
    pub fn merge_counters(&mut self, counters: SessionCounters) {
        if counters.updated_unix_ms > self.updated_unix_ms {
            self.updated_unix_ms = counters.updated_unix_ms;
            self.stats = counters.stats;
        }
    }
}

/// Where the process that wrote a session ran and what it was built from: filled from
/// the Kubernetes downward API's usual variables (`POD_NAME`, `NODE_NAME`,
/// `POD_NAMESPACE`) and `RETRACE_REGION`, `RETRACE_BUILD_VERSION`,
/// `RETRACE_GIT_COMMIT`, or set in code ([`ConfigBuilder::origin`]). `retrace ls` shows
/// the pod and filters by each (`--pod web-7f9c`).
///
/// [`ConfigBuilder::origin`]: crate::ConfigBuilder::origin
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The pod's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The node it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The build's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_version: Option<String>,
    /// The commit it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
}

/// The contents of `metadata.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionMetadata {
    /// The session directory's name.
    pub session: String,
    /// The service name.
    pub service: String,
    /// The service version, when configured.
    pub service_version: String,
    /// The host (or pod) name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The version of retrace that wrote the session.
    pub retrace_version: String,
    /// The segment format major version.
    pub format_major: u16,
    /// Start of the session, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Last update, milliseconds since the Unix epoch.
    pub updated_unix_ms: u64,
    /// End of the session, when it closed cleanly.
    pub ended_unix_ms: Option<u64>,
    /// Whether the session was closed by its guard.
    pub closed_cleanly: bool,
    /// The settings that shape what was recorded.
    pub config: ConfigSummary,
    /// Where the process ran (absent from sessions written before it existed).
    #[serde(default)]
    pub origin: Origin,
    /// The recorder's counters at the last update.
    pub stats: Stats,
}

/// The settings stored with a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigSummary {
    /// Ratio sampling rate.
    pub sample_rate: f64,
    /// Channel capacity in messages.
    pub channel_capacity: usize,
    /// In-flight byte budget.
    pub max_in_flight_bytes: usize,
    /// Segment size limit.
    pub segment_max_bytes: u64,
    /// Segment age limit, in seconds.
    pub segment_max_age_secs: u64,
    /// Flush policy, as text.
    pub flush: String,
    /// Whether writes are fsynced.
    pub fsync: bool,
    /// Disk budget.
    pub max_disk_bytes: Option<u64>,
}

impl ConfigSummary {
    pub(crate) fn of(c: &crate::config::Config) -> Self {
        Self {
            sample_rate: c.sample_rate,
            channel_capacity: c.channel_capacity,
            max_in_flight_bytes: c.max_in_flight_bytes,
            segment_max_bytes: c.segment_max_bytes,
            segment_max_age_secs: c.segment_max_age.as_secs(),
            flush: match c.flush {
                crate::config::FlushPolicy::EveryBatch => "batch".to_owned(),
                crate::config::FlushPolicy::Interval(d) => {
                    humantime::format_duration(d).to_string()
                }
            },
            fsync: c.fsync,
            max_disk_bytes: c.max_disk_bytes,
        }
    }
}
