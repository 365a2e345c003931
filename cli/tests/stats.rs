//! `retrace stats`: disk use, recordings by service, status class and reason, recorder
//! counters from session metadata, the size histogram, and the JSON form.

mod support;

use retrace::{KeepCause, RecordReason};
use support::{Root, Spec};

fn store() -> Root {
    let root = Root::new();
    root.record(
        "checkout",
        &[
            Spec::new("GET", "/a", 200),
            Spec::new("GET", "/b", 503).reason(RecordReason::KeptOnOutcome(KeepCause::Status)),
            Spec::new("GET", "/c", 404).response("text/plain", &vec![b'x'; 5000]),
        ],
    );
    root.record("billing", &[Spec::new("GET", "/d", 200).failed("boom")]);
    root
}

/// Adds losses to the first session's metadata, as a recorder under pressure writes it.
fn add_losses(root: &Root) {
    let meta = root.sessions()[0].join("metadata.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    v["stats"]["dropped"] = serde_json::json!([["ChannelFull", 3], ["IoError", 2]]);
    v["stats"]["write_errors"] = serde_json::json!(2);
    v["stats"]["started"] = serde_json::json!(6);
    std::fs::write(&meta, serde_json::to_vec(&v).unwrap()).unwrap();
}

fn block<'a>(lines: &[&'a str], title: &str) -> Vec<&'a str> {
    let from = lines
        .iter()
        .position(|l| l.starts_with(title))
        .unwrap_or_else(|| panic!("no {title}"));
    lines[from + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect()
}

#[test]
fn stats_count_recordings_and_recorder_losses() {
    let root = store();
    add_losses(&root);
    let run = root.retrace(&["stats"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert!(lines[0].starts_with("disk use        "));
    assert!(lines[1].starts_with("                segments ") && lines[1].contains(", metadata "));
    assert_eq!(
        lines[2],
        "sessions        2 (0 not closed: running or crashed)"
    );
    assert_eq!(lines[3], "segments        2 (0 still being written)");
    assert!(lines[4].starts_with("recordings      4 ("), "{}", lines[4]);
    assert_eq!(lines[5], "flagged         failed 1");
    assert_eq!(
        block(
            &lines,
            "recorder counters, summed over sessions (last written 2"
        ),
        [
            "  started           9",
            "  written           4",
            "  discarded         0",
            "  dropped           5 (channel-full 3, io-error 2)",
            "  chunks dropped    0",
            "  write errors      2",
            "  segments deleted  0 (by the disk budget)",
        ]
    );
    assert_eq!(
        block(&lines, "by service"),
        [
            "SERVICE   RECORDINGS",
            "billing            1",
            "checkout           3"
        ]
    );
    assert_eq!(
        block(&lines, "by status"),
        [
            "STATUS  RECORDINGS",
            "2xx              1",
            "4xx              1",
            "5xx              1",
            "none             1"
        ]
    );
    assert_eq!(
        block(&lines, "by reason"),
        [
            "REASON          RECORDINGS",
            "kept-on-status           1",
            "sampled                  3"
        ]
    );
    assert_eq!(
        block(
            &lines,
            "recording sizes (recorded bytes before compression)"
        ),
        [
            "            < 1.0 KiB         3  ########################################",
            "    1.0 KiB - 4.0 KiB         0",
            "   4.0 KiB - 16.0 KiB         1  #############",
        ]
    );
}

#[test]
fn stats_json_carries_the_same_numbers() {
    let root = store();
    add_losses(&root);
    let run = root.retrace(&["stats", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["recordings"], 4);
    assert_eq!(v["by_service"]["checkout"], 3);
    assert_eq!(v["by_status"]["5xx"], 1);
    assert_eq!(v["recorder"]["dropped"]["channel-full"], 3);
    assert_eq!(v["recorder"]["write_errors"], 2);
    assert_eq!(v["disk"]["sessions"], 2);
    let disk = &v["disk"];
    assert_eq!(
        disk["total_bytes"].as_u64(),
        Some(
            disk["segment_bytes"].as_u64().unwrap()
                + disk["index_bytes"].as_u64().unwrap()
                + disk["metadata_bytes"].as_u64().unwrap()
        )
    );
    assert_eq!(v["sizes"][0]["below_bytes"], 1024);
    assert_eq!(v["sizes"][0]["recordings"], 3);
    assert_eq!(v["sizes"][8]["below_bytes"], serde_json::Value::Null);
}

#[test]
fn a_damaged_segment_does_not_stop_stats() {
    let root = store();
    let garbage = root.sessions()[1].join("seg-000042.rtseg");
    std::fs::write(&garbage, b"RETRACE\x01 but nothing else").unwrap();
    let run = root.retrace(&["stats"]);
    assert_eq!(run.code, 0);
    assert!(
        run.lines()[4].starts_with("recordings      4 ("),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("problems        1 (see the warnings; `retrace verify` checks every frame)")
    );
    assert!(
        run.stderr
            .starts_with(&format!("warning: {}: ", garbage.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn a_closed_segment_without_its_index_is_read_from_its_frames_and_said_so() {
    let root = store();
    // The index of a cleanly closed session's segment is gone (a full disk when it
    // closed, say): its recordings are still listed, and stats says why it has none.
    let session = &root.sessions()[0];
    let index = std::fs::read_dir(session)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "rtidx"))
        .expect("an index");
    std::fs::remove_file(index).unwrap();
    let run = root.retrace(&["stats"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.lines()[3],
        "segments        2 (0 still being written, 1 without an index: read from their frames)"
    );
    assert!(
        run.lines()[4].starts_with("recordings      4 ("),
        "{}",
        run.stdout
    );
}
