//! Recording throughput and drops with `RETRACE_FSYNC` on and off, side by side.
//!
//! Four producer threads offer a steady load (`RETRACE_FSYNC_RATE` recordings a second
//! in all, default 50,000, in bursts every millisecond as requests arrive; each
//! recording 2 KiB of bodies) for two seconds against the default configuration
//! (1,024-message channel, batch flushing) on a real file system, alternating fsync off
//! and on for three rounds each. Printed per round: recordings started per second,
//! written per second, and the share dropped (all channel-full: the writer fell
//! behind). The goal of issue 13: drops with fsync within two points of drops without.
//!
//! Run: `cargo bench --bench fsync` (the scratch directory is under the system's
//! temporary directory; set `TMPDIR` to measure another disk).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use retrace::{BodyChunk, Config, Event, Outcome, RecordReason, Recorder, StartOptions};

const THREADS: usize = 4;
const RUN: Duration = Duration::from_secs(2);

fn round(fsync: bool, rate: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::builder()
        .enabled(true)
        .service("fsync")
        .recording_path(dir.path())
        .fsync(fsync)
        .build()
        .expect("valid config");
    let (rec, guard) = Recorder::new(config).expect("recorder");
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (rec, stop) = (rec.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let body = Bytes::from(vec![b'a' + t as u8; 1024]);
                let per_ms = (rate / THREADS / 1000).max(1);
                let begun = Instant::now();
                let mut tick = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..per_ms {
                        if let Some(h) = rec.start(StartOptions::new(RecordReason::Sampled)) {
                            for _ in 0..2 {
                                h.record(Event::RequestBody(BodyChunk {
                                    at_us: 1,
                                    data: body.clone(),
                                }));
                            }
                            h.finish(Some(200), Outcome::Completed);
                        }
                    }
                    tick += 1;
                    let next = begun + Duration::from_millis(u64::from(tick));
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        })
        .collect();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().expect("producer");
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = guard.shutdown().expect("shutdown");
    let dropped = stats.dropped_total() as f64 / stats.started.max(1) as f64 * 100.0;
    (
        stats.started as f64 / secs,
        stats.written as f64 / secs,
        dropped,
    )
}

fn main() {
    let rate: usize = std::env::var("RETRACE_FSYNC_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    println!("offered {rate} recordings/s");
    println!("fsync  started/s  written/s  dropped");
    for _ in 0..3 {
        for fsync in [false, true] {
            let (started, written, dropped) = round(fsync, rate);
            println!(
                "{:<5}  {:>9.0}  {:>9.0}  {:>6.1}%",
                if fsync { "on" } else { "off" },
                started,
                written,
                dropped
            );
        }
    }
}
