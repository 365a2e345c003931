//! Damaged files: a flipped byte is reported by file and offset and the rest still
//! reads; a newer format is refused by name; a cut anywhere keeps every frame before it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use retrace::segment::{Frames, HEADER_LEN};
use retrace::store::{scan_segment, segment_files};
use retrace::{Problem, Store, StoreError};

/// Writes 50 recordings in 5 frames into one segment; returns the segment's path.
fn five_frames(dir: &Path) -> PathBuf {
    let (rec, guard) = common::recorder(common::config(dir));
    for frame in 0..5 {
        // Held still, the writer then drains all ten in one batch: one frame.
        let pause = rec.pause_writer().unwrap();
        for i in 0..10 {
            common::record_one(&rec, frame * 10 + i, 600).unwrap();
        }
        drop(pause);
        rec.flush(Duration::from_secs(5)).unwrap();
    }
    guard.shutdown().unwrap();
    let store = Store::open(dir).unwrap();
    let mut segs = segment_files(&store.sessions()[0].dir).unwrap();
    assert_eq!(segs.len(), 1);
    segs.remove(0)
}

fn frame_offsets(seg: &Path) -> Vec<u64> {
    let data = fs::read(seg).unwrap();
    Frames::new(&data, HEADER_LEN)
        .map(|f| f.unwrap().offset)
        .collect()
}

#[test]
fn a_flipped_byte_names_file_and_offset_and_the_rest_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let seg = five_frames(dir.path());
    let offsets = frame_offsets(&seg);
    assert_eq!(offsets.len(), 5);
    let mut data = fs::read(&seg).unwrap();
    data[offsets[2] as usize + 30] ^= 0x01;
    fs::write(&seg, &data).unwrap();

    // The index still lists everything; the damaged recordings fail to load, by name.
    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    assert_eq!(listing.recordings.len(), 50);
    let mut damaged = 0;
    for info in &listing.recordings {
        match store.load(info) {
            Ok(r) => assert!(r.response().is_some()),
            Err(e @ StoreError::Damaged { .. }) => {
                damaged += 1;
                let text = e.to_string();
                assert!(
                    text.contains(&format!(
                        "{}: corrupt frame at offset {}: checksum mismatch",
                        seg.display(),
                        offsets[2]
                    )),
                    "{text}"
                );
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(damaged, 10);

    // Without the index, the scan reports the corruption and lists the other 40.
    fs::remove_file(seg.with_extension("rtidx")).unwrap();
    let listing = Store::open(dir.path()).unwrap().list();
    assert_eq!(listing.recordings.len(), 40);
    assert_eq!(listing.problems.len(), 1);
    assert_eq!(
        listing.problems[0].to_string(),
        format!(
            "{}: corrupt frame at offset {}: checksum mismatch; {} bytes skipped",
            seg.display(),
            offsets[2],
            offsets[3] - offsets[2]
        )
    );
    assert!(listing.problems[0].is_damage());
}

#[test]
fn a_newer_major_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let seg = five_frames(dir.path());
    fs::remove_file(seg.with_extension("rtidx")).unwrap();
    let mut data = fs::read(&seg).unwrap();
    data[8..10].copy_from_slice(&4u16.to_le_bytes());
    fs::write(&seg, &data).unwrap();
    let listing = Store::open(dir.path()).unwrap().list();
    assert!(listing.recordings.is_empty());
    assert_eq!(
        listing.problems,
        vec![Problem::Unsupported {
            file: seg.clone(),
            reason: "segment format version 4.0 is newer than this reader supports (3.x); upgrade retrace to read it".to_owned()
        }]
    );
}

#[test]
fn a_cut_at_any_offset_keeps_every_frame_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let seg = five_frames(dir.path());
    let offsets = frame_offsets(&seg);
    let data = fs::read(&seg).unwrap();
    let cut_path = dir.path().join("cut.rtseg");
    for cut in HEADER_LEN..data.len() {
        fs::write(&cut_path, &data[..cut]).unwrap();
        let scan = scan_segment(&cut_path);
        let whole = offsets
            .iter()
            .enumerate()
            .filter(|&(i, _)| offsets.get(i + 1).map_or(data.len(), |&n| n as usize) <= cut)
            .count();
        let recovered: usize = scan.entries.len();
        assert_eq!(recovered, whole * 10, "cut at {cut}");
        let at_boundary = offsets.contains(&(cut as u64)) || cut == HEADER_LEN;
        if at_boundary {
            assert!(
                scan.problems.is_empty(),
                "cut at {cut}: {:?}",
                scan.problems
            );
        } else {
            assert!(
                matches!(scan.problems.as_slice(), [Problem::TornTail { offset, .. }] if *offset == offsets[whole]),
                "cut at {cut}: {:?}",
                scan.problems
            );
        }
    }
}

#[test]
fn a_damaged_index_is_ignored_and_the_segment_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let seg = five_frames(dir.path());
    let idx = seg.with_extension("rtidx");
    let mut data = fs::read(&idx).unwrap();
    let last = data.len() - 6;
    data[last] ^= 0xff;
    fs::write(&idx, &data).unwrap();
    let listing = Store::open(dir.path()).unwrap().list();
    assert_eq!(listing.recordings.len(), 50);
    assert!(
        matches!(listing.problems.as_slice(), [Problem::IndexIgnored { file, .. }] if *file == idx),
        "{:?}",
        listing.problems
    );
}
