//! Counters a [`Recorder`](crate::Recorder) keeps, readable at any time.
//!
//! Every loss is counted by its reason, so an operator can tell a slow disk (channel
//! full) from a full one (I/O error) from a deliberate limit (disk budget). The counters
//! are relaxed atomics: reading them never slows the request path, and a snapshot is
//! consistent per counter, not across counters, while traffic is flowing.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::event::{KeepCause, RecordReason};

/// Why a recording (or a chunk of one) did not reach disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DropReason {
    /// The hand-off channel was full.
    ChannelFull,
    /// The in-flight byte budget was exhausted.
    ByteBudget,
    /// The writer had shut down or was never started.
    WriterGone,
    /// Writing to disk failed (disk full, permission denied, ...).
    IoError,
    /// The recording could not be encoded.
    EncodeError,
    /// The store reached its disk budget and the policy is to stop recording.
    DiskBudget,
    /// Too many recordings were in flight; the request was not recorded.
    InFlightLimit,
    /// The recorder had been shut down (its guard dropped) when the request asked to
    /// be recorded.
    AfterShutdown,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 8] = [
        Self::ChannelFull,
        Self::ByteBudget,
        Self::WriterGone,
        Self::IoError,
        Self::EncodeError,
        Self::DiskBudget,
        Self::InFlightLimit,
        Self::AfterShutdown,
    ];

    /// A short kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChannelFull => "channel-full",
            Self::ByteBudget => "byte-budget",
            Self::WriterGone => "writer-gone",
            Self::IoError => "io-error",
            Self::EncodeError => "encode-error",
            Self::DiskBudget => "disk-budget",
            Self::InFlightLimit => "in-flight-limit",
            Self::AfterShutdown => "after-shutdown",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The live counters. Shared between the recorder handles and the writer thread.
///
/// The request path touches `started` and the in-flight high-water mark; the writer
/// thread everything else, the queue's high-water mark included (sampled as each batch
/// starts, so it can miss a peak reached while a batch is drained). The padded fields
/// keep the two sides off each other's cache lines.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) started: CachePadded<AtomicU64>,
    pub(crate) written: AtomicU64,
    pub(crate) discarded: AtomicU64,
    pub(crate) dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) chunks_dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) declined: [AtomicU64; DropReason::ALL.len()],
    pub(crate) events: AtomicU64,
    pub(crate) raw_bytes: AtomicU64,
    pub(crate) written_bytes: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) segments_deleted: AtomicU64,
    pub(crate) queue_high_water: CachePadded<AtomicU64>,
    pub(crate) in_flight_bytes_high_water: CachePadded<AtomicU64>,
    pub(crate) requests_seen: CachePadded<AtomicU64>,
    pub(crate) decisions: [AtomicU64; DECISIONS.len()],
    pub(crate) write_latency: [AtomicU64; WRITE_LATENCY_BOUNDS_US.len() + 1],
    pub(crate) write_latency_sum_us: AtomicU64,
    pub(crate) shipping: ShippingCounters,
}

/// The shipping thread's counters (`RETRACE_SHIP_URL`), published after each pass.
#[derive(Debug, Default)]
pub(crate) struct ShippingCounters {
    pub(crate) segments: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) lag_ms: AtomicU64,
}

impl ShippingCounters {
    /// Each counter paired with its field: one list for reading and writing them.
    fn pairs<'a>(&'a self, s: &'a mut ShippingStats) -> [(&'a AtomicU64, &'a mut u64); 6] {
        [
            (&self.segments, &mut s.segments),
            (&self.bytes, &mut s.bytes),
            (&self.failed, &mut s.failed),
            (&self.retried, &mut s.retried),
            (&self.pending, &mut s.pending),
            (&self.lag_ms, &mut s.lag_ms),
        ]
    }

    /// Puts a shipper's latest figures in place of the previous ones.
    #[cfg_attr(not(feature = "ship"), allow(dead_code))]
    pub(crate) fn publish(&self, figures: &ShippingStats) {
        let mut figures = figures.clone();
        for (counter, value) in self.pairs(&mut figures) {
            counter.store(*value, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> ShippingStats {
        let mut out = ShippingStats::default();
        for (counter, value) in self.pairs(&mut out) {
            *value = counter.load(Ordering::Relaxed);
        }
        out
    }
}

/// What the shipping thread (`RETRACE_SHIP_URL`) has done; all zero without one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingStats {
    /// Segments shipped (each with its index), verified and journaled.
    pub segments: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Failed attempts at a segment.
    pub failed: u64,
    /// Attempts at a segment that had failed before.
    pub retried: u64,
    /// Closed segments not shipped yet, as of the last pass.
    pub pending: u64,
    /// How long the oldest of them had waited, in milliseconds, as of the last pass.
    pub lag_ms: u64,
}

/// The decisions [`Stats::decisions`] counts, by name: a recording started for each
/// reason (`tentative` for one started speculatively), and a tentative one kept for
/// each cause.
pub const DECISIONS: [&str; 11] = {
    let r = RecordReason::NAMES;
    [
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        "tentative",
        r[7],
        r[8],
        r[9],
    ]
};

/// Upper bounds, in microseconds, of the buckets of [`Stats::write_latency`] (a last
/// bucket holds the slower writes).
pub const WRITE_LATENCY_BOUNDS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

fn decision_index(reason: RecordReason) -> usize {
    match reason {
        RecordReason::Sampled => 0,
        RecordReason::Header => 1,
        RecordReason::Flag => 2,
        RecordReason::Window => 3,
        RecordReason::Parent => 4,
        RecordReason::Manual => 5,
        RecordReason::Capture(_) => 6,
        RecordReason::KeptOnOutcome(KeepCause::Status) => 8,
        RecordReason::KeptOnOutcome(KeepCause::Error) => 9,
        RecordReason::KeptOnOutcome(KeepCause::Latency) => 10,
    }
}

/// How long the writer's writes took: a histogram with the bounds of
/// [`WRITE_LATENCY_BOUNDS_US`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteLatency {
    /// Writes per bucket, one more than there are bounds (not cumulative).
    pub counts: Vec<u64>,
    /// The writes' total time, in microseconds.
    pub sum_us: u64,
}

impl WriteLatency {
    /// How many writes were timed.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises a high-water mark; reads first, so the common case writes nothing.
    pub(crate) fn raise(counter: &AtomicU64, value: u64) {
        if value > counter.load(Ordering::Relaxed) {
            counter.fetch_max(value, Ordering::Relaxed);
        }
    }

    pub(crate) fn drop_recording(&self, reason: DropReason) {
        Self::add(&self.dropped[reason.index()], 1);
    }

    pub(crate) fn decline(&self, reason: DropReason) {
        Self::add(&self.declined[reason.index()], 1);
    }

    /// Counts a recording started (`tentative`: speculatively) or a tentative one kept.
    pub(crate) fn decided(&self, reason: RecordReason, tentative: bool) {
        let i = if tentative { 7 } else { decision_index(reason) };
        Self::add(&self.decisions[i], 1);
    }

    /// Times one write to disk.
    pub(crate) fn wrote_in(&self, took: std::time::Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let bucket = WRITE_LATENCY_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(WRITE_LATENCY_BOUNDS_US.len());
        Self::add(&self.write_latency[bucket], 1);
        Self::add(&self.write_latency_sum_us, us);
    }

    pub(crate) fn drop_chunk(&self, reason: DropReason) {
        Self::add(&self.chunks_dropped[reason.index()], 1);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let by_reason = |arr: &[AtomicU64; DropReason::ALL.len()]| {
            DropReason::ALL
                .iter()
                .map(|&r| (r, load(&arr[r.index()])))
                .filter(|&(_, n)| n > 0)
                .collect()
        };
        Stats {
            started: load(&self.started),
            written: load(&self.written),
            discarded: load(&self.discarded),
            dropped: by_reason(&self.dropped),
            chunks_dropped: by_reason(&self.chunks_dropped),
            declined: by_reason(&self.declined),
            events: load(&self.events),
            raw_bytes: load(&self.raw_bytes),
            written_bytes: load(&self.written_bytes),
            write_errors: load(&self.write_errors),
            segments_deleted: load(&self.segments_deleted),
            queue_high_water: load(&self.queue_high_water),
            in_flight_bytes_high_water: load(&self.in_flight_bytes_high_water),
            requests_seen: load(&self.requests_seen),
            decisions: DECISIONS
                .iter()
                .zip(&self.decisions)
                .map(|(name, n)| ((*name).to_owned(), load(n)))
                .filter(|&(_, n)| n > 0)
                .collect(),
            write_latency: WriteLatency {
                counts: self.write_latency.iter().map(load).collect(),
                sum_us: load(&self.write_latency_sum_us),
            },
            shipping: self.shipping.snapshot(),
        }
    }
}

/// A snapshot of a recorder's counters.
///
/// ```
/// use std::time::Duration;
/// use retrace::{Config, Outcome, RecordReason, Recorder, StartOptions};
///
/// let dir = tempfile::tempdir()?;
/// let config = Config::builder().enabled(true).recording_path(dir.path()).build()?;
/// let (recorder, guard) = Recorder::new(config)?;
/// let handle = recorder.start(StartOptions::new(RecordReason::Manual)).unwrap();
/// handle.finish(Some(200), Outcome::Completed);
/// let stats = recorder.wait_settled(Duration::from_secs(5))?;
/// assert_eq!((stats.started, stats.written, stats.open()), (1, 1, 0));
/// assert_eq!(guard.shutdown()?.dropped_total(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Once the writer has shut down, `started == written + discarded + dropped_total()`
/// holds exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Recordings started.
    pub started: u64,
    /// Recordings whose final chunk reached disk.
    pub written: u64,
    /// Tentative recordings discarded because their outcome did not ask to keep them.
    pub discarded: u64,
    /// Recordings lost, by reason (reasons with a zero count are left out).
    pub dropped: Vec<(DropReason, u64)>,
    /// Intermediate chunks of long recordings lost, by reason; the recording itself is
    /// then written but marked incomplete.
    pub chunks_dropped: Vec<(DropReason, u64)>,
    /// Requests chosen for recording that were not started, by reason (too many
    /// recordings in flight, say). They are not counted in `started`.
    pub declined: Vec<(DropReason, u64)>,
    /// Events the writer received.
    pub events: u64,
    /// Event bytes the writer received, before encoding and compression (estimated).
    pub raw_bytes: u64,
    /// Bytes appended to segment files (frames and headers).
    pub written_bytes: u64,
    /// Failed writes (each is also logged, once per kind of error).
    pub write_errors: u64,
    /// Closed segments deleted to stay within the disk budget.
    pub segments_deleted: u64,
    /// The most messages seen waiting in the channel at once (sampled by the writer as
    /// each batch starts).
    pub queue_high_water: u64,
    /// The most bytes ever in flight between the request path and the disk.
    pub in_flight_bytes_high_water: u64,
    /// Requests the record layers saw, recorded or not.
    #[serde(default)]
    pub requests_seen: u64,
    /// Recordings started, by reason, and tentative ones kept, by cause (names from
    /// [`DECISIONS`]; zero counts left out).
    #[serde(default)]
    pub decisions: Vec<(String, u64)>,
    /// How long the writer's writes took.
    #[serde(default)]
    pub write_latency: WriteLatency,
    /// What the shipping thread has done (`RETRACE_SHIP_URL`).
    #[serde(default)]
    pub shipping: ShippingStats,
}

impl Stats {
    /// Recordings dropped for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Recordings started for one decision (a name from [`DECISIONS`]).
    pub fn decisions(&self, name: &str) -> u64 {
        self.decisions
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, n)| *n)
    }

    /// Recordings dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    /// Recordings started and not yet accounted for: still being recorded, or ended
    /// and on their way to disk.
    pub fn open(&self) -> u64 {
        self.started
            .saturating_sub(self.written + self.discarded + self.dropped_total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_counted_under_its_own_name() {
        // In NAMES' order, so NAMES and as_str agree too.
        for (reason, name) in RecordReason::EVERY_KIND
            .into_iter()
            .zip(RecordReason::NAMES)
        {
            assert_eq!(reason.as_str(), name);
            assert_eq!(DECISIONS[decision_index(reason)], reason.as_str());
        }
        assert_eq!(DECISIONS[7], "tentative");
    }
}
