//! libFuzzer target for the segment reader and frame decoder: any bytes, read as a
//! segment, as a frame payload and as an index, must never panic, hang or allocate
//! beyond the limits. The stable-toolchain property test (`tests/segment_fuzz.rs`)
//! covers the same readers for a short time in CI; this is for long runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use retrace::segment::{Frames, HEADER_LEN, SegmentIndex, codec};

fuzz_target!(|data: &[u8]| {
    for start in [0, HEADER_LEN] {
        for frame in Frames::new(data, start).flatten() {
            let _ = codec::decode_payload(frame.payload);
        }
    }
    let _ = codec::decode_payload(data);
    let _ = SegmentIndex::decode(data);
    // The file readers, through a real file.
    let dir = std::env::temp_dir().join(format!("retrace-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let seg = dir.join("seg-000001.rtseg");
    if std::fs::write(&seg, data).is_ok() {
        let _ = retrace::store::scan_segment(&seg);
    }
});
