//! Crash safety with a real process: a child records in a loop and is killed with
//! SIGKILL; every recording it had flushed before the kill reads back.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use retrace::store::segment_files;
use retrace::{Problem, Store};

const CHILD_DIR: &str = "RETRACE_TEST_CRASH_CHILD_DIR";

/// The child's side: records in a loop, printing the ids it has flushed, until killed.
fn record_until_killed(dir: &str) {
    let (rec, _guard) = common::recorder(common::config(dir.as_ref()).segment_max_bytes(64 * 1024));
    let mut out = std::io::stdout().lock();
    let mut pending = Vec::new();
    for i in 0.. {
        let (id, _) = common::record_one(&rec, i, 700).unwrap();
        pending.push(id);
        if pending.len() == 10 {
            rec.flush(Duration::from_secs(10)).unwrap();
            for id in pending.drain(..) {
                writeln!(out, "flushed {id}").unwrap();
            }
            out.flush().unwrap();
        }
    }
}

/// Runs this same test binary again as the child (the environment variable tells the
/// two apart), kills it with SIGKILL and reads what it left.
#[test]
fn sigkill_loses_nothing_that_was_flushed() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        return record_until_killed(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_loses_nothing_that_was_flushed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut flushed = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while flushed.len() < 2_000 {
        let line = lines.next().expect("child still running").unwrap();
        if let Some(id) = line.strip_prefix("flushed ") {
            flushed.push(id.to_owned());
        }
    }
    // std's kill sends SIGKILL on Unix: no destructor, no guard, no final flush.
    child.kill().unwrap();
    child.wait().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let session = &store.sessions()[0];
    assert!(!session.metadata.as_ref().unwrap().closed_cleanly);
    let listing = store.list();
    assert!(
        listing
            .problems
            .iter()
            .all(|p| matches!(p, Problem::TornTail { .. })),
        "only a torn tail may be reported after a crash: {:?}",
        listing.problems
    );
    let listed: std::collections::HashSet<String> = listing
        .recordings
        .iter()
        .map(|r| r.summary.id.to_string())
        .collect();
    for id in &flushed {
        assert!(listed.contains(id), "flushed recording {id} lost");
    }
    for info in &listing.recordings {
        let recording = store.load(info).unwrap();
        assert_eq!(recording.response().unwrap().status % 100, 0);
        assert!(info.summary.complete());
    }

    // The last segment was never closed: it has no index and is scanned. Tear its tail
    // the way a crash in the middle of a write does, and check the report.
    let segments = segment_files(&session.dir).unwrap();
    let last = segments.last().unwrap();
    assert!(!last.with_extension("rtidx").exists());
    let mut data = std::fs::read(last).unwrap();
    let good_len = data.len() as u64;
    let frame_start = retrace::segment::HEADER_LEN;
    let half_frame = data[frame_start..frame_start + 40].to_vec();
    data.extend_from_slice(&half_frame);
    std::fs::write(last, &data).unwrap();
    let listing = Store::open(dir.path()).unwrap().list();
    let torn: Vec<_> = listing
        .problems
        .iter()
        .filter(|p| p.file() == last.as_path())
        .collect();
    assert_eq!(torn.len(), 1, "{:?}", listing.problems);
    match torn[0] {
        Problem::TornTail { offset, len, .. } => {
            assert_eq!(*offset, good_len);
            assert_eq!(*len, 40);
        }
        other => panic!("expected a torn tail, got {other}"),
    }
    assert!(
        torn[0]
            .to_string()
            .contains(&format!("torn tail at offset {good_len}"))
    );
    assert!(listing.recordings.len() >= flushed.len());
}
