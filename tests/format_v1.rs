//! Format fixtures: a segment and its index written by the recorder at format version
//! 1.0, committed under `tests/fixtures/v1/` and read back with exact expectations, so a
//! change to the format (or to postcard, lz4 or the event model's encoding) that would
//! make old files unreadable fails here. When the format changes, add a `v2` fixture
//! beside this one; never regenerate `v1`.

mod common;

use std::path::{Path, PathBuf};

use retrace::segment::{Frames, HEADER_LEN, SegmentHeader, SegmentIndex, codec};
use retrace::store::{check_segment, read_segment, scan_segment};
use retrace::{Event, RecordReason, StartOptions};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

/// Writes the fixture: only for a new format version, by hand, with
/// `RETRACE_WRITE_V1_FIXTURE=1 cargo test --test format_v1` (the ids in `IDS` below then
/// change to the new ones).
fn write_v1_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = common::recorder(common::config(dir.path()).frame_target_bytes(1024));
    for i in 0..3 {
        common::record_one(&rec, i, 400).unwrap();
    }
    guard.shutdown().unwrap();
    let session = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = fixture_dir();
    std::fs::create_dir_all(&out).unwrap();
    for name in ["seg-000001.rtseg", "seg-000001.rtidx"] {
        std::fs::copy(session.join(name), out.join(name)).unwrap();
    }
}

/// The events `common::record_one(i, 400)` records between Begin and End.
fn expected_middle(i: usize) -> Vec<Event> {
    let dir = tempfile::tempdir().unwrap();
    let (rec, _guard) = common::recorder(common::config(dir.path()));
    let handle = rec.start(StartOptions::new(RecordReason::Sampled)).unwrap();
    let events = common::request_events(&handle, i, 400);
    handle.discard();
    events
}

const IDS: [&str; 3] = [
    "01M851SFVK2RHDV8PA62ZMKTPQ",
    "01M851SFVKBVYK5DXVDZXKP9X8",
    "01M851SFVK7YM464NR0RM386H0",
];

#[test]
fn the_v1_fixture_reads_back_exactly() {
    if std::env::var("RETRACE_WRITE_V1_FIXTURE").is_ok_and(|v| v == "1") {
        write_v1_fixture();
    }
    let seg = fixture_dir().join("seg-000001.rtseg");
    let data = std::fs::read(&seg).unwrap();
    assert_eq!(
        SegmentHeader::decode(&data).unwrap(),
        SegmentHeader { major: 1, minor: 0 }
    );
    let frames: Vec<_> = Frames::new(&data, HEADER_LEN)
        .collect::<Result<_, _>>()
        .unwrap();
    let chunks: Vec<_> = frames
        .iter()
        .flat_map(|f| codec::decode_payload(f.payload).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.id.to_string(), IDS[i]);
        assert_eq!((chunk.seq, chunk.last), (0, true));
        assert_eq!(common::middle(&chunk.events), expected_middle(i));
        let Some(Event::End(end)) = chunk.events.last() else {
            panic!("no end")
        };
        assert_eq!(end.status, Some(if i == 0 { 500 } else { 200 }));
    }

    // The index agrees, and the store uses it.
    let index = SegmentIndex::decode(&std::fs::read(seg.with_extension("rtidx")).unwrap()).unwrap();
    assert_eq!(index.segment_len, data.len() as u64);
    let ids: Vec<_> = index.entries.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, IDS);
    let contents = read_segment(&seg);
    assert!(contents.from_index && contents.problems.is_empty());
    let scanned = scan_segment(&seg);
    assert!(scanned.problems.is_empty());
    assert_eq!(scanned.entries, index.entries);
    let check = check_segment(&seg);
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.recordings, 3);
    let summary = &index.entries[2].summary;
    assert_eq!(
        (
            summary.method.as_ref(),
            summary.uri.as_str(),
            summary.status
        ),
        ("GET", "/orders/2?expand=items", Some(200))
    );
}
