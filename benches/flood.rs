//! Memory under a producer flood with a stalled writer.
//!
//! The writer is held still (as a stuck disk would hold it) while four threads start
//! recordings as fast as they can, each with its own freshly allocated 2 KiB of bodies.
//! The in-flight byte budget must bound what is kept: peak RSS may grow by the budget
//! plus a fixed overhead, however many recordings are attempted. Prints the peak RSS
//! (VmHWM) before and after, the budget, and the counters.
//!
//! Run: `cargo bench --bench flood`.

use std::time::Instant;

use bytes::Bytes;
use retrace::{BodyChunk, Config, Event, Outcome, RecordReason, Recorder, StartOptions};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    const BUDGET: usize = 32 << 20;
    const THREADS: usize = 4;
    const PER_THREAD: usize = 250_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::builder()
        .enabled(true)
        .service("flood")
        .recording_path(dir.path())
        .channel_capacity(65_536)
        .max_in_flight_bytes(BUDGET)
        .build()
        .expect("valid config");
    let (rec, guard) = Recorder::new(config).expect("recorder starts");
    let before = peak_rss_kib();
    let pause = rec.pause_writer().expect("enabled");
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let rec = rec.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let Some(h) = rec.start(StartOptions::new(RecordReason::Sampled)) else {
                        continue;
                    };
                    for part in 0..2 {
                        let body = format!(
                            "{{\"t\":{t},\"i\":{i},\"part\":{part},\"pad\":\"{}\"}}",
                            "x".repeat(990)
                        );
                        h.record(Event::ResponseBody(BodyChunk {
                            at_us: part,
                            data: Bytes::copy_from_slice(body.as_bytes()),
                        }));
                    }
                    h.finish(Some(200), Outcome::Completed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("producer");
    }
    let flood_time = start.elapsed();
    let during = rec.stats();
    let after = peak_rss_kib();
    drop(pause);
    let stats = guard.shutdown().expect("clean shutdown");
    let attempted = (THREADS * PER_THREAD) as u64;
    println!("flood: {attempted} recordings attempted in {flood_time:?} with the writer stalled");
    println!(
        "  accepted while stalled: {}, dropped: {:?}",
        during.started - during.dropped_total(),
        during.dropped
    );
    println!("  in-flight byte budget:        {:>8} KiB", BUDGET / 1024);
    println!(
        "  in-flight high-water mark:    {:>8} KiB",
        during.in_flight_bytes_high_water / 1024
    );
    println!("  peak RSS before the flood:    {before:>8} KiB");
    println!("  peak RSS after the flood:     {after:>8} KiB");
    println!(
        "  growth: {} KiB = budget + {} KiB",
        after.saturating_sub(before),
        (after.saturating_sub(before) as i64) - (BUDGET / 1024) as i64
    );
    println!(
        "  after recovery: written {}, dropped {} (total {}), started {}",
        stats.written,
        stats.dropped_total(),
        stats.written + stats.dropped_total(),
        stats.started
    );
}
