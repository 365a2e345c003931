//! The shipper's status file: what a shipper has done, for `retrace stats` and anyone
//! else who looks at the recording directory rather than the shipper's process.
//!
//! Written (atomically: a temporary file renamed over it) after every pass, one per
//! destination beside the journal: `.retrace-ship-{digest}.status`, JSON.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::journal::Journal;

/// What a shipper has done since it started, as of its last pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipStatus {
    /// The destination URL.
    pub destination: String,
    /// When the shipper started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// When this status was written.
    pub updated_unix_ms: u64,
    /// What it shipped, failed and has pending, since it started (the same counters
    /// a shipping recorder keeps in [`Stats::shipping`](crate::Stats::shipping)).
    #[serde(flatten)]
    pub counts: crate::stats::ShippingStats,
    /// The last pass's last error, if it had one.
    pub last_error: Option<String>,
}

impl ShipStatus {
    /// The status file's name for a destination.
    pub fn file_name(destination_url: &str) -> String {
        Journal::file_name(destination_url).replace(".journal", ".status")
    }

    /// Writes the status into `root`, atomically.
    pub(super) fn write(&self, root: &Path) -> std::io::Result<()> {
        let path = root.join(Self::file_name(&self.destination));
        let tmp = path.with_extension("status.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &path)
    }

    /// Every shipper status in `root`, by destination; unreadable files are skipped.
    pub fn read_all(root: &Path) -> Vec<Self> {
        let mut out: Vec<Self> = fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(".retrace-ship-") && name.ends_with(".status")
            })
            .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
            .collect();
        out.sort_by(|a, b| a.destination.cmp(&b.destination));
        out
    }
}
