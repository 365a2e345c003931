//! The disk budget: the oldest closed segments go, or recording stops, counted either way.

mod common;

use std::time::Duration;

use retrace::{DiskPolicy, DropReason, Store};

fn usage(dir: &std::path::Path) -> u64 {
    walk(dir)
}

fn walk(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .unwrap()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() { walk(&e.path()) } else { m.len() }
        })
        .sum()
}

fn fill(policy: DiskPolicy) -> (tempfile::TempDir, retrace::Stats) {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = common::recorder(
        common::config(dir.path())
            .segment_max_bytes(8 * 1024)
            .max_disk_bytes(Some(64 * 1024))
            .disk_policy(policy),
    );
    for i in 0..400 {
        common::record_one(&rec, i, 1500).unwrap();
        if i % 5 == 4 {
            rec.flush(Duration::from_secs(5)).unwrap();
        }
    }
    let stats = guard.shutdown().unwrap();
    (dir, stats)
}

#[test]
fn delete_oldest_keeps_the_store_within_budget() {
    let (dir, stats) = fill(DiskPolicy::DeleteOldest);
    assert!(stats.segments_deleted > 0, "{stats:?}");
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_eq!(stats.written, 400);
    // Within the budget plus the segment being closed and the metadata file.
    assert!(
        usage(dir.path()) <= 64 * 1024 + 8 * 1024 + 4096,
        "{}",
        usage(dir.path())
    );
    let listing = Store::open(dir.path()).unwrap().list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert!(listing.recordings.len() < 400);
    // What is left is the newest.
    let newest = listing
        .recordings
        .iter()
        .map(|r| r.summary.id)
        .max()
        .unwrap();
    assert_eq!(newest, listing.recordings[0].summary.id);
}

#[test]
fn stop_recording_drops_and_counts_at_the_budget() {
    let (dir, stats) = fill(DiskPolicy::StopRecording);
    assert!(stats.dropped(DropReason::DiskBudget) > 0, "{stats:?}");
    assert_eq!(stats.written + stats.dropped_total(), stats.started);
    assert_eq!(stats.segments_deleted, 0);
    // Within the budget plus the index of the last segment and the metadata file.
    assert!(
        usage(dir.path()) <= 64 * 1024 + 4096,
        "{}",
        usage(dir.path())
    );
    let listing = Store::open(dir.path()).unwrap().list();
    assert_eq!(listing.recordings.len() as u64, stats.written);
}
