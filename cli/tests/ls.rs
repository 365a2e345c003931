//! `retrace ls`: order, columns, every filter, JSON, the recording path from the
//! environment, and resilience to damaged files.

mod support;

use retrace::{KeepCause, RecordReason};
use support::{CallSpec, Crafted, DAY_US, Root, Run, Spec, craft_session, now_us, retrace_raw};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Five recordings of two services, oldest first.
fn store() -> (Root, Vec<String>) {
    let root = Root::new();
    let mut ids = root.record(
        "checkout",
        &[
            Spec::new("GET", "/api/orders?page=2", 200)
                .call(CallSpec::new("db:5432", "POST", "/query", 100, 400)),
            Spec::new("POST", "/api/orders", 503)
                .reason(RecordReason::KeptOnOutcome(KeepCause::Status))
                .trace(TRACE),
            Spec::new("GET", "/health", 404).reason(RecordReason::Header),
        ],
    );
    ids.extend(root.record(
        "billing",
        &[
            Spec::new("PUT", "/api/invoices/7", 500).cut_response(4096),
            Spec::new("GET", "/api/invoices", 200).failed("handler panicked"),
        ],
    ));
    (root, ids)
}

/// Column `n` of every row (columns hold no spaces).
fn column(run: &Run, n: usize) -> Vec<String> {
    run.lines()
        .iter()
        .skip(1)
        .map(|l| l.split_whitespace().nth(n).unwrap_or("").to_owned())
        .collect()
}

/// The paths listed with these options.
fn paths(root: &Root, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ls"];
    all.extend_from_slice(args);
    let run = root.retrace(&all);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    column(&run, 4)
}

#[test]
fn lists_newest_first_with_every_column() {
    let (root, ids) = store();
    let run = root.retrace(&["ls"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let lines = run.lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "ID", "STARTED", "SERVICE", "METHOD", "PATH", "STATUS", "DURATION", "CALLS", "SIZE",
            "REASON", "FLAGS"
        ]
    );
    assert_eq!(lines.len(), 6);
    let shown = column(&run, 0);
    for (short, full) in shown.iter().zip(ids.iter().rev()) {
        assert!(
            full.starts_with(short.as_str()),
            "{short} is not a prefix of {full}"
        );
        assert!(short.len() >= 10, "{short}");
    }
    assert!(shown.iter().all(|s| s.len() == shown[0].len()));
    assert!(
        column(&run, 1)
            .iter()
            .all(|t| t.len() == 20 && t.ends_with('Z'))
    );
    assert_eq!(
        column(&run, 2),
        ["billing", "billing", "checkout", "checkout", "checkout"]
    );
    assert_eq!(column(&run, 3), ["GET", "PUT", "GET", "POST", "GET"]);
    assert_eq!(
        column(&run, 4),
        [
            "/api/invoices",
            "/api/invoices/7",
            "/health",
            "/api/orders",
            "/api/orders"
        ]
    );
    assert_eq!(column(&run, 5), ["-", "500", "404", "503", "200"]);
    assert!(
        column(&run, 6)
            .iter()
            .all(|d| d.ends_with("µs") || d.ends_with("ms"))
    );
    assert_eq!(column(&run, 7), ["0", "0", "0", "0", "1"]);
    let reasons: Vec<String> = run.lines()[1..]
        .iter()
        .map(|l| l.split_whitespace().rev().nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["sampled", "sampled", "header", "kept-on-status", "sampled"]
    );
    let flags: Vec<String> = run.lines()[1..]
        .iter()
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    assert_eq!(flags, ["failed", "truncated", "-", "-", "-"]);
}

#[test]
fn every_filter_selects_what_it_says() {
    let (root, _) = store();
    let old = now_us() - 2 * DAY_US;
    craft_session(
        root.path(),
        "legacy_host_1",
        true,
        &[(
            &[
                Crafted::new(old, 200).uri("/old"),
                Crafted::new(old + 5_000, 502)
                    .uri("/unfinished")
                    .unfinished(),
            ],
            true,
        )],
    );
    let all = [
        "/api/invoices",
        "/api/invoices/7",
        "/health",
        "/api/orders",
        "/api/orders",
        "/unfinished",
        "/old",
    ];
    assert_eq!(paths(&root, &[]), all);
    assert_eq!(
        paths(&root, &["--service", "billing"]),
        ["/api/invoices", "/api/invoices/7"]
    );
    assert_eq!(
        paths(&root, &["--service", "billing", "--service", "legacy"]).len(),
        4
    );
    assert_eq!(
        paths(&root, &["--status", "5xx"]),
        ["/api/invoices/7", "/api/orders", "/unfinished"]
    );
    assert_eq!(
        paths(&root, &["--status", "404,none"]),
        ["/api/invoices", "/health"]
    );
    assert_eq!(paths(&root, &["--status", "200"]), ["/api/orders", "/old"]);
    assert_eq!(
        paths(&root, &["--path-prefix", "/api/inv"]),
        ["/api/invoices", "/api/invoices/7"]
    );
    assert_eq!(paths(&root, &["--trace-id", TRACE]), ["/api/orders"]);
    assert_eq!(paths(&root, &["--trace-id", "4BF92F"]), ["/api/orders"]);
    assert_eq!(paths(&root, &["--reason", "kept"]), ["/api/orders"]);
    assert_eq!(
        paths(&root, &["--reason", "header,kept-on-status"]),
        ["/health", "/api/orders"]
    );
    assert_eq!(paths(&root, &["--incomplete"]), ["/unfinished"]);
    assert_eq!(paths(&root, &["--since", "1h"]), &all[..5]);
    assert_eq!(paths(&root, &["--until", "1d"]), ["/unfinished", "/old"]);
    assert_eq!(
        paths(
            &root,
            &["--since", "3d", "--until", "1d", "--status", "2xx"]
        ),
        ["/old"]
    );
    assert_eq!(paths(&root, &["--since", "2000-01-01"]).len(), 7);
    assert_eq!(paths(&root, &["--until", "2000-01-01T00:00:00Z"]).len(), 0);
    assert_eq!(
        paths(&root, &["--limit", "2", "--service", "checkout"]),
        ["/health", "/api/orders"]
    );

    let none = root.retrace(&["ls", "--service", "nope"]);
    assert_eq!((none.code, none.stdout.as_str()), (0, ""));
    assert_eq!(
        none.stderr,
        format!("no recordings match under {}\n", root.text())
    );
}

#[test]
fn invalid_filter_values_are_usage_errors() {
    let root = Root::new();
    for (args, needle) in [
        (
            &["ls", "--status", "6xx"][..],
            "expected a status code (404), a class (5xx) or `none`, got \"6xx\"",
        ),
        (
            &["ls", "--since", "yesterday"],
            "expected a duration back from now",
        ),
        (&["ls", "--reason", "bogus"], "unknown reason \"bogus\""),
        (&["ls", "--trace-id", "xyz"], "expected up to 32 hex digits"),
    ] {
        let run = root.retrace(args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(
            run.stderr.starts_with("error: invalid value"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked") && !run.stderr.contains("backtrace"));
    }
}

#[test]
fn json_lists_summaries_for_scripts() {
    let (root, ids) = store();
    let run = root.retrace(&["ls", "--json", "--status", "503"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["id"], ids[1].as_str());
    assert_eq!(row["service"], "checkout");
    assert_eq!(row["method"], "POST");
    assert_eq!(row["uri"], "/api/orders");
    assert_eq!(row["status"], 503);
    assert_eq!(row["reason"], "kept-on-status");
    assert_eq!(row["trace_id"], TRACE);
    assert_eq!(row["outbound_calls"], 0);
    assert_eq!(row["incomplete"], false);
    assert!(row["started"].as_str().unwrap().ends_with('Z'));
    assert!(row["size_bytes"].as_u64().unwrap() > 0);

    let empty = root.retrace(&["ls", "--json", "--service", "nope"]);
    assert_eq!(empty.stdout, "[]\n");
}

#[test]
fn the_recording_path_comes_from_the_environment_then_the_default() {
    let (root, _) = store();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args(["ls", "--service", "billing"])
        .env("RETRACE_RECORDING_PATH", root.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);

    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_retrace"))
        .arg("ls")
        .current_dir(elsewhere.path())
        .env_remove("RETRACE_RECORDING_PATH")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: recording directory ./recordings does not exist\n"
    );
}

#[test]
fn a_damaged_segment_never_stops_the_listing() {
    let (root, _) = store();
    let sessions = root.sessions();
    let garbage = sessions[0].join("seg-000099.rtseg");
    std::fs::write(&garbage, b"this is not a segment at all").expect("write");
    let run = root.retrace(&["ls"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.lines().len(), 6, "{}", run.stdout);
    assert_eq!(
        run.stderr,
        format!(
            "warning: {}: not a retrace segment (bad magic bytes)\n",
            garbage.display()
        )
    );
}

#[test]
fn a_missing_directory_is_one_line_and_exit_status_4() {
    let run = retrace_raw(&["ls", "--path", "/nonexistent/retrace-test"]);
    assert_eq!(run.code, 4);
    assert_eq!(
        run.stderr,
        "error: recording directory /nonexistent/retrace-test does not exist\n"
    );
}

#[test]
fn a_capture_lists_by_its_id() {
    let root = Root::new();
    let mine = retrace::CaptureId(0xfeed);
    let now = now_us();
    craft_session(
        root.path(),
        "shop_host_1",
        true,
        &[(
            &[
                Crafted::new(now - 3_000, 200)
                    .uri("/checkout/1")
                    .reason(RecordReason::Capture(mine)),
                Crafted::new(now - 2_000, 200)
                    .uri("/checkout/2")
                    .reason(RecordReason::Capture(retrace::CaptureId(7))),
                Crafted::new(now - 1_000, 200).uri("/catalog"),
            ],
            true,
        )],
    );
    assert_eq!(
        paths(&root, &["--capture", "000000000000feed"]),
        ["/checkout/1"]
    );
    assert_eq!(
        paths(&root, &["--reason", "capture"]),
        ["/checkout/2", "/checkout/1"]
    );
    let json = root.retrace(&["ls", "--capture", "000000000000feed", "--json"]);
    assert!(
        json.stdout.contains("\"capture\": \"000000000000feed\""),
        "{}",
        json.stdout
    );
    let bad = root.retrace(&["ls", "--capture", "feed"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("capture id \"feed\" has 4 characters, expected 16"),
        "{}",
        bad.stderr
    );
}

#[test]
fn recordings_list_and_filter_by_where_their_process_ran() {
    let root = Root::new();
    let now = now_us();
    for (name, pod, commit, uri) in [
        ("shop_host_1", "web-7f9c-xk2p", "9f2c4e1", "/a"),
        ("shop_host_2", "web-1b2d-qq9z", "77aa001", "/b"),
    ] {
        let (dir, _) = craft_session(
            root.path(),
            name,
            true,
            &[(&[Crafted::new(now - 1_000, 200).uri(uri)], true)],
        );
        let meta = dir.join(retrace::metadata::METADATA_FILE);
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
        json["origin"] = serde_json::json!({"pod": pod, "git_commit": commit});
        std::fs::write(&meta, serde_json::to_vec(&json).unwrap()).unwrap();
    }
    assert_eq!(paths(&root, &["--pod", "web-7f9c"]), ["/a"]);
    assert_eq!(paths(&root, &["--commit", "77aa"]), ["/b"]);
    assert_eq!(paths(&root, &["--pod", "api-"]), Vec::<String>::new());
    let run = root.retrace(&["ls"]);
    assert!(run.lines()[0].trim_end().ends_with("POD"), "{}", run.stdout);
    assert!(run.stdout.contains("web-7f9c-xk2p"), "{}", run.stdout);
    let json = root.retrace(&["ls", "--pod", "web-7f9c", "--json"]);
    assert!(
        json.stdout.contains("\"pod\": \"web-7f9c-xk2p\""),
        "{}",
        json.stdout
    );
    let id = json.stdout.split("\"id\": \"").nth(1).unwrap()[..26].to_owned();
    let show = root.retrace(&["show", &id]);
    assert!(
        show.stdout
            .contains("origin     pod web-7f9c-xk2p, commit 9f2c4e1"),
        "{}",
        show.stdout
    );
}
