//! Unit tests of the line format and the writer's edge cases; the integration tests in
//! `tests/audit.rs` tamper with real logs.

use std::fs;

use serde_json::json;

use super::files::{rotated, rotated_numbers};
use super::line::{ChainEnd, parse_and_check, seal, sniff_seq};
use super::*;

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_hash_is_blake3_of_the_line_without_its_hash_member() {
    let entry = AuditEntry::new("ops", "captures.create")
        .target("/checkout")
        .detail(json!({"rate": 0.5}));
    let (line, end) = seal(&entry, &ChainEnd::genesis(), "2026-12-07T01:02:03.456Z").expect("seal");
    let unsealed = format!(
        r#"{{"seq":1,"at":"2026-12-07T01:02:03.456Z","who":"ops","action":"captures.create","target":"/checkout","outcome":"ok","detail":{{"rate":0.5}},"prev":"{GENESIS_HASH}"}}"#
    );
    let hash = blake3::hash(unsealed.as_bytes()).to_hex().to_string();
    let expected = format!(
        "{},\"hash\":\"{hash}\"}}\n",
        &unsealed[..unsealed.len() - 1]
    );
    assert_eq!(String::from_utf8(line.clone()).expect("utf-8"), expected);
    assert_eq!(end, ChainEnd { seq: 1, hash });
    let parsed = parse_and_check(&line[..line.len() - 1]).expect("checks out");
    assert_eq!(parsed.target.as_deref(), Some("/checkout"));
    assert_eq!(parsed.detail, Some(json!({"rate": 0.5})));
}

#[test]
fn no_detail_is_left_out_and_no_target_is_null() {
    let entry = AuditEntry::new("cli:ana", "cli.ls").detail(serde_json::Value::Null);
    let (line, _) = seal(&entry, &ChainEnd::genesis(), "t").expect("seal");
    let text = String::from_utf8(line).expect("utf-8");
    assert!(
        text.contains(r#""target":null,"outcome":"ok","prev":"#),
        "{text}"
    );
    assert!(!text.contains("detail"), "{text}");
}

#[test]
fn a_line_whose_hash_is_not_last_or_wrong_is_rejected() {
    let (line, _) = seal(&AuditEntry::new("a", "b"), &ChainEnd::genesis(), "t").expect("seal");
    let text = String::from_utf8(line).expect("utf-8");
    let text = text.trim_end();
    let edited = text.replace(r#""who":"a""#, r#""who":"z""#);
    assert_eq!(
        parse_and_check(edited.as_bytes()),
        Err(BrokenReason::HashMismatch)
    );
    let spaced = text.replace(",\"hash\"", ", \"hash\"");
    assert_eq!(
        parse_and_check(spaced.as_bytes()),
        Err(BrokenReason::HashNotLast)
    );
    assert!(matches!(
        parse_and_check(b"{\"seq\":3"),
        Err(BrokenReason::NotJson(_))
    ));
    assert!(matches!(
        parse_and_check(b"{\"seq\":3}"),
        Err(BrokenReason::NotAuditLine(_))
    ));
}

#[test]
fn the_seq_of_a_cut_line_is_still_read() {
    assert_eq!(sniff_seq(b"{\"seq\":42,\"at\":\"20"), Some(42));
    assert_eq!(sniff_seq(b"{\"seq\":"), None);
    assert_eq!(sniff_seq(b"garbage"), None);
}

#[test]
fn only_numbered_files_beside_the_log_count_as_rotated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = default_path(dir.path());
    for name in [
        "audit.log.1",
        "audit.log.3",
        "audit.log.01",
        "audit.log.x",
        "other.1",
    ] {
        fs::write(dir.path().join(name), "").expect("write");
    }
    assert_eq!(rotated_numbers(&path).expect("list"), [1, 3]);
    assert_eq!(rotated(&path, 2), dir.path().join("audit.log.2"));
}

#[test]
fn an_entry_longer_than_the_limit_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = default_path(dir.path());
    let log = AuditLog::open(&path).expect("open");
    let huge = "x".repeat(MAX_LINE);
    let err = log
        .append(AuditEntry::new("a", "b").target(huge))
        .expect_err("too long");
    assert!(matches!(err, AuditError::TooLong { .. }), "{err}");
    assert_eq!(fs::metadata(&path).expect("meta").len(), 0);
}

#[test]
fn a_torn_last_line_is_cut_and_recorded_by_the_next_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = default_path(dir.path());
    let log = AuditLog::open(&path).expect("open");
    log.append(AuditEntry::new("a", "one")).expect("append");
    drop(log);
    let mut data = fs::read(&path).expect("read");
    data.extend_from_slice(b"{\"seq\":2,\"at\":\"2026-");
    fs::write(&path, &data).expect("write");
    let report = verify(&path).expect("verify");
    let broken = report.broken.expect("broken");
    assert_eq!((broken.line, broken.seq), (2, Some(2)));
    assert_eq!(broken.reason, BrokenReason::Incomplete);

    let log = AuditLog::open(&path).expect("a torn tail does not stop opening");
    log.append(AuditEntry::new("a", "two")).expect("append");
    let report = verify(&path).expect("verify");
    assert!(report.is_intact(), "{:?}", report.broken);
    let read: Vec<AuditLine> = read(&path)
        .expect("read")
        .collect::<Result<_, _>>()
        .expect("lines");
    assert_eq!(read.len(), 3);
    assert_eq!(read[1].action, "audit.repair");
    assert_eq!(read[1].seq, 2);
    let detail = read[1].detail.as_ref().expect("detail");
    assert_eq!(detail["discarded"], "{\"seq\":2,\"at\":\"2026-");
    assert_eq!(detail["discarded_bytes"], 20);
    assert_eq!((read[2].action.as_str(), read[2].seq), ("two", 3));
}

#[test]
fn a_damaged_last_line_stops_appending_instead_of_starting_a_new_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = default_path(dir.path());
    let log = AuditLog::open(&path).expect("open");
    log.append(AuditEntry::new("a", "one")).expect("append");
    log.append(AuditEntry::new("a", "two")).expect("append");
    let edited = fs::read_to_string(&path)
        .expect("read")
        .replace("\"two\"", "\"two!\"");
    fs::write(&path, edited).expect("write");
    let err = log
        .append(AuditEntry::new("a", "three"))
        .expect_err("fails closed");
    match &err {
        AuditError::BrokenTail { line, reason, .. } => {
            assert_eq!((*line, reason), (2, &BrokenReason::HashMismatch));
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("line 2: hash does not match"),
        "{err}"
    );
    assert!(AuditLog::open(&path).is_err());
    assert_eq!(lines(&path).len(), 2);
}

#[test]
fn open_existing_never_creates_a_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = default_path(dir.path());
    assert!(AuditLog::open_existing(&path).expect("no error").is_none());
    assert!(!path.exists());
    AuditLog::open(&path).expect("create");
    assert!(AuditLog::open_existing(&path).expect("open").is_some());
}

#[test]
fn reading_and_verifying_a_missing_log_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = default_path(dir.path());
    assert!(matches!(verify(&path), Err(AuditError::NotFound(p)) if p == path));
    assert!(matches!(read(&path), Err(AuditError::NotFound(_))));
}
