//! The audit log on real files: the chain continues across reopening and rotation, the
//! files are private, concurrent writers (threads sharing a log, and separate logs on
//! one file as separate processes would be) keep one chain, and each kind of tampering
//! is reported at the line where it happened.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use retrace::audit::{self, AuditLine, BrokenLine, BrokenReason, GENESIS_HASH, VerifyReport};
use retrace::{AuditEntry, AuditLog};

fn entry(i: usize) -> AuditEntry {
    AuditEntry::new(format!("key:k{}", i % 3), "recordings.read").target(format!("rec-{i}"))
}

fn write_log(path: &Path, n: usize) {
    let log = AuditLog::open(path).expect("open");
    for i in 1..=n {
        log.append(entry(i)).expect("append");
    }
}

fn lines_of(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(path, lines.join("\n") + "\n").expect("write");
}

fn all_lines(path: &Path) -> Vec<AuditLine> {
    audit::read(path)
        .expect("read")
        .collect::<Result<_, _>>()
        .expect("every line reads")
}

fn broken(report: &VerifyReport) -> &BrokenLine {
    report.broken.as_ref().expect("a broken line")
}

#[test]
fn the_chain_continues_after_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    write_log(&path, 3);
    write_log(&path, 2);
    let report = audit::verify(&path).expect("verify");
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.lines, 5);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(5)));
    let lines = all_lines(&path);
    assert_eq!(lines[0].prev, GENESIS_HASH);
    assert_eq!(lines[3].prev, lines[2].hash);
    assert_eq!(report.last_hash.as_deref(), Some(lines[4].hash.as_str()));
    assert!(
        lines[0].at.ends_with('Z') && lines[0].at.len() == 24,
        "{}",
        lines[0].at
    );
}

#[test]
fn rotation_keeps_the_chain_and_the_newest_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    let log = AuditLog::open(&path).expect("open").rotate_at(1000).keep(3);
    for i in 1..=40 {
        log.append(entry(i)).expect("append");
    }
    let rotated: Vec<PathBuf> = (1..=4)
        .map(|n| dir.path().join(format!("audit.log.{n}")))
        .collect();
    assert!(rotated[..3].iter().all(|p| p.exists()));
    assert!(!rotated[3].exists(), "only 3 rotated files are kept");
    for file in rotated[..3].iter().chain([&path]) {
        let len = fs::metadata(file).expect("meta").len();
        assert!(len <= 1000, "{} is {len} bytes", file.display());
    }

    let report = audit::verify(&path).expect("verify");
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.files.len(), 4);
    assert_eq!(report.files[0], rotated[2]);
    assert_eq!(report.files[3], path);
    assert_eq!(report.last_seq, Some(40));
    let first = report.first_seq.expect("a first line");
    assert!(first > 1, "older lines were rotated away");
    assert_eq!(report.lines, 40 - first + 1);

    // The current file's first line continues from the last line of `.1`.
    let newest_rotated = lines_of(&rotated[0]);
    let last_rotated: AuditLine =
        serde_json::from_str(newest_rotated.last().expect("a line")).expect("json");
    let first_current: AuditLine = serde_json::from_str(&lines_of(&path)[0]).expect("json");
    assert_eq!(first_current.prev, last_rotated.hash);
    assert_eq!(first_current.seq, last_rotated.seq + 1);
}

#[test]
fn an_empty_current_file_continues_from_the_newest_rotated_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    write_log(&path, 4);
    // A crash between renaming the full file and writing to the new one.
    fs::rename(&path, dir.path().join("audit.log.1")).expect("rename");
    fs::write(&path, "").expect("empty file");
    write_log(&path, 1);
    let report = audit::verify(&path).expect("verify");
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!((report.lines, report.files.len()), (5, 2));
}

#[cfg(unix)]
#[test]
fn the_files_and_a_created_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("recordings");
    let path = audit::default_path(&root);
    let log = AuditLog::open(&path).expect("open").rotate_at(300);
    for i in 1..=5 {
        log.append(entry(i)).expect("append");
    }
    let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&root.join("audit.log.1")), 0o600);
}

/// A ten-line log in a fresh directory, for one kind of tampering.
fn ten_lines() -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    write_log(&path, 10);
    let lines = lines_of(&path);
    assert_eq!(lines.len(), 10);
    (dir, path, lines)
}

#[test]
fn an_edited_line_is_named() {
    let (_dir, path, mut lines) = ten_lines();
    lines[3] = lines[3].replace("\"rec-4\"", "\"rec-X\"");
    write_lines(&path, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((b.line, b.seq), (4, Some(4)));
    assert_eq!(b.reason, BrokenReason::HashMismatch);
    assert_eq!(report.lines, 3);
    assert_eq!(
        b.to_string(),
        format!(
            "{} line 4 (seq 4): hash does not match its content",
            path.display()
        )
    );
}

#[test]
fn a_deleted_line_is_named() {
    let (_dir, path, mut lines) = ten_lines();
    lines.remove(4);
    write_lines(&path, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((b.line, b.seq), (5, Some(6)));
    assert_eq!(b.reason, BrokenReason::SeqGap { seq: 6, after: 4 });
    assert!(
        b.to_string().ends_with("line 5 (seq 6): seq 6 follows 4"),
        "{b}"
    );
}

#[test]
fn reordered_lines_are_named() {
    let (_dir, path, mut lines) = ten_lines();
    lines.swap(5, 6);
    write_lines(&path, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((b.line, b.seq), (6, Some(7)));
    assert_eq!(b.reason, BrokenReason::SeqGap { seq: 7, after: 5 });
}

#[test]
fn a_cut_last_line_is_named() {
    let (_dir, path, _) = ten_lines();
    let data = fs::read(&path).expect("read");
    fs::write(&path, &data[..data.len() - 10]).expect("write");
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((b.line, b.seq), (10, Some(10)));
    assert_eq!(b.reason, BrokenReason::Incomplete);
    assert_eq!(report.lines, 9);
    assert!(
        b.to_string()
            .contains("line 10 (seq 10): incomplete (no newline)"),
        "{b}"
    );
}

#[test]
fn garbage_in_the_middle_is_named() {
    let (_dir, path, mut lines) = ten_lines();
    lines[1] = "not json at all".to_owned();
    write_lines(&path, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((b.line, b.seq), (2, None));
    assert!(matches!(b.reason, BrokenReason::NotJson(_)), "{b}");
    assert!(b.to_string().contains("line 2: not JSON: "), "{b}");
}

/// A line for `seq` after `prev`, hashed as the format defines, built without the
/// library: what a forger who knows the format would write.
fn forged(seq: u64, prev: &str, target: &str) -> String {
    let unsealed = serde_json::json!({
        "seq": seq, "at": "2026-12-07T01:02:03.456Z", "who": "key:k0",
        "action": "recordings.read", "target": target, "outcome": "ok", "prev": prev,
    })
    .to_string();
    let hash = blake3::hash(unsealed.as_bytes()).to_hex();
    format!("{},\"hash\":\"{hash}\"}}", &unsealed[..unsealed.len() - 1])
}

#[test]
fn a_rehashed_line_breaks_the_link_to_the_next_one() {
    let (_dir, path, mut lines) = ten_lines();
    let third: AuditLine = serde_json::from_str(&lines[2]).expect("json");
    lines[2] = forged(3, &third.prev, "somewhere-else");
    write_lines(&path, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((b.line, b.seq), (4, Some(4)));
    assert_eq!(
        b.reason,
        BrokenReason::PrevMismatch {
            file: None,
            line: 3
        }
    );
    assert!(
        b.to_string().ends_with("prev does not match line 3's hash"),
        "{b}"
    );
}

#[test]
fn a_first_line_must_start_from_zeros() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    write_lines(&path, &[forged(1, &"f".repeat(64), "x")]);
    let report = audit::verify(&path).expect("verify");
    assert_eq!(broken(&report).reason, BrokenReason::FirstPrevNotZero);
}

#[test]
fn tampering_in_a_rotated_file_names_that_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    let log = AuditLog::open(&path).expect("open").rotate_at(800);
    for i in 1..=12 {
        log.append(entry(i)).expect("append");
    }
    let older = dir.path().join("audit.log.1");
    let mut lines = lines_of(&older);
    let last = lines.len() - 1;
    lines[last] = lines[last].replace("recordings.read", "recordings.list");
    write_lines(&older, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((&b.file, b.line), (&older, last as u64 + 1));
    assert_eq!(b.reason, BrokenReason::HashMismatch);

    // Removing the whole last line of `.1` breaks the current file's first line, and
    // the reason names the line it should have followed, in the other file.
    lines.pop();
    write_lines(&older, &lines);
    let report = audit::verify(&path).expect("verify");
    let b = broken(&report);
    assert_eq!((&b.file, b.line), (&path, 1));
    assert!(matches!(b.reason, BrokenReason::SeqGap { .. }), "{b}");
}

/// Runs `work(0..8)` on eight threads at once and waits for them.
fn in_eight_threads(work: impl Fn(usize) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let work = Arc::clone(&work);
            std::thread::spawn(move || work(t))
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}

#[test]
fn eight_threads_appending_keep_one_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    let log = Arc::new(AuditLog::open(&path).expect("open"));
    in_eight_threads(move |t| {
        for i in 0..50 {
            log.append(entry(t * 100 + i)).expect("append");
        }
    });
    let report = audit::verify(&path).expect("verify");
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.lines, 400);
}

#[test]
fn separate_writers_on_one_file_keep_one_chain_through_rotations() {
    // Each thread opens its own log, as separate processes would: only the file lock
    // orders them.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = audit::default_path(dir.path());
    let shared = path.clone();
    in_eight_threads(move |t| {
        let log = AuditLog::open(&shared)
            .expect("open")
            .rotate_at(4000)
            .keep(1000);
        for i in 0..40 {
            log.append(entry(t * 100 + i)).expect("append");
        }
    });
    let report = audit::verify(&path).expect("verify");
    assert!(report.is_intact(), "{:?}", report.broken);
    assert_eq!(report.lines, 320);
    assert!(report.files.len() > 2, "{:?}", report.files);
    assert_eq!(all_lines(&path).len(), 320);
}

#[test]
fn the_store_ignores_the_audit_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(&audit::default_path(dir.path()), 2);
    let store = retrace::Store::open(dir.path()).expect("open");
    assert!(store.sessions().is_empty());
    let listing = store.list();
    assert!(listing.recordings.is_empty() && listing.problems.is_empty());
}
