//! The hand-off under pressure: exact accounting with many producers and a small
//! channel, and producers that never wait on a stalled writer.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{config, middle, record_one, recorder};
use retrace::{DropReason, Store};

#[test]
fn eight_producers_a_small_channel_exact_accounting_and_equal_read_back() {
    const PRODUCERS: usize = 8;
    const PER_PRODUCER: usize = 12_500;
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).channel_capacity(16));
    let handles: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let rec = rec.clone();
            thread::spawn(move || {
                (0..PER_PRODUCER)
                    .map(|i| record_one(&rec, p * PER_PRODUCER + i, 128).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut expected = HashMap::new();
    for h in handles {
        expected.extend(h.join().unwrap());
    }
    let stats = guard.shutdown().unwrap();
    let total = (PRODUCERS * PER_PRODUCER) as u64;
    assert_eq!(stats.started, total);
    assert_eq!(
        stats.written + stats.dropped_total(),
        total,
        "written + dropped == started: {stats:?}"
    );
    assert_eq!(stats.discarded, 0);
    // Whatever was lost was lost at the channel, not on the disk.
    assert_eq!(
        stats.dropped_total(),
        stats.dropped(DropReason::ChannelFull) + stats.dropped(DropReason::ByteBudget)
    );
    assert!(stats.written > 0);
    assert!(stats.queue_high_water <= 16);

    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert_eq!(listing.recordings.len() as u64, stats.written);
    // A segment indexes at most 32,768 recordings, so the writer's memory stays bounded.
    let segments = retrace::store::segment_files(&store.sessions()[0].dir).unwrap();
    assert!(
        segments.len() as u64 >= stats.written.div_ceil(32_768),
        "{}",
        segments.len()
    );
    let mut read = 0;
    for recording in store.recordings() {
        let recording = recording.unwrap();
        assert_eq!(middle(&recording.events), expected[&recording.id]);
        read += 1;
    }
    assert_eq!(read, stats.written);
}

#[test]
fn a_stalled_writer_makes_producers_drop_and_count_never_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(
        config(dir.path())
            .channel_capacity(64)
            .max_in_flight_bytes(256 * 1024),
    );
    let pause = rec.pause_writer().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let rec = rec.clone();
            let done_tx = done_tx.clone();
            thread::spawn(move || {
                for i in 0..5_000 {
                    record_one(&rec, p * 5_000 + i, 1024).unwrap();
                }
                done_tx.send(()).unwrap();
            })
        })
        .collect();
    // The writer is still paused: if producers waited on it they would never finish.
    for _ in 0..4 {
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a producer blocked on the stalled writer");
    }
    let during = rec.stats();
    assert_eq!(during.written, 0);
    assert_eq!(during.started, 20_000);
    let lost = during.dropped(DropReason::ChannelFull) + during.dropped(DropReason::ByteBudget);
    // At most the channel's capacity, plus the one message the writer holds while it
    // is paused, was accepted.
    assert!(lost >= 20_000 - 65, "{during:?}");
    assert!(
        during.in_flight_bytes_high_water <= 256 * 1024,
        "{during:?}"
    );

    drop(pause);
    for p in producers {
        p.join().unwrap();
    }
    // Recording continues once the writer recovers.
    for i in 0..10 {
        record_one(&rec, 100_000 + i, 1024).unwrap();
        rec.flush(Duration::from_secs(10)).unwrap();
    }
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.started, 20_010);
    assert_eq!(
        stats.written + stats.dropped_total(),
        stats.started,
        "{stats:?}"
    );
    assert!(stats.written >= 10);
}

/// The in-flight bytes of the one recording `body` makes (its writer paused so the
/// message waits in the queue), and the event bytes the writer counted.
fn in_flight_bytes_of(body: impl FnOnce(&retrace::RecordingHandle) -> bytes::Bytes) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    let pause = rec.pause_writer().unwrap();
    let handle = rec
        .start(retrace::StartOptions::new(retrace::RecordReason::Sampled))
        .unwrap();
    let data = body(&handle);
    handle.record(retrace::Event::RequestBody(retrace::event::BodyChunk {
        at_us: 0,
        data,
    }));
    handle.finish(Some(200), retrace::Outcome::Completed);
    let bytes = rec.stats().in_flight_bytes_high_water;
    drop(pause);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 1, "{stats:?}");
    (bytes, stats.raw_bytes)
}

#[test]
fn the_unused_end_of_a_recordings_copy_buffer_counts_as_in_flight() {
    let (plain, plain_raw) = in_flight_bytes_of(|_| bytes::Bytes::from(vec![7u8; 100]));
    let (copied, copied_raw) = in_flight_bytes_of(|handle| handle.copy_bytes(&[7u8; 100]));
    // The same events (their 100 bytes counted in both); the copy's buffer holds
    // `CHUNK_BYTES`, and its unused rest is counted too, in the budget only: the
    // writer's count of event bytes is the same.
    assert_eq!(copied - plain, retrace::arena::CHUNK_BYTES as u64 - 100);
    assert_eq!(copied_raw, plain_raw);
}
