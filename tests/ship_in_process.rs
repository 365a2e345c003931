//! `RETRACE_SHIP_URL` (`Config::ship_url`): a recorder ships its closed segments from a
//! thread of its own while it runs, and ships its last segment when its guard is
//! dropped. A directory is the destination here; `cli/tests/ship.rs` ships the same
//! way to a real S3-compatible server.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{config, record_one, recorder};
use retrace::Config;

/// Every file under `dir`, by file name (segment names are unique within a session).
fn files_by_name(dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_by_name(&path, out);
        } else {
            out.push((entry.file_name().to_string_lossy().into_owned(), path));
        }
    }
}

#[test]
fn closed_segments_are_shipped_while_recording_and_the_last_one_at_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = tempfile::tempdir().expect("archive");
    let (rec, guard) = recorder(
        config(dir.path())
            .segment_max_bytes(16 * 1024)
            .ship_to(archive.path().display().to_string())
            .ship_interval(Duration::from_millis(100)),
    );
    // In rounds, each flushed: a writer that starts late on a loaded machine must not
    // take all 400 recordings as one frame, which would leave a single segment.
    for round in 0..8 {
        for i in 0..50 {
            record_one(&rec, round * 50 + i, 2_000).expect("recorded");
        }
        rec.flush(Duration::from_secs(10)).expect("flushed");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while rec.stats().shipping.segments == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing shipped while running: {:?}",
            rec.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = guard.shutdown().expect("shutdown");

    let mut local = Vec::new();
    files_by_name(dir.path(), &mut local);
    let segments: Vec<_> = local
        .iter()
        .filter(|(n, _)| n.ends_with(".rtseg"))
        .collect();
    assert!(
        segments.len() >= 2,
        "one closed while running, one at shutdown: {segments:?}"
    );
    let mut shipped = Vec::new();
    files_by_name(archive.path(), &mut shipped);
    for (name, path) in &segments {
        let there = shipped
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} was not shipped; shipped: {shipped:?}"));
        assert_eq!(
            fs::read(&there.1).ok(),
            fs::read(path).ok(),
            "{name} byte for byte"
        );
    }
    assert_eq!(stats.shipping.segments, segments.len() as u64, "{stats:?}");
    assert_eq!(stats.shipping.pending, 0, "{stats:?}");
    assert_eq!(stats.shipping.failed, 0, "{stats:?}");
}

#[test]
fn a_ship_url_that_names_no_store_is_a_configuration_error() {
    let err = Config::builder()
        .enabled(true)
        .ship_to("ftp://example.invalid/x")
        .build()
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("RETRACE_SHIP_URL"), "{text}");
    assert!(text.contains("ftp://example.invalid/x"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let err = Config::builder()
        .enabled(true)
        .ship_to(dir.path().display().to_string())
        .ship_interval(Duration::from_millis(10))
        .build()
        .expect_err("refused");
    assert!(err.to_string().contains("RETRACE_SHIP_INTERVAL"), "{err}");
}
