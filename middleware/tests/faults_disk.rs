//! Disk faults under a real recorded axum service: a file system that fills up (a small
//! tmpfs) and a session directory made read-only mid-run (`chattr +i`, since root
//! ignores permission bits). While the disk fails, the service answers every request,
//! losses are counted as I/O errors, nothing written before the fault is damaged, and
//! writing resumes by itself once the disk works again.
//!
//! Both need privileges (mounting, the immutable attribute). Without them each test says
//! `SKIPPED` on the real stderr (not the captured one) and passes.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::routing::get;
use bytes::Bytes;
use retrace::store::{scan_segment, segment_files};
use retrace::{DropReason, FlushPolicy, Recorder, Store};
use retrace_tower::RecordLayer;
use retrace_tower::record::RECORDING_ID_HEADER;
use support::*;

/// Says a test did not run, where `cargo test` shows it even for a passing test.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A body that does not compress: so a few hundred requests fill a small disk.
fn noise(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 26) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn app(layer: RecordLayer) -> Router {
    Router::new()
        .route(
            "/data/{n}",
            get(|UrlPath(n): UrlPath<u64>| async move { noise(n, 2048) }),
        )
        .layer(layer)
}

/// A tmpfs of `size` bytes mounted on a temporary directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs not permitted here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Marks a directory tree immutable (`chattr -R +i`) until dropped.
struct Immutable {
    dir: PathBuf,
}

impl Immutable {
    fn set(dir: &Path) -> Result<Self, String> {
        let out = Command::new("chattr")
            .args(["-R", "+i"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run chattr: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chattr +i not permitted here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .args(["-R", "-i"])
            .arg(&self.dir)
            .status();
    }
}

/// Whether `chattr +i` works on a scratch directory under `root`.
fn immutable_supported(root: &Path) -> Result<(), String> {
    let probe = root.join("probe");
    std::fs::create_dir(&probe).map_err(|e| e.to_string())?;
    let result = Immutable::set(&probe).map(drop);
    let _ = std::fs::remove_dir(&probe);
    result
}

/// Sends `n` requests from `first`; every one must be answered, each within a second
/// (the request path never waits on the disk). Returns id -> body of the recorded ones.
async fn load(server: &Server, client: &HttpClient, first: u64, n: u64) -> HashMap<String, Bytes> {
    let mut ids = HashMap::new();
    for i in first..first + n {
        let started = Instant::now();
        let answer = send(
            client,
            get_req(&server.url(&format!("/data/{i}")))
                .body(empty())
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 200, "request {i} not served");
        assert_eq!(answer.body, noise(i, 2048), "request {i} answered wrong");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "request {i} took {:?} while the disk failed",
            started.elapsed()
        );
        let id = answer.headers[RECORDING_ID_HEADER].to_str().unwrap();
        ids.insert(id.to_owned(), answer.body);
    }
    ids
}

/// Copies of the closed segments and their indexes (the files a fault must not touch).
fn closed_segments(root: &Path) -> Vec<(PathBuf, Vec<u8>, Vec<u8>)> {
    let store = Store::open(root).unwrap();
    let mut out = Vec::new();
    for session in store.sessions() {
        for seg in segment_files(&session.dir).unwrap() {
            let index = seg.with_extension("rtidx");
            if index.exists() {
                out.push((
                    seg.clone(),
                    std::fs::read(&seg).unwrap(),
                    std::fs::read(&index).unwrap(),
                ));
            }
        }
    }
    out
}

/// Runs the service through a fault: `before` recordings on a sound disk, then `inject`,
/// 100 requests against the failing disk, then `heal`, then traffic until writing
/// resumes. Checks the accounting, the files written before the fault, and that
/// every recording the writer counts as written reads back with the body served.
async fn through_a_fault(
    root: &Path,
    inject: impl FnOnce(&Recorder) -> Box<dyn std::any::Any>,
    counters_writable: bool,
) -> retrace::Stats {
    let (rec, guard) = recorder(
        config(root)
            .sample_rate(1.0)
            .segment_max_bytes(16 * 1024)
            .flush(FlushPolicy::EveryBatch),
    );
    let layer = RecordLayer::builder(rec.clone())
        .echo_recording_id(true)
        .build()
        .unwrap();
    let server = serve(app(layer)).await;
    let client = client();
    let flush = |rec: &Recorder| rec.flush(Duration::from_secs(5)).unwrap();

    // A sound disk: everything is written, until several segments are closed (how many
    // recordings that takes depends on how the writer batched them).
    let mut served = HashMap::new();
    let mut sent: u64 = 0;
    while closed_segments(root).len() < 3 {
        assert!(sent < 2000, "no segments closed: {:?}", rec.stats());
        served.extend(load(&server, &client, sent, 20).await);
        sent += 20;
        flush(&rec);
    }
    assert_eq!(rec.stats().written, sent, "{:?}", rec.stats());
    let before = closed_segments(root);

    // The fault.
    let fault = inject(&rec);
    let failing = load(&server, &client, 1000, 100).await;
    flush(&rec);
    let during = rec.stats();
    assert!(
        during.dropped(DropReason::IoError) > 0,
        "no I/O error loss counted: {during:?}"
    );
    assert!(during.write_errors > 0, "{during:?}");
    assert_eq!(
        during.dropped_total(),
        during.dropped(DropReason::IoError),
        "every loss is an I/O error: {during:?}"
    );
    served.extend(failing);
    if counters_writable {
        // What `retrace stats` reads shows the outage while it lasts: the counters file
        // is rewritten in place, which a full disk allows.
        let on_disk = Store::open(root).unwrap().sessions()[0]
            .metadata
            .clone()
            .unwrap()
            .stats;
        assert!(on_disk.write_errors > 0, "{on_disk:?}");
        assert!(on_disk.dropped(DropReason::IoError) > 0, "{on_disk:?}");
    }
    // A fault that lasts: the writer's retries back off to their longest interval.
    let mut i = 1100;
    let lasting = Instant::now();
    while lasting.elapsed() < Duration::from_secs(3) {
        served.extend(load(&server, &client, i, 5).await);
        i += 5;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The disk works again: writing resumes by itself within the longest back-off
    // (500 ms).
    drop(fault);
    let resumed_at = Instant::now();
    let mut i = i.max(2000);
    loop {
        let written = rec.stats().written;
        served.extend(load(&server, &client, i, 5).await);
        i += 5;
        flush(&rec);
        if rec.stats().written > written {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resume = resumed_at.elapsed();
    eprintln!("writing resumed {resume:?} after the disk worked again");
    // Measured at about 0.5 s at most here; the bound leaves room for a loaded machine.
    assert!(
        resume < Duration::from_secs(2),
        "writing resumed only after {resume:?}: {:?}",
        rec.stats()
    );
    let lost = rec.stats().dropped_total();
    served.extend(load(&server, &client, 5000, 40).await);
    flush(&rec);
    assert_eq!(
        rec.stats().dropped_total(),
        lost,
        "losses after recovery: {:?}",
        rec.stats()
    );

    drop(server);
    let stats = guard.shutdown().unwrap();
    // Exact accounting: every request served was started, and each is either written
    // or dropped for a reason.
    assert_eq!(stats.started, served.len() as u64, "{stats:?}");
    assert_eq!(
        stats.started,
        stats.written + stats.dropped_total(),
        "{stats:?}"
    );

    // What was written before the fault is byte for byte the same, and every segment
    // scans clean: a failed write left no half frame behind.
    for (seg, data, index) in &before {
        assert_eq!(
            &std::fs::read(seg).unwrap(),
            data,
            "{} changed",
            seg.display()
        );
        assert_eq!(
            &std::fs::read(seg.with_extension("rtidx")).unwrap(),
            index,
            "the index of {} changed",
            seg.display()
        );
    }
    let store = Store::open(root).unwrap();
    for session in store.sessions() {
        for seg in segment_files(&session.dir).unwrap() {
            // An index that could not be written during the fault was written later:
            // after a clean shutdown every segment is closed.
            assert!(
                seg.with_extension("rtidx").exists(),
                "{} has no index after a clean shutdown",
                seg.display()
            );
            let scanned = scan_segment(&seg);
            assert!(
                scanned.problems.is_empty(),
                "{}: {:?}",
                seg.display(),
                scanned.problems
            );
        }
    }
    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert_eq!(listing.recordings.len() as u64, stats.written);
    for info in &listing.recordings {
        let recording = store.load(info).unwrap();
        let id = recording.id.to_string();
        let body: Vec<u8> = recording
            .events
            .iter()
            .filter_map(|e| match e {
                retrace::Event::ResponseBody(c) => Some(c.data.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(Bytes::from(body), served[&id], "recording {id}");
    }
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_drops_and_counts_keeps_old_segments_and_writing_resumes() {
    let fs = match Tmpfs::mount("1m") {
        Ok(fs) => fs,
        Err(why) => return skip("disk full on tmpfs", &why),
    };
    let root = fs.path().join("recordings");
    let filler = fs.path().join("filler");
    let stats = through_a_fault(
        &root,
        |_| {
            // Fill every byte that is left.
            let mut f = std::fs::File::create(&filler).unwrap();
            let block = vec![0u8; 4096];
            while f.write_all(&block).is_ok() {}
            let _ = f.write_all(&[0]);
            struct Filler(PathBuf);
            impl Drop for Filler {
                fn drop(&mut self) {
                    std::fs::remove_file(&self.0).unwrap();
                }
            }
            Box::new(Filler(filler.clone()))
        },
        true,
    )
    .await;
    // At least 20 before the fault, 5 when writing resumed and 40 after.
    assert!(stats.written >= 65, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_directory_made_read_only_mid_run_drops_and_counts_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    if let Err(why) = immutable_supported(dir.path()) {
        return skip("read-only session directory", &why);
    }
    let stats = through_a_fault(
        dir.path(),
        |rec| {
            let session = rec.session_dir().unwrap();
            Box::new(Immutable::set(session).unwrap())
        },
        false,
    )
    .await;
    // At least 20 before the fault, 5 when writing resumed and 40 after.
    assert!(stats.written >= 65, "{stats:?}");
}
