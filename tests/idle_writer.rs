//! The writer thread does not wake while nothing is due: no traffic, no open segment
//! to close by age soon, no counters left to publish. Counted from the kernel's count
//! of the thread's voluntary context switches (`/proc/self/task/*/status`), so the
//! test does not depend on the machine's speed: a parked thread switches zero times.

mod common;

use std::time::Duration;

/// The writer thread's voluntary context switches so far.
fn writer_switches() -> u64 {
    for task in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let dir = task.expect("a task").path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.trim() == "retrace-writer" {
            let status = std::fs::read_to_string(dir.join("status")).expect("status");
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse().ok())
                .expect("a count");
        }
    }
    panic!("no retrace-writer thread");
}

#[test]
fn an_idle_writer_does_not_wake() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = common::recorder(common::config(dir.path()));
    common::record_one(&rec, 0, 400).unwrap();
    rec.flush(Duration::from_secs(5)).unwrap();
    // Past the last poll and the publication of the counters the recording changed.
    std::thread::sleep(Duration::from_millis(1500));
    let before = writer_switches();
    std::thread::sleep(Duration::from_millis(1500));
    let after = writer_switches();
    assert_eq!(
        after - before,
        0,
        "the idle writer woke {} times",
        after - before
    );
    // And it still takes the next recording at once.
    common::record_one(&rec, 1, 400).unwrap();
    rec.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(guard.shutdown().unwrap().written, 2);
}
