//! Graceful shutdown: dropping the guard writes every recording accepted before it
//! (accepted = started and not counted as dropped), and finishes within the configured
//! `shutdown_timeout` even when the writer is stuck.

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use common::{config, record_one, recorder};
use retrace::{DropReason, Outcome, RecordReason, ShutdownError, StartOptions, Store};

#[test]
fn every_recording_accepted_before_the_guard_dropped_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(
        config(dir.path())
            .channel_capacity(64)
            .segment_max_bytes(32 * 1024)
            .shutdown_timeout(Duration::from_secs(10)),
    );
    // The writer is held while four producers push more than the channel holds: the
    // queue is full of accepted recordings when the guard goes.
    let pause = rec.pause_writer().unwrap();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let rec = rec.clone();
            thread::spawn(move || {
                (0..100)
                    .map(|i| record_one(&rec, p * 1000 + i, 300).unwrap().0)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<_> = producers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let queued = rec.stats();
    assert_eq!(queued.started, 400);
    assert!(queued.dropped(DropReason::ChannelFull) > 0, "{queued:?}");
    // The disk comes back while the guard is waiting.
    let resume = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        drop(pause);
    });
    let stats = guard.shutdown().expect("shutdown completes");
    resume.join().unwrap();
    assert_eq!(stats.started, 400);
    assert_eq!(
        stats.written,
        stats.started - stats.dropped_total(),
        "accepted but not written: {stats:?}"
    );
    assert_eq!(stats.dropped_total(), queued.dropped_total(), "{stats:?}");
    // Once shut down, nothing more is accepted.
    assert!(record_one(&rec, 9999, 100).is_none());

    let store = Store::open(dir.path()).unwrap();
    assert!(
        store.sessions()[0]
            .metadata
            .as_ref()
            .unwrap()
            .closed_cleanly
    );
    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    let on_disk: HashSet<_> = listing.recordings.iter().map(|r| r.summary.id).collect();
    assert_eq!(on_disk.len() as u64, stats.written);
    assert!(on_disk.iter().all(|id| ids.contains(id)));
    // The session is closed: every segment has its index.
    let session = &store.sessions()[0];
    for seg in retrace::store::segment_files(&session.dir).unwrap() {
        assert!(seg.with_extension("rtidx").exists(), "{}", seg.display());
    }
}

fn stuck_shutdown(fill_channel: bool) {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(300);
    let (rec, guard) = recorder(
        config(dir.path())
            .channel_capacity(8)
            .shutdown_timeout(timeout),
    );
    let pause = rec.pause_writer().unwrap();
    // The writer blocks on the pause, whether or not it took a message first.
    let n = if fill_channel { 50 } else { 3 };
    for i in 0..n {
        record_one(&rec, i, 100).unwrap();
    }
    let started = Instant::now();
    let result = guard.shutdown();
    let took = started.elapsed();
    assert_eq!(result, Err(ShutdownError::Timeout(timeout)));
    assert!(
        took < timeout + Duration::from_millis(250),
        "shutdown took {took:?} with a {timeout:?} timeout"
    );
    // Nothing is accepted after shutdown, even though the writer is still stuck.
    assert!(record_one(&rec, 999, 100).is_none());
    // The stuck writer recovers later and exits by itself; nothing waits for it.
    drop(pause);
}

#[test]
fn shutdown_with_a_stuck_writer_returns_within_the_timeout() {
    stuck_shutdown(false);
}

#[test]
fn shutdown_with_a_stuck_writer_and_a_full_channel_returns_within_the_timeout() {
    stuck_shutdown(true);
}

#[test]
fn dropping_the_guard_with_a_stuck_writer_returns_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(300);
    let (rec, guard) = recorder(
        config(dir.path())
            .channel_capacity(4)
            .shutdown_timeout(timeout),
    );
    let pause = rec.pause_writer().unwrap();
    for i in 0..20 {
        record_one(&rec, i, 100).unwrap();
    }
    let started = Instant::now();
    drop(guard);
    assert!(started.elapsed() < timeout + Duration::from_millis(250));
    drop(pause);
}

#[test]
fn waiting_for_recordings_to_settle_names_those_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    record_one(&rec, 1, 100).unwrap();
    let open = rec.start(StartOptions::new(RecordReason::Sampled)).unwrap();
    rec.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(rec.stats().open(), 1, "the finished one is on disk");
    let err = rec.wait_settled(Duration::from_millis(30)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "1 recording(s) still open after 30ms (a response body not read to its end, or a handle still held)"
    );
    open.finish(Some(200), Outcome::Completed);
    let stats = rec.wait_settled(Duration::from_secs(10)).unwrap();
    assert_eq!((stats.open(), stats.written), (0, 2));
    guard.shutdown().unwrap();
}
