//! Recordings written by a real recorder to real files read back equal, through the
//! index and through a scan, across rotated segments and chunked recordings.

mod common;

use std::collections::HashMap;

use common::{config, middle, record_one, recorder};
use retrace::store::{read_segment, scan_segment, segment_files};
use retrace::{Outcome, RecordReason, Recorder, StartOptions, Store};

#[test]
fn recordings_read_back_equal_across_rotated_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).segment_max_bytes(16 * 1024));
    let mut expected = HashMap::new();
    for i in 0..300 {
        let (id, events) = record_one(&rec, i, 2048).unwrap();
        expected.insert(id, events);
        if i % 25 == 0 {
            rec.flush(std::time::Duration::from_secs(5)).unwrap();
        }
    }
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.started, 300);
    assert_eq!(stats.written, 300, "{stats:?}");

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.sessions().len(), 1);
    let session_dir = &store.sessions()[0].dir;
    let segments = segment_files(session_dir).unwrap();
    assert!(
        segments.len() > 3,
        "expected rotation, got {} segments",
        segments.len()
    );
    for seg in &segments {
        let via_index = read_segment(seg);
        assert!(
            via_index.from_index,
            "{} has no usable index",
            seg.display()
        );
        let scanned = scan_segment(seg);
        assert!(scanned.problems.is_empty(), "{:?}", scanned.problems);
        assert_eq!(
            via_index.entries, scanned.entries,
            "index and scan disagree"
        );
    }

    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert_eq!(listing.recordings.len(), 300);
    let ids: Vec<_> = listing.recordings.iter().map(|r| r.summary.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "listing is newest first");
    for info in &listing.recordings {
        let recording = store.load(info).unwrap();
        assert_eq!(middle(&recording.events), expected[&info.summary.id]);
        assert!(info.summary.complete());
        assert_eq!(info.summary.outbound_calls, 1);
        assert!(info.summary.method == "GET" || info.summary.method == "POST");
        assert_eq!(info.summary.reason, Some(RecordReason::Sampled));
    }
    let errors = listing
        .recordings
        .iter()
        .filter(|r| r.summary.status == Some(500))
        .count();
    assert_eq!(errors, 30);
}

#[test]
fn a_long_recording_is_sent_in_chunks_and_reads_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).chunk_bytes(4096).segment_max_bytes(8192));
    let handle = rec.start(StartOptions::new(RecordReason::Header)).unwrap();
    let mut sent = Vec::new();
    for i in 0..200 {
        let e = retrace::Event::ResponseBody(retrace::BodyChunk {
            at_us: i,
            data: bytes::Bytes::from(
                (0..40)
                    .map(|_| format!("{:08x}", rand::random::<u32>()))
                    .collect::<String>(),
            ),
        });
        handle.record(e.clone());
        sent.push(e);
        if i % 20 == 19 {
            rec.flush(std::time::Duration::from_secs(5)).unwrap();
        }
    }
    handle.finish(Some(200), Outcome::Completed);
    guard.shutdown().unwrap();

    let store = Store::open(dir.path()).unwrap();
    let recording = store.get(&handle.id().to_string()[..12]).unwrap();
    assert_eq!(middle(&recording.events), sent);
    assert!(recording.summary.chunks_seen > 5, "{:?}", recording.summary);
    assert!(recording.summary.complete());
    let listing = store.list();
    assert!(listing.recordings[0].locations.len() > 1, "spans segments");
}

#[test]
fn unknown_and_ambiguous_ids_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    for i in 0..40 {
        record_one(&rec, i, 256).unwrap();
    }
    guard.shutdown().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // All ids made in the same second share their first characters.
    let some = store.list().recordings[0].summary.id.to_string();
    let err = store.get(&some[..2]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{:?} is ambiguous; it matches ", &some[..2])),
        "{err}"
    );
    assert!(err.to_string().ends_with("and 30 more"), "{err}");
    let err = store.get("7ZZZZZZZZZ").unwrap_err();
    assert_eq!(err.to_string(), "no recording matches \"7ZZZZZZZZZ\"");
    let err = store.get("../../etc/passwd").unwrap_err();
    assert!(
        err.to_string().contains("is not a recording id or prefix"),
        "{err}"
    );
    let full = store.get(&some.to_lowercase()).unwrap();
    assert_eq!(full.id.to_string(), some);
}

#[test]
fn a_disabled_recorder_records_nothing_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("never");
    let (rec, guard) = recorder(config(&root).enabled(false));
    assert!(rec.start(StartOptions::new(RecordReason::Manual)).is_none());
    assert!(!rec.is_enabled());
    drop(guard);
    assert!(!root.exists());
    assert_eq!(Recorder::disabled().stats(), retrace::Stats::default());
}

#[test]
fn an_unusable_recording_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Recorder::new(config(&file).build().unwrap()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot create recording directory {}",
            file.display()
        )),
        "{text}"
    );
}

#[test]
fn session_metadata_is_written_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).service("billing api"));
    record_one(&rec, 1, 512).unwrap();
    let session_dir = rec.session_dir().unwrap().to_path_buf();
    let name = session_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("billing-api_"), "{name}");
    let before: retrace::metadata::SessionMetadata =
        serde_json::from_slice(&std::fs::read(session_dir.join("metadata.json")).unwrap()).unwrap();
    assert!(!before.closed_cleanly);
    guard.shutdown().unwrap();
    let after: retrace::metadata::SessionMetadata =
        serde_json::from_slice(&std::fs::read(session_dir.join("metadata.json")).unwrap()).unwrap();
    assert!(after.closed_cleanly);
    assert_eq!(after.service, "billing api");
    assert_eq!(after.pid, std::process::id());
    assert_eq!(after.stats.written, 1);
    assert!(after.ended_unix_ms.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&session_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let seg = segment_files(&session_dir).unwrap().remove(0);
        let mode = std::fs::metadata(seg).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn interval_flushing_and_rotation_by_age() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(
        config(dir.path())
            .flush(retrace::FlushPolicy::Interval(Duration::from_millis(50)))
            .segment_max_age(Duration::from_millis(200)),
    );
    for round in 0..3 {
        let began = std::time::Instant::now();
        for i in 0..5 {
            record_one(&rec, round * 10 + i, 512).unwrap();
        }
        // Nothing asks for a flush: the interval alone writes everything out.
        let want = (round as u64 + 1) * 5;
        let deadline = began + Duration::from_secs(10);
        while rec.stats().written < want && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(rec.stats().written, want, "round {round}");
        // Let the segment pass its age, so the next round starts a new one.
        std::thread::sleep(Duration::from_millis(450).saturating_sub(began.elapsed()));
    }
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 15);
    let store = Store::open(dir.path()).unwrap();
    let segments = segment_files(&store.sessions()[0].dir).unwrap();
    assert!(
        segments.len() >= 3,
        "one segment per 200 ms of age: {segments:?}"
    );
    for seg in &segments {
        assert!(
            read_segment(seg).from_index,
            "{} was closed with an index",
            seg.display()
        );
    }
    assert_eq!(store.list().recordings.len(), 15);
}

#[test]
fn a_session_says_where_its_process_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).with_env_vars([
        ("POD_NAME", "web-7f9c-xk2p"),
        ("NODE_NAME", "node-3"),
        ("POD_NAMESPACE", "shop"),
        ("RETRACE_REGION", "eu-west-1"),
        ("RETRACE_BUILD_VERSION", "2.4.1"),
        ("RETRACE_GIT_COMMIT", "9f2c4e1"),
    ]));
    record_one(&rec, 1, 64).unwrap();
    guard.shutdown().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let origin = store.sessions()[0].origin().unwrap().clone();
    assert_eq!(
        origin,
        retrace::metadata::Origin {
            pod: Some("web-7f9c-xk2p".into()),
            node: Some("node-3".into()),
            namespace: Some("shop".into()),
            region: Some("eu-west-1".into()),
            build_version: Some("2.4.1".into()),
            git_commit: Some("9f2c4e1".into()),
        }
    );
    // A session written before the field existed reads with no origin.
    let meta = store.sessions()[0]
        .dir
        .join(retrace::metadata::METADATA_FILE);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("origin");
    std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.sessions()[0].origin(),
        Some(&retrace::metadata::Origin::default())
    );
}
