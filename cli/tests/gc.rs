//! `retrace gc` on a crafted tree whose ages are known: the recordings in each segment
//! have chosen start times (written through the real segment and index format), so the
//! ages do not depend on file modification times.
//!
//! The tree (ages are of the recordings in each segment):
//!   billing  (process still running)   seg 0 closed, 20 days;  seg 1 NOT closed, 30 days
//!   checkout (closed cleanly)          seg 0 closed, 10 days;  seg 1 closed, 9 days, a 503;
//!                                      seg 2 closed, 1 hour
//!   old      (closed cleanly)          seg 0 closed, 15 days

mod support;

use std::path::{Path, PathBuf};

use support::{Crafted, DAY_US, HOUR_US, Root, craft_session, now_us};

struct Tree {
    root: Root,
    billing: Vec<PathBuf>,
    checkout: Vec<PathBuf>,
    old_dir: PathBuf,
    old: Vec<PathBuf>,
}

fn tree() -> Tree {
    let root = Root::new();
    let now = now_us();
    let (_, billing) = craft_session(
        root.path(),
        "billing_host_20240101T000000Z_2_bbbb",
        false,
        &[
            (&[Crafted::new(now - 20 * DAY_US, 200)], true),
            (&[Crafted::new(now - 30 * DAY_US, 200)], false),
        ],
    );
    let (_, checkout) = craft_session(
        root.path(),
        "checkout_host_20240101T000000Z_1_aaaa",
        true,
        &[
            (
                &[
                    Crafted::new(now - 10 * DAY_US, 200),
                    Crafted::new(now - 10 * DAY_US + 5_000, 201),
                ],
                true,
            ),
            (&[Crafted::new(now - 9 * DAY_US, 503)], true),
            (&[Crafted::new(now - HOUR_US, 200)], true),
        ],
    );
    let (old_dir, old) = craft_session(
        root.path(),
        "old_host_20240101T000000Z_3_cccc",
        true,
        &[(&[Crafted::new(now - 15 * DAY_US, 200)], true)],
    );
    Tree {
        root,
        billing,
        checkout,
        old_dir,
        old,
    }
}

fn index(p: &Path) -> PathBuf {
    p.with_extension("rtidx")
}

fn assert_deleted(line: &str, verb: &str, seg: &Path, recordings: usize, because: &str) {
    assert!(
        line.starts_with(&format!("{verb} {} (", seg.display())),
        "{line}"
    );
    assert!(
        line.contains(&format!(", {recordings} recordings, newest ")),
        "{line}"
    );
    assert!(line.ends_with(&format!("; {because})")), "{line}");
}

#[test]
fn dry_run_prints_the_plan_and_deletes_nothing() {
    let t = tree();
    let run = t.root.retrace(&[
        "gc",
        "--max-age",
        "7d",
        "--keep-errors-for",
        "30d",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    assert_deleted(
        lines[0],
        "would delete",
        &t.billing[0],
        1,
        "older than 7days",
    );
    assert_deleted(
        lines[1],
        "would delete",
        &t.checkout[0],
        2,
        "older than 7days",
    );
    assert_deleted(lines[2], "would delete", &t.old[0], 1, "older than 7days");
    assert_eq!(
        lines[3],
        format!("would delete {} (empty session)", t.old_dir.display())
    );
    assert!(
        lines[4].starts_with("would delete 3 segments ("),
        "{}",
        lines[4]
    );
    assert!(
        lines[4].contains(", 4 recordings); kept 3 segments ("),
        "{}",
        lines[4]
    );
    assert!(
        lines[4].ends_with(" in use, 1 still being written)"),
        "{}",
        lines[4]
    );
    for seg in t.billing.iter().chain(&t.checkout).chain(&t.old) {
        assert!(seg.exists(), "{} was deleted by a dry run", seg.display());
    }
}

#[test]
fn max_age_deletes_old_closed_segments_and_keeps_errors_longer() {
    let t = tree();
    let run = t
        .root
        .retrace(&["gc", "--max-age", "7d", "--keep-errors-for", "30d"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert_deleted(lines[0], "deleted", &t.billing[0], 1, "older than 7days");
    assert_deleted(lines[1], "deleted", &t.checkout[0], 2, "older than 7days");
    assert_deleted(lines[2], "deleted", &t.old[0], 1, "older than 7days");
    assert_eq!(
        lines[3],
        format!("deleted {} (empty session)", t.old_dir.display())
    );

    for gone in [&t.billing[0], &t.checkout[0], &t.old[0]] {
        assert!(
            !gone.exists() && !index(gone).exists(),
            "{}",
            gone.display()
        );
    }
    assert!(!t.old_dir.exists());
    // The 9-day-old 503 lives on; the open segment, though 30 days old, is never touched.
    for kept in [&t.checkout[1], &t.checkout[2], &t.billing[1]] {
        assert!(kept.exists(), "{}", kept.display());
    }
    let listed = t.root.retrace(&["ls"]);
    assert_eq!(listed.lines().len(), 4, "{}", listed.stdout);

    // Without the error rule the 503's segment goes too.
    let again = t.root.retrace(&["gc", "--max-age", "7d"]);
    assert_eq!(again.code, 0);
    assert_deleted(
        again.lines()[0],
        "deleted",
        &t.checkout[1],
        1,
        "older than 7days",
    );
    assert!(!t.checkout[1].exists() && t.checkout[2].exists() && t.billing[1].exists());
}

#[test]
fn max_bytes_deletes_oldest_first_and_protected_errors_last() {
    let t = tree();
    let run = t
        .root
        .retrace(&["gc", "--max-bytes", "1", "--keep-errors-for", "30d"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    let budget = "over the 1 B budget";
    assert_deleted(lines[0], "deleted", &t.billing[0], 1, budget);
    assert_deleted(lines[1], "deleted", &t.old[0], 1, budget);
    assert_deleted(lines[2], "deleted", &t.checkout[0], 2, budget);
    assert_deleted(lines[3], "deleted", &t.checkout[2], 1, budget);
    assert_deleted(lines[4], "deleted", &t.checkout[1], 1, budget);
    assert!(
        t.billing[1].exists(),
        "the segment still being written survives any budget"
    );
    assert!(
        run.stderr.starts_with("warning: the store still holds "),
        "{}",
        run.stderr
    );
    // The checkout session closed cleanly and is now empty; billing is still running.
    assert!(!t.old_dir.exists());
    assert!(!t.checkout[0].parent().unwrap().exists());
    assert!(t.billing[1].parent().unwrap().exists());
}

#[test]
fn a_budget_that_fits_deletes_nothing() {
    let t = tree();
    let run = t.root.retrace(&["gc", "--max-bytes", "10GiB"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.lines().len(), 1);
    assert!(
        run.stdout
            .starts_with("deleted 0 segments (0 B, 0 recordings); kept 6 segments ("),
        "{}",
        run.stdout
    );
}

#[test]
fn gc_needs_a_limit_and_valid_values() {
    let t = tree();
    let none = t.root.retrace(&["gc", "--dry-run"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("--max-age <AGE>|--max-bytes <SIZE>"),
        "{}",
        none.stderr
    );
    let bad = t.root.retrace(&["gc", "--max-bytes", "lots"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("expected a byte size such as `65536` or `64MiB`"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_damaged_segment_does_not_stop_gc() {
    let t = tree();
    let broken = t.checkout[0].parent().unwrap().join("seg-000050.rtseg");
    std::fs::write(&broken, b"garbage").expect("write");
    std::fs::write(index(&broken), b"garbage").expect("write");
    let run = t.root.retrace(&["gc", "--max-age", "7d"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("warning: {}", broken.display())),
        "{}",
        run.stderr
    );
    assert!(!t.billing[0].exists() && !t.old[0].exists());
}

#[test]
fn each_recording_lives_as_long_as_why_it_was_kept_says() {
    use retrace::{KeepCause, RecordReason};
    let root = Root::new();
    let now = now_us();
    let (_, segs) = craft_session(
        root.path(),
        "shop_host_20240101T000000Z_4_dddd",
        true,
        &[
            // Sampled, 10 days: past sampled=7d.
            (&[Crafted::new(now - 10 * DAY_US, 200)], true),
            // Asked for by a header, 10 days: within triggered=14d.
            (
                &[Crafted::new(now - 10 * DAY_US, 200).reason(RecordReason::Header)],
                true,
            ),
            // An error, 20 days: within errors=30d.
            (
                &[Crafted::new(now - 20 * DAY_US, 200)
                    .reason(RecordReason::KeptOnOutcome(KeepCause::Status))],
                true,
            ),
            // Mixed: a 20-day sampled recording beside a 10-day captured one: it stays
            // for the longer-lived.
            (
                &[
                    Crafted::new(now - 20 * DAY_US, 200),
                    Crafted::new(now - 10 * DAY_US, 200)
                        .reason(RecordReason::Capture(retrace::CaptureId(9))),
                ],
                true,
            ),
            // A capture's recording, 15 days: past triggered=14d.
            (
                &[Crafted::new(now - 15 * DAY_US, 200)
                    .reason(RecordReason::Capture(retrace::CaptureId(9)))],
                true,
            ),
        ],
    );
    let keep = "errors=30d,triggered=14d,sampled=7d";
    let dry = root.retrace(&["gc", "--keep", keep, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let lines = dry.lines();
    let because = "every recording past its keep time";
    assert_deleted(lines[0], "would delete", &segs[0], 1, because);
    assert_deleted(lines[1], "would delete", &segs[4], 1, because);
    assert!(
        lines[2].starts_with("would delete 2 segments"),
        "{}",
        dry.stdout
    );
    assert!(segs.iter().all(|s| s.exists()), "a dry run deletes nothing");

    let run = root.retrace(&["gc", "--keep", keep]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!segs[0].exists() && !segs[4].exists());
    assert!(segs[1].exists() && segs[2].exists() && segs[3].exists());

    for (bad, needle) in [
        (
            "errors=30d,bogus=1d",
            "unknown kind \"bogus\"; expected one of errors, triggered, sampled",
        ),
        ("errors", "expected KIND=AGE, got \"errors\""),
        ("sampled=1d,sampled=2d", "sampled is given twice"),
    ] {
        let run = root.retrace(&["gc", "--keep", bad]);
        assert_eq!(run.code, 2, "{bad}");
        assert!(run.stderr.contains(needle), "{bad}: {}", run.stderr);
    }
}
