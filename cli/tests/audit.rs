//! `retrace audit verify` and `retrace audit ls` on logs written with the core API, and
//! the audit lines the read commands append to a recording directory that has a log
//! (and never create where it has none).

mod support;

use std::fs;
use std::path::Path;

use retrace::audit::{self, AuditLine};
use retrace::{AuditEntry, AuditLog};
use support::{Root, Spec, retrace_env};

fn write_log(path: &Path, n: usize) {
    let log = AuditLog::open(path).expect("open");
    for i in 1..=n {
        let who = if i % 2 == 0 {
            "key:oncall"
        } else {
            "key:intern"
        };
        let action = if i % 3 == 0 {
            "capture.create"
        } else {
            "recordings.read"
        };
        log.append(AuditEntry::new(who, action).target(format!("target-{i}")))
            .expect("append");
    }
}

fn lines_of(path: &Path) -> Vec<AuditLine> {
    audit::read(path)
        .expect("read")
        .collect::<Result<_, _>>()
        .expect("lines")
}

#[test]
fn verify_counts_an_intact_log() {
    let root = Root::new();
    let path = audit::default_path(root.path());
    write_log(&path, 6);
    let run = root.retrace(&["audit", "verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines = run.lines();
    assert_eq!(lines[0], "audit log intact: 6 lines in 1 file");
    let last = &lines_of(&path)[5];
    assert_eq!(lines[1], format!("seq 1 to 6, last hash {}", last.hash));

    // The directory as an argument, and the file itself, say the same.
    let dir = root.text();
    let file = path.display().to_string();
    for args in [
        vec!["audit", "verify", "--file", &file],
        vec!["audit", "verify", &dir, "--path", "/nonexistent"],
    ] {
        let run = support::retrace_raw(&args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.lines()[0], "audit log intact: 6 lines in 1 file");
    }
}

#[test]
fn verify_names_an_edited_line_and_fails() {
    let root = Root::new();
    let path = audit::default_path(root.path());
    write_log(&path, 6);
    let text = fs::read_to_string(&path).expect("read");
    fs::write(&path, text.replace("\"target-4\"", "\"target-X\"")).expect("write");

    let run = root.retrace(&["audit", "verify"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let lines = run.lines();
    assert_eq!(
        lines[0],
        format!(
            "{} line 4 (seq 4): hash does not match its content",
            path.display()
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "audit log broken at {} line 4 (3 lines check out before it, in 1 file)",
            path.display()
        )
    );
}

#[test]
fn verify_and_ls_without_a_log_fail_and_create_nothing() {
    let root = Root::new();
    for sub in ["verify", "ls"] {
        let run = root.retrace(&["audit", sub]);
        assert_eq!(run.code, 4, "{sub}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("no audit log at "), "{}", run.stderr);
    }
    assert!(!audit::default_path(root.path()).exists());
}

#[test]
fn ls_prints_a_table_and_filters() {
    let root = Root::new();
    let path = audit::default_path(root.path());
    write_log(&path, 6);
    let run = root.retrace(&["audit", "ls"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert_eq!(lines.len(), 7, "{}", run.stdout);
    let heading: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(heading, ["SEQ", "AT", "WHO", "ACTION", "TARGET", "OUTCOME"]);
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first[0], "1");
    assert_eq!(
        first[2..],
        ["key:intern", "recordings.read", "target-1", "ok"]
    );

    let run = root.retrace(&["audit", "ls", "--who", "key:oncall", "--action", "capture"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<&str> = run.lines()[1..].to_vec();
    assert_eq!(rows.len(), 1, "{}", run.stdout);
    assert!(rows[0].contains("target-6"), "{}", rows[0]);

    let run = root.retrace(&["audit", "ls", "--json", "--since", "1h"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let parsed: Vec<AuditLine> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(parsed, lines_of(&path));
    let on_disk = fs::read_to_string(&path).expect("read");
    assert_eq!(run.stdout, on_disk, "--json prints the lines as they are");

    let run = root.retrace(&["audit", "ls", "--since", "2000-01-01", "--who", "nobody"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains("no audit lines match"),
        "{}",
        run.stderr
    );
}

#[test]
fn read_commands_append_to_an_existing_log() {
    let root = Root::new();
    let ids = root.record(
        "checkout",
        &[Spec::new("GET", "/a", 200), Spec::new("GET", "/b", 200)],
    );
    let path = audit::default_path(root.path());
    AuditLog::open(&path).expect("create the log");

    let env = [("USER", "ana")];
    let run = root.retrace_env(&["ls"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("/a") && run.stdout.contains("/b"),
        "{}",
        run.stdout
    );
    let run = root.retrace_env(&["show", &ids[0]], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = root.retrace_env(&["export", "--all", "--jsonl"], &env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for sub in ["stats", "verify"] {
        let run = root.retrace_env(&[sub], &env);
        assert_eq!(run.code, 0, "{sub}: {}", run.stderr);
        assert!(run.stderr.is_empty(), "{sub}: {}", run.stderr);
    }
    // Replaying reads the recording before anything is sent, reachable or not.
    let run = root.retrace_env(&["replay", "--target", "http://127.0.0.1:9", &ids[1]], &env);
    assert_eq!(run.code, 8, "{}{}", run.stdout, run.stderr);

    let lines = lines_of(&path);
    let actions: Vec<&str> = lines.iter().map(|l| l.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "cli.ls",
            "cli.show",
            "cli.export",
            "cli.stats",
            "cli.verify",
            "cli.replay"
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.who == "cli:ana" && l.outcome == "ok")
    );
    let dir = fs::canonicalize(root.path()).expect("canonical");
    assert_eq!(
        lines[0].target.as_deref(),
        Some(dir.to_str().expect("utf-8"))
    );
    assert_eq!(lines[1].target.as_deref(), Some(ids[0].as_str()));
    let detail = lines[2].detail.as_ref().expect("export lists what it read");
    assert_eq!(detail["recordings"], 2);
    assert_eq!(lines[5].target.as_deref(), Some(ids[1].as_str()));
    assert!(audit::verify(&path).expect("verify").is_intact());
}

#[test]
fn read_commands_never_create_a_log() {
    let root = Root::new();
    root.record("checkout", &[Spec::new("GET", "/a", 200)]);
    for sub in ["ls", "stats", "verify"] {
        let run = root.retrace(&[sub]);
        assert_eq!(run.code, 0, "{sub}: {}", run.stderr);
    }
    assert!(!audit::default_path(root.path()).exists());
}

#[test]
fn a_log_that_cannot_be_appended_to_is_a_warning_not_a_failure() {
    let root = Root::new();
    root.record("checkout", &[Spec::new("GET", "/a", 200)]);
    let path = audit::default_path(root.path());
    write_log(&path, 2);
    let text = fs::read_to_string(&path).expect("read");
    fs::write(&path, text.replace("target-2", "target-9")).expect("write");

    let run = retrace_env(&["ls", "--path", &root.text()], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("/a"), "{}", run.stdout);
    assert!(
        run.stderr.starts_with(
            "warning: the audit log was not written for `retrace ls`: cannot continue the audit chain: "
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 2: hash does not match"),
        "{}",
        run.stderr
    );
}
