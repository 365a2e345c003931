//! Path traversal: ids from the command line and names from files can never make the
//! store read or delete outside the recording root.
//!
//! Decided behaviour for symbolic links *inside* the root: a symlinked session
//! directory and a symlinked segment file are ignored (never listed, read or deleted),
//! so a link planted in a shared volume cannot point the tools at other files. The root
//! itself may be a symlink (a mounted volume often is) and is followed.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use retrace::{Store, StoreError};
use support::{Crafted, DAY_US, Root, craft_session, now_us};

fn old(n: u64) -> Vec<Crafted> {
    vec![Crafted::new(now_us() - 30 * DAY_US - n * 1000, 200)]
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn ids_that_look_like_paths_are_refused_before_any_file_is_touched() {
    let root = Root::new();
    root.record("svc", &[support::Spec::new("GET", "/a", 200)]);
    for bad in [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "01ABC/../..",
        "..",
        ".",
        "%2e%2e%2f",
        "0123456789ABCDEFGHJKMNPQRS0",
    ] {
        let run = root.retrace(&["show", bad]);
        assert_eq!(run.code, 3, "show {bad}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("is not a recording id"),
            "{}",
            run.stderr
        );
        let run = root.retrace(&["export", bad, "--jsonl", "-"]);
        assert_ne!(run.code, 0, "export {bad}");
        assert!(matches!(
            Store::open(root.path()).unwrap().get(bad),
            Err(StoreError::InvalidId(_))
        ));
    }
}

#[test]
fn symlinked_sessions_and_segments_are_neither_read_nor_deleted() {
    let root = Root::new();
    let outside = tempfile::tempdir().unwrap();
    // A whole old, cleanly closed session outside the root, linked in as a session.
    let (victim, victim_segs) = craft_session(
        outside.path(),
        "victim_host_20200101T000000Z_1_00000001",
        true,
        &[(&old(1), true), (&old(2), true)],
    );
    symlink(
        &victim,
        root.path().join("linked_host_20200101T000000Z_2_00000002"),
    )
    .unwrap();
    // A real session holding a link to an outside segment (and its index).
    let (lone, lone_segs) = craft_session(
        outside.path(),
        "lone_host_20200101T000000Z_3_00000003",
        true,
        &[(&old(3), true)],
    );
    let (real, _) = craft_session(
        root.path(),
        "real_host_20200101T000000Z_4_00000004",
        true,
        &[(&old(4), true)],
    );
    symlink(&lone_segs[0], real.join("seg-000009.rtseg")).unwrap();
    symlink(
        lone_segs[0].with_extension("rtidx"),
        real.join("seg-000009.rtidx"),
    )
    .unwrap();
    let victim_before = files_under(&victim);
    let lone_before = files_under(&lone);

    // Listing shows only the real session's own recording.
    let store = Store::open(root.path()).unwrap();
    assert_eq!(store.sessions().len(), 1, "{:?}", store.sessions());
    assert_eq!(store.list().recordings.len(), 1);
    let run = root.retrace(&["ls"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.lines().len(), 2, "{}", run.stdout);

    // gc deletes the real session's old segment, and nothing outside. The session
    // directory itself stays (and gc says so), since the planted links are not its own.
    let run = root.retrace(&["gc", "--max-age", "1d"]);
    assert!(run.stdout.contains("deleted 1 segments"), "{}", run.stdout);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("Directory not empty"), "{}", run.stderr);
    assert_eq!(files_under(&victim), victim_before);
    assert_eq!(files_under(&lone), lone_before);
    for seg in victim_segs.iter().chain(&lone_segs) {
        assert!(seg.exists() && seg.with_extension("rtidx").exists());
    }
    assert!(
        !run.stdout.contains(&*outside.path().to_string_lossy()),
        "{}",
        run.stdout
    );
}

#[test]
fn a_session_name_in_metadata_never_becomes_a_path() {
    let root = Root::new();
    let parent = root.path().parent().unwrap();
    let victim = tempfile::tempdir_in(parent).unwrap();
    fs::write(victim.path().join("metadata.json"), b"{}").unwrap();
    let name = victim
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (dir, _) = craft_session(
        root.path(),
        "evil_host_20200101T000000Z_5_00000005",
        true,
        &[(&old(5), true)],
    );
    // The metadata claims the session is "../<victim>".
    let meta = dir.join("metadata.json");
    let text = fs::read_to_string(&meta).unwrap().replace(
        "evil_host_20200101T000000Z_5_00000005",
        &format!("../{name}"),
    );
    fs::write(&meta, text).unwrap();
    let run = root.retrace(&["gc", "--max-age", "1d"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // The session emptied by gc went; the victim the metadata named did not.
    assert!(!dir.exists(), "{}", run.stdout);
    assert!(victim.path().join("metadata.json").exists());
}

#[test]
fn a_symlinked_root_is_followed() {
    let root = Root::new();
    root.record("svc", &[support::Spec::new("GET", "/a", 200)]);
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("recordings");
    symlink(root.path(), &link).unwrap();
    let run = support::retrace_raw(&["ls", "--path", &link.to_string_lossy()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("/a"), "{}", run.stdout);
}
