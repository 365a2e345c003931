//! Encryption at rest with a real process: a child records, encrypted to an age
//! recipient, and is killed with SIGKILL. On disk no byte of what it recorded is in
//! clear; with the identity, every recording it had flushed reads back, and the killed
//! segment's tail is a torn tail as in a plain segment, not damage.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use age::secrecy::ExposeSecret;
use retrace::store::segment_files;
use retrace::{Problem, Store};

const CHILD_DIR: &str = "RETRACE_TEST_ENCRYPTED_CHILD_DIR";
const CHILD_RECIPIENT: &str = "RETRACE_TEST_ENCRYPTED_CHILD_RECIPIENT";

fn record_until_killed(dir: &str, recipient: &str) {
    let (rec, _guard) = common::recorder(
        common::config(dir.as_ref())
            .segment_max_bytes(64 * 1024)
            .encrypt_to([recipient]),
    );
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

/// Every byte of every file under `dir`.
fn every_byte(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(every_byte(&path));
        } else {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

#[test]
fn a_killed_encrypted_writer_leaves_no_plaintext_and_loses_only_its_torn_tail() {
    if let (Ok(dir), Ok(recipient)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_RECIPIENT)) {
        return record_until_killed(&dir, &recipient);
    }
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_encrypted_writer_leaves_no_plaintext_and_loses_only_its_torn_tail",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_RECIPIENT, &recipient)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut flushed = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while flushed.len() < 1_000 {
        let line = lines.next().expect("child still running").unwrap();
        if let Some(id) = line.strip_prefix("flushed ") {
            flushed.push(id.to_owned());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // What the recordings hold (bodies, targets, paths, headers) is nowhere in clear.
    let raw = every_byte(dir.path());
    for planted in [&b"SKU-0"[..], b"inventory.local", b"/orders/", b"load/1.0"] {
        assert!(
            !raw.windows(planted.len()).any(|w| w == planted),
            "{} is on disk in clear",
            String::from_utf8_lossy(planted)
        );
    }
    let store = Store::open(dir.path()).unwrap();
    let session = &store.sessions()[0];
    let segments = segment_files(&session.dir).unwrap();
    assert!(segments.len() > 1, "{segments:?}");
    let header = std::fs::read(&segments[0]).unwrap();
    assert_eq!(
        &header[8..10],
        &3u16.to_le_bytes(),
        "encrypted files are format 3"
    );

    // Without the identity nothing reads, and each file says whom it is for.
    let locked = store.list();
    assert!(locked.recordings.is_empty());
    assert!(
        locked
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Encrypted { reason, .. } if reason.contains(&recipient))),
        "{:?}",
        locked.problems
    );

    // With it, everything flushed reads back, and a crash shows as a torn tail only.
    retrace::encryption::keyring()
        .add_identity(identity.to_string().expose_secret())
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
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
        assert!(
            String::from_utf8_lossy(&recording.request_body()).contains("SKU-"),
            "the body reads back in clear"
        );
    }
    // Bytes appended after the last frame, as a write cut by the kill leaves them,
    // are a torn tail of the last segment, found without decrypting anything.
    let last = segments.last().unwrap();
    assert!(!last.with_extension("rtidx").exists());
    let mut data = std::fs::read(last).unwrap();
    let good_len = data.len() as u64;
    data.extend_from_slice(&[0x55; 40]);
    std::fs::write(last, &data).unwrap();
    let problems: Vec<_> = Store::open(dir.path())
        .unwrap()
        .list()
        .problems
        .into_iter()
        .filter(|p| p.file() == last.as_path())
        .collect();
    assert!(
        matches!(problems.as_slice(), [Problem::TornTail { offset, .. }] if *offset == good_len),
        "{problems:?}"
    );
}
