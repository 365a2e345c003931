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
    // Within the budget, exactly: segments, their indexes and the metadata count.
    assert!(usage(dir.path()) <= 64 * 1024, "{}", usage(dir.path()));
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
    // Within the budget, exactly, with the last segment's index written at shutdown.
    assert!(usage(dir.path()) <= 64 * 1024, "{}", usage(dir.path()));
    let listing = Store::open(dir.path()).unwrap().list();
    assert_eq!(listing.recordings.len() as u64, stats.written);
}

#[test]
fn a_segment_size_that_cannot_fit_the_budget_is_lowered_and_a_tiny_budget_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path())
        .max_disk_bytes(Some(1 << 20))
        .build()
        .unwrap();
    // The default 64 MiB segments could never be deleted to make room in 1 MiB.
    assert_eq!(config.segment_max_bytes, ((1 << 20) - 16 * 1024) / 4);
    let err = common::config(dir.path())
        .max_disk_bytes(Some(20_000))
        .build()
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("RETRACE_MAX_DISK_BYTES"), "{message}");
    assert!(message.contains("at least 32768 bytes"), "{message}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(10))]

    /// Budgets, segment sizes and recording sizes swept: the directory never exceeds
    /// the budget (checked after every flush), every recording is written or counted
    /// as dropped, and deletions keep the newest recordings.
    #[test]
    fn the_budget_holds_whatever_the_sizes(
        budget_kib in 32u64..256,
        segment_kib in 4u64..128,
        body in 200usize..6_000,
        delete in proptest::bool::ANY,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let max = budget_kib * 1024;
        let policy = if delete { DiskPolicy::DeleteOldest } else { DiskPolicy::StopRecording };
        let (rec, guard) = common::recorder(
            common::config(dir.path())
                .segment_max_bytes(segment_kib * 1024)
                .max_disk_bytes(Some(max))
                .disk_policy(policy),
        );
        let mut last = None;
        for i in 0..150 {
            last = common::record_one(&rec, i, body).map(|(id, _)| id).or(last);
            if i % 7 == 6 {
                rec.flush(Duration::from_secs(5)).unwrap();
                proptest::prop_assert!(usage(dir.path()) <= max, "{} > {max}", usage(dir.path()));
            }
        }
        let stats = guard.shutdown().unwrap();
        proptest::prop_assert!(usage(dir.path()) <= max, "{} > {max}", usage(dir.path()));
        proptest::prop_assert_eq!(stats.written + stats.dropped_total(), stats.started);
        if !delete {
            proptest::prop_assert_eq!(stats.segments_deleted, 0);
        }
        let listing = Store::open(dir.path()).unwrap().list();
        if delete && stats.dropped_total() == 0 {
            // Deleting the oldest keeps the newest.
            let kept = listing.recordings.iter().any(|r| Some(r.summary.id) == last);
            proptest::prop_assert!(kept, "the last recording was deleted");
        }
    }
}
