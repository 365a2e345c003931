//! `metadata.json`: what a session directory says about the process that wrote it.
//!
//! Written when the session starts, rewritten whenever a segment closes and on clean
//! shutdown (atomically: a temporary file renamed over the old one). A session whose
//! metadata says `closed_cleanly: false` after its process is gone crashed, and its last
//! segment may have a torn tail.

use serde::{Deserialize, Serialize};

use crate::stats::Stats;

/// The name of the metadata file in a session directory.
pub const METADATA_FILE: &str = "metadata.json";

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
