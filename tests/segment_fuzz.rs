//! Bad input for the readers, on the stable toolchain: random bytes and mutated valid
//! segments, indexes and payloads fed to [`Frames`], [`codec::decode_payload`],
//! [`SegmentIndex::decode`] and [`scan_segment`] for a bounded time. None may panic,
//! take long on a small input, or allocate more than the input can justify.
//!
//! Budget: `RETRACE_FUZZ_SECS` (default 3 seconds); `RETRACE_FUZZ_SEED` replays a run.
//! The libFuzzer harness for long runs is in `fuzz/` (see its README). Inputs that ever
//! broke a reader are kept in `tests/fixtures/fuzz/` and replayed first.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use retrace::segment::{FRAME_TRAILER, Frames, HEADER_LEN, SegmentIndex, codec, encode_frame};
use retrace::store::{read_segment, scan_segment, segment_files};

/// Counts the largest single allocation while armed.
struct Watch;

static ARMED: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// The most a reader may allocate at once for an input of `len` bytes: a fixed
/// allowance for bookkeeping, plus what lz4 can expand the input to (255 to 1).
fn allowance(len: usize) -> usize {
    (2 << 20) + 256 * len
}

/// Feeds one input to every reader in memory; returns what it cost.
fn feed(data: &[u8]) -> (Duration, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
    let started = Instant::now();
    for start in [0, HEADER_LEN] {
        let mut frames = 0usize;
        for frame in Frames::new(data, start).flatten() {
            frames += 1;
            let _ = codec::decode_payload(frame.payload);
        }
        assert!(frames <= data.len() / 12 + 1);
    }
    let _ = codec::decode_payload(data);
    let _ = SegmentIndex::decode(data);
    let took = started.elapsed();
    ARMED.store(false, Ordering::Relaxed);
    (took, LARGEST.load(Ordering::Relaxed))
}

/// Feeds an input as a segment file (and, when given, its index) to the store's readers.
fn feed_file(dir: &Path, data: &[u8], index: Option<&[u8]>) -> (Duration, usize) {
    let seg = dir.join("seg-000001.rtseg");
    std::fs::write(&seg, data).unwrap();
    let idx = seg.with_extension("rtidx");
    match index {
        Some(i) => std::fs::write(&idx, i).unwrap(),
        None => {
            let _ = std::fs::remove_file(&idx);
        }
    }
    LARGEST.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let _ = scan_segment(&seg);
    let contents = read_segment(&seg);
    for entry in contents.entries.iter().take(50) {
        for &offset in entry.frames.iter().take(50) {
            let _ = retrace::store::read_frame_chunks(&seg, offset);
        }
    }
    let took = started.elapsed();
    ARMED.store(false, Ordering::Relaxed);
    let largest = LARGEST.load(Ordering::Relaxed);
    // read_frame_chunks reads a frame whose length prefix the input chose, up to the
    // frame limit: that is the documented cap for reads through an index.
    (took, largest)
}

fn check(what: &str, data: &[u8], (took, largest): (Duration, usize), cap: usize) {
    assert!(
        took < Duration::from_secs(2),
        "{what}: {} input bytes took {took:?}; input kept in {}",
        data.len(),
        keep(data)
    );
    assert!(
        largest <= cap,
        "{what}: {} input bytes allocated {largest} bytes at once (cap {cap}); input kept in {}",
        data.len(),
        keep(data)
    );
}

/// Writes a failing input where it can be copied into `tests/fixtures/fuzz/`.
fn keep(data: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("retrace-fuzz-{:016x}.bin", blake_ish(data)));
    let _ = std::fs::write(&path, data);
    path.display().to_string()
}

fn blake_ish(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// A real segment and index written by the recorder: three frames of realistic traffic.
fn valid_segment() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = common::recorder(common::config(dir.path()).frame_target_bytes(2048));
    for i in 0..6 {
        common::record_one(&rec, i, 600).unwrap();
    }
    guard.shutdown().unwrap();
    let session = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let seg = segment_files(&session).unwrap().remove(0);
    (
        std::fs::read(&seg).unwrap(),
        std::fs::read(seg.with_extension("rtidx")).unwrap(),
    )
}

fn mutate(rng: &mut StdRng, mut data: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..6) {
        let len = data.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] = [0, 0xff, 0x7f, 0x80, 1][rng.random_range(0..5)];
            }
            2 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..64);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = (i + rng.random_range(1..256)).min(len);
                data.drain(i..j);
            }
            4 if len > 0 => {
                let i = rng.random_range(0..len);
                let j = (i + rng.random_range(1..256)).min(len);
                let copy = data[i..j].to_vec();
                let at = rng.random_range(0..=data.len());
                data.splice(at..at, copy);
            }
            5 if len >= 4 => {
                // A hostile length: huge, or just past the end.
                let i = rng.random_range(0..len - 3);
                let v: u32 = [u32::MAX, 64 << 20, (64 << 20) + 1, len as u32, rng.random()]
                    [rng.random_range(0..5)];
                data[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            6 => data.truncate(rng.random_range(0..=len)),
            7 => {
                // A valid frame around garbage: the checksum holds, the payload lies.
                let n = rng.random_range(0..128);
                let payload: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                let at = rng.random_range(0..=len);
                let mut frame = Vec::new();
                encode_frame(&payload, &mut frame);
                data.splice(at..at, frame);
            }
            _ => {
                let at = rng.random_range(0..=len);
                data.splice(at..at, FRAME_TRAILER);
            }
        }
    }
    data
}

/// A frame payload claiming a huge decompressed size, wrapped in a frame whose
/// checksum holds.
fn bomb(declared: u32, body: &[u8]) -> Vec<u8> {
    let mut payload = declared.to_le_bytes().to_vec();
    payload.extend_from_slice(body);
    let mut out = retrace::segment::SegmentHeader::CURRENT.encode().to_vec();
    encode_frame(&payload, &mut out);
    out
}

#[test]
fn kept_crash_inputs_and_known_attacks_stay_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut inputs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&fixtures)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    (
                        e.path().display().to_string(),
                        std::fs::read(e.path()).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // A 20-byte frame declaring 256 MiB of decompressed data.
    inputs.push(("decompression bomb".into(), bomb(256 << 20, &[0; 4])));
    inputs.push(("declared past the limit".into(), bomb(u32::MAX, &[0; 4])));
    for (name, data) in &inputs {
        check(name, data, feed(data), allowance(data.len()));
        check(
            name,
            data,
            feed_file(dir.path(), data, None),
            allowance(data.len()),
        );
    }
}

#[test]
fn random_and_mutated_inputs_never_panic_hang_or_over_allocate() {
    let secs: u64 = std::env::var("RETRACE_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("RETRACE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("segment fuzz: seed {seed} (RETRACE_FUZZ_SEED={seed} replays), {secs} s");
    let mut rng = StdRng::seed_from_u64(seed);
    let (segment, index) = valid_segment();
    // The valid inputs read back whole.
    let payloads: Vec<Vec<u8>> = Frames::new(&segment, HEADER_LEN)
        .flatten()
        .map(|f| f.payload.to_vec())
        .collect();
    assert!(payloads.len() >= 2);
    let chunks: usize = payloads
        .iter()
        .map(|p| codec::decode_payload(p).unwrap().len())
        .sum();
    assert_eq!(chunks, 6);
    SegmentIndex::decode(&index).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        runs += 1;
        let (what, data) = match rng.random_range(0..5) {
            0 => {
                let n = rng.random_range(0..2048);
                ("random bytes", (0..n).map(|_| rng.random()).collect())
            }
            1 | 2 => ("mutated segment", mutate(&mut rng, segment.clone())),
            3 => ("mutated index", mutate(&mut rng, index.clone())),
            _ => {
                let p = payloads[rng.random_range(0..payloads.len())].clone();
                ("mutated payload", mutate(&mut rng, p))
            }
        };
        check(what, &data, feed(&data), allowance(data.len()));
        if runs.is_multiple_of(16) {
            // Through the file readers, with the valid index or a mutated one beside it.
            let idx = match rng.random_range(0..3) {
                0 => None,
                1 => Some(index.clone()),
                _ => Some(mutate(&mut rng, index.clone())),
            };
            // An index may point the reader at any offset, whose length prefix then
            // sizes one read: up to the frame limit, never more.
            let cap = allowance(data.len()).max(retrace::segment::MAX_FRAME_BYTES + 64);
            check(
                what,
                &data,
                feed_file(dir.path(), &data, idx.as_deref()),
                cap,
            );
        }
    }
    eprintln!("segment fuzz: {runs} inputs");
    assert!(runs > 100, "only {runs} inputs in {secs} s");
}
