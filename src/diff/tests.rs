//! End-to-end tests of [`diff_responses`] and the report, on exact output.

use serde_json::json;

use super::*;
use crate::event::Header;

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs
        .iter()
        .map(|(name, value)| Header::new(name.to_string(), value.as_bytes().to_vec()))
        .collect()
}

fn json_headers() -> Vec<Header> {
    headers(&[("content-type", "application/json")])
}

fn diff_bodies(expected: &str, actual: &str, rules: &NoiseRules) -> Diff {
    let head = json_headers();
    diff_responses(
        &ResponseView::new(200, &head, expected.as_bytes()),
        &ResponseView::new(200, &head, actual.as_bytes()),
        rules,
    )
}

fn json_change(path: &str, expected: Option<Value>, actual: Option<Value>) -> Change {
    Change::Json {
        path: path.to_owned(),
        expected,
        actual,
    }
}

use serde_json::Value;

#[test]
fn identical_responses_give_an_empty_diff() {
    let head = headers(&[("content-type", "application/json"), ("x-a", "1")]);
    let body = br#"{"a":1}"#;
    let view = ResponseView::new(200, &head, body);
    let diff = diff_responses(&view, &view, &NoiseRules::default());
    assert!(diff.is_empty());
    assert_eq!(diff, Diff::default());
    assert_eq!(diff.to_string(), "no differences");

    // Same JSON, other key order, spacing and number spelling: still no difference.
    let diff = diff_bodies(
        r#"{"a": 1, "b": [1.0, 2], "c": {"d": null}}"#,
        r#"{"c":{"d":null},"b":[1,2e0],"a":1.0}"#,
        &NoiseRules::none(),
    );
    assert_eq!(diff, Diff::default());
}

#[test]
fn changed_json_field_reports_its_path_and_both_values() {
    let diff = diff_bodies(
        r#"{"user":{"id":7,"name":"Ada"},"total":42}"#,
        r#"{"user":{"id":7,"name":"Grace"},"total":42}"#,
        &NoiseRules::default(),
    );
    assert_eq!(
        diff.changes,
        [json_change(
            "$.user.name",
            Some(json!("Ada")),
            Some(json!("Grace"))
        )]
    );
    assert_eq!(diff.changes[0].kind(), ChangeKind::Changed);
    assert_eq!(diff.to_string(), r#"body $.user.name: "Ada" -> "Grace""#);
}

#[test]
fn nested_arrays_are_compared_element_by_element() {
    let diff = diff_bodies(
        r#"{"matrix":[[1,2],[3,4]],"rows":[{"id":1},{"id":2}]}"#,
        r#"{"matrix":[[1,2],[3,5,6]],"rows":[{"id":1}]}"#,
        &NoiseRules::none(),
    );
    assert_eq!(
        diff.changes,
        [
            json_change("$.matrix[1][1]", Some(json!(4)), Some(json!(5))),
            json_change("$.matrix[1][2]", None, Some(json!(6))),
            json_change("$.rows[1]", Some(json!({"id": 2})), None),
        ]
    );
    let kinds: Vec<_> = diff.changes.iter().map(Change::kind).collect();
    assert_eq!(
        kinds,
        [ChangeKind::Changed, ChangeKind::Added, ChangeKind::Removed]
    );
}

#[test]
fn removed_and_added_keys_carry_their_whole_value() {
    let diff = diff_bodies(
        r#"{"a":1,"b":{"c":2}}"#,
        r#"{"a":1,"d":[true]}"#,
        &NoiseRules::none(),
    );
    assert_eq!(
        diff.changes,
        [
            json_change("$.b", Some(json!({"c": 2})), None),
            json_change("$.d", None, Some(json!([true]))),
        ]
    );
    assert_eq!(
        diff.to_string(),
        "body $.b: {\"c\":2} -> (missing)\nbody $.d: (missing) -> [true]"
    );
}

#[test]
fn type_changes_and_odd_keys_are_reported() {
    let diff = diff_bodies(
        r#"{"first name":"1","n":null}"#,
        r#"{"first name":1,"n":false}"#,
        &NoiseRules::none(),
    );
    assert_eq!(
        diff.to_string(),
        "body $[\"first name\"]: \"1\" -> 1\nbody $.n: null -> false"
    );
}

#[test]
fn ignored_header_and_json_path_are_noise_not_changes() {
    let ours = headers(&[("Date", "Mon, 01 Jan 2024 00:00:00 GMT"), ("x-a", "1")]);
    let theirs = headers(&[("x-a", "1"), ("date", "Tue, 02 Jan 2024 00:00:00 GMT")]);
    let rules = NoiseRules::builder()
        .ignore_path("$.meta.generated_at")
        .build()
        .expect("valid rules");
    let diff = diff_responses(
        &ResponseView::new(200, &ours, br#"{"meta":{"generated_at":"t1","v":1}}"#),
        &ResponseView::new(200, &theirs, br#"{"meta":{"generated_at":"t2","v":1}}"#),
        &rules,
    );
    assert!(diff.is_empty(), "{diff}");
    assert_eq!(
        diff.noise,
        [
            Change::Header {
                name: "date".into(),
                expected: vec!["Mon, 01 Jan 2024 00:00:00 GMT".into()],
                actual: vec!["Tue, 02 Jan 2024 00:00:00 GMT".into()],
            },
            json_change("$.meta.generated_at", Some(json!("t1")), Some(json!("t2"))),
        ]
    );
    assert_eq!(
        diff.to_string(),
        "no differences\nnoise: header date, body $.meta.generated_at"
    );

    // Without the rules the same pair differs.
    let diff = diff_responses(
        &ResponseView::new(200, &ours, b"{}"),
        &ResponseView::new(200, &theirs, b"{}"),
        &NoiseRules::none(),
    );
    assert_eq!(diff.change_count(), 1);
}

#[test]
fn an_ignored_subtree_is_reported_once() {
    let rules = NoiseRules::builder()
        .ignore_path("$.debug")
        .build()
        .expect("valid rules");
    let diff = diff_bodies(
        r#"{"debug":{"a":1,"b":2},"ok":true}"#,
        r#"{"debug":{"a":3,"b":4,"c":5},"ok":true}"#,
        &rules,
    );
    assert!(diff.is_empty());
    assert_eq!(
        diff.noise,
        [json_change(
            "$.debug",
            Some(json!({"a": 1, "b": 2})),
            Some(json!({"a": 3, "b": 4, "c": 5}))
        )]
    );
}

#[test]
fn wildcards_match_at_any_depth_and_index() {
    let rules = NoiseRules::builder()
        .ignore_path("$..timestamp")
        .ignore_path("$.items[*].id")
        .build()
        .expect("valid rules");
    let diff = diff_bodies(
        r#"{"timestamp":1,"items":[{"id":"a","n":1,"audit":{"timestamp":5}}],"x":{"y":[{"timestamp":9}]}}"#,
        r#"{"timestamp":2,"items":[{"id":"b","n":2,"audit":{"timestamp":6}}],"x":{"y":[{"timestamp":8}]}}"#,
        &rules,
    );
    assert_eq!(
        diff.changes,
        [json_change("$.items[0].n", Some(json!(1)), Some(json!(2)))]
    );
    let noise: Vec<String> = diff
        .noise
        .iter()
        .map(|c| c.location().to_string())
        .collect();
    assert_eq!(
        noise,
        [
            "body $.items[0].audit.timestamp",
            "body $.items[0].id",
            "body $.timestamp",
            "body $.x.y[0].timestamp",
        ]
    );
}

#[test]
fn learned_noise_leaves_only_real_changes() {
    let replay = |ts: &str, trace: &str, total: u32| {
        (
            headers(&[("x-trace", trace)]),
            format!(
                r#"{{"items":[{{"sku":"a","ts":"{ts}"}},{{"sku":"b","ts":"{ts}"}}],"total":{total}}}"#
            ),
        )
    };
    let first = replay("10:00", "t-1", 42);
    let second = replay("10:01", "t-2", 42);
    let learned = NoiseRules::learn(
        &ResponseView::new(200, &first.0, first.1.as_bytes()),
        &ResponseView::new(200, &second.0, second.1.as_bytes()),
    );
    assert_eq!(learned.ignored_headers().collect::<Vec<_>>(), ["x-trace"]);
    let paths: Vec<String> = learned
        .ignored_paths()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(paths, ["$.items[*].ts"]);

    let mut rules = NoiseRules::default();
    rules.extend(learned);
    let recorded = replay("09:00", "t-0", 42);
    let changed = replay("10:02", "t-3", 43);
    let diff = diff_responses(
        &ResponseView::new(200, &recorded.0, recorded.1.as_bytes()),
        &ResponseView::new(200, &changed.0, changed.1.as_bytes()),
        &rules,
    );
    assert_eq!(
        diff.changes,
        [json_change("$.total", Some(json!(42)), Some(json!(43)))]
    );
    assert_eq!(diff.noise_count(), 3);
    assert_eq!(
        diff.to_string(),
        "body $.total: 42 -> 43\nnoise: header x-trace, body $.items[0].ts, body $.items[1].ts"
    );
}

#[test]
fn learning_from_text_bodies_ignores_the_body_but_never_the_status() {
    let none: [Header; 0] = [];
    let learned = NoiseRules::learn(
        &ResponseView::new(200, &none, b"rendered at 10:00"),
        &ResponseView::new(500, &none, b"rendered at 10:01"),
    );
    assert_eq!(learned.ignored_paths(), [PathPattern::root()]);
    let diff = diff_responses(
        &ResponseView::new(200, &none, b"hello"),
        &ResponseView::new(500, &none, b"bye"),
        &learned,
    );
    assert_eq!(
        diff.to_string(),
        "status: 200 -> 500\nnoise: body line 1, column 1"
    );
}

#[test]
fn headers_compare_as_sets_by_name() {
    let ours = headers(&[
        ("set-cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("x-old", "gone"),
        ("allow", "GET"),
    ]);
    let theirs = headers(&[
        ("x-new", "here"),
        ("set-cookie", "b=2"),
        ("set-cookie", "a=1"),
        ("allow", "POST"),
        ("allow", "GET"),
    ]);
    let diff = diff_responses(
        &ResponseView::new(200, &ours, b""),
        &ResponseView::new(200, &theirs, b""),
        &NoiseRules::default(),
    );
    assert_eq!(
        diff.to_string(),
        "header allow: \"GET\" -> [\"GET\", \"POST\"]\n\
         header x-new: (missing) -> \"here\"\n\
         header x-old: \"gone\" -> (missing)"
    );
    let kinds: Vec<_> = diff.changes.iter().map(Change::kind).collect();
    assert_eq!(
        kinds,
        [ChangeKind::Changed, ChangeKind::Added, ChangeKind::Removed]
    );
}

#[test]
fn text_bodies_report_the_first_differing_line() {
    let head = headers(&[("content-type", "text/plain")]);
    let diff = diff_responses(
        &ResponseView::new(200, &head, b"alpha\nbeta\ngamma\n"),
        &ResponseView::new(200, &head, b"alpha\nbeta!\ngamma\n"),
        &NoiseRules::default(),
    );
    assert_eq!(
        diff.changes,
        [Change::Text {
            line: 2,
            column: 5,
            expected: Some("beta".into()),
            actual: Some("beta!".into()),
        }]
    );
    assert_eq!(
        diff.to_string(),
        r#"body line 2, column 5: "beta" -> "beta!""#
    );
}

#[test]
fn binary_bodies_report_lengths_and_first_offset() {
    let none: [Header; 0] = [];
    let ours = [0x89, b'P', b'N', b'G', 0xff, 0x00, 1, 2];
    let theirs = [0x89, b'P', b'N', b'G', 0xff, 0x01, 1, 2, 3];
    let diff = diff_responses(
        &ResponseView::new(200, &none, &ours),
        &ResponseView::new(200, &none, &theirs),
        &NoiseRules::default(),
    );
    assert_eq!(
        diff.changes,
        [Change::Binary {
            offset: 5,
            expected_len: 8,
            actual_len: 9,
        }]
    );
    assert_eq!(
        diff.to_string(),
        "body bytes: first difference at offset 5, 8 bytes -> 9 bytes"
    );
}

#[test]
fn report_of_a_typical_diff() {
    let ours = headers(&[
        ("content-type", "application/json"),
        ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("cache-control", "max-age=60"),
    ]);
    let theirs = headers(&[
        ("content-type", "application/json"),
        ("date", "Tue, 02 Jan 2024 00:00:00 GMT"),
    ]);
    let expected_body = json!({
        "order": {"id": 17, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]},
        "total": 42,
        "note": "x".repeat(100),
    })
    .to_string();
    let actual_body = json!({
        "order": {"id": 17, "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}]},
        "total": 43,
        "note": "y".repeat(100),
        "warnings": [],
    })
    .to_string();
    let diff = diff_responses(
        &ResponseView::new(200, &ours, expected_body.as_bytes()),
        &ResponseView::new(500, &theirs, actual_body.as_bytes()),
        &NoiseRules::default(),
    );
    let note_cut = |c: &str| format!("\"{}…", c.repeat(79));
    assert_eq!(
        diff.to_string(),
        format!(
            "status: 200 -> 500\n\
             header cache-control: \"max-age=60\" -> (missing)\n\
             body $.note: {} -> {}\n\
             body $.order.lines[1].qty: 2 -> 3\n\
             body $.total: 42 -> 43\n\
             body $.warnings: (missing) -> []\n\
             noise: header date",
            note_cut("x"),
            note_cut("y")
        )
    );
    assert_eq!(diff.change_count(), 6);
}

#[test]
fn serializes_for_json_output() {
    let none: [Header; 0] = [];
    let diff = diff_responses(
        &ResponseView::new(200, &none, br#"{"a":1,"b":null}"#),
        &ResponseView::new(201, &none, br#"{"a":2}"#),
        &NoiseRules::default(),
    );
    let value = serde_json::to_value(&diff).expect("serializable");
    assert_eq!(
        value,
        json!({
            "changes": [
                {"part": "status", "expected": 200, "actual": 201},
                {"part": "json", "path": "$.a", "expected": 1, "actual": 2},
                {"part": "json", "path": "$.b", "expected": null},
            ],
            "omitted_changes": 0,
            "noise": [],
            "omitted_noise": 0,
        })
    );
}

#[test]
fn changes_are_capped_and_counted() {
    let ours: Vec<u32> = (0..250).collect();
    let theirs: Vec<u32> = (1..251).collect();
    let ours = serde_json::to_vec(&ours).expect("serializable");
    let theirs = serde_json::to_vec(&theirs).expect("serializable");
    let none: [Header; 0] = [];
    let diff = diff_responses(
        &ResponseView::new(200, &none, &ours),
        &ResponseView::new(200, &none, &theirs),
        &NoiseRules::default(),
    );
    assert_eq!(diff.changes.len(), DEFAULT_MAX_CHANGES);
    assert_eq!(diff.omitted_changes, 150);
    assert_eq!(diff.change_count(), 250);
    assert_eq!(
        diff.changes[99],
        json_change("$[99]", Some(json!(99)), Some(json!(100)))
    );
    let report = diff.to_string();
    assert_eq!(report.lines().count(), 101);
    assert!(report.ends_with("body $[99]: 99 -> 100\n… and 150 more changes"));

    // Noise has its own cap, and the report lists only a few of it.
    let rules = NoiseRules::builder()
        .ignore_path("$[*]")
        .build()
        .expect("valid rules");
    let diff = diff_responses_with_limit(
        &ResponseView::new(200, &none, &ours),
        &ResponseView::new(200, &none, &theirs),
        &rules,
        20,
    );
    assert!(diff.is_empty());
    assert_eq!((diff.noise.len(), diff.omitted_noise), (20, 230));
    assert!(diff.to_string().ends_with("body $[9] and 240 more"));
}

#[test]
fn builder_checks_its_rules() {
    let rules = NoiseRules::builder()
        .ignore_header("X-Request-Start")
        .compare_header("ETag")
        .build()
        .expect("valid rules");
    assert!(rules.ignores_header("x-request-start"));
    assert!(rules.ignores_header("DATE"));
    assert!(!rules.ignores_header("etag"));

    let bare = NoiseRules::builder()
        .without_default_headers()
        .build()
        .expect("valid rules");
    assert_eq!(bare, NoiseRules::none());

    assert_eq!(
        NoiseRules::builder().ignore_header("bad name").build(),
        Err(NoiseRuleError::InvalidHeaderName {
            name: "bad name".into()
        })
    );
    let error = NoiseRules::builder()
        .ignore_path("$.items[x]")
        .build()
        .expect_err("invalid path");
    assert_eq!(
        error.to_string(),
        "invalid JSON path \"$.items[x]\" at byte 8: expected an index, `*` or a quoted name"
    );
}

#[test]
fn path_patterns_deserialize_with_validation() {
    let pattern: PathPattern = serde_json::from_str(r#""$..ts""#).expect("valid pattern");
    assert_eq!(pattern.to_string(), "$..ts");
    assert!(serde_json::from_str::<PathPattern>(r#""ts""#).is_err());
    assert_eq!(
        serde_json::to_string(&pattern).expect("serializable"),
        r#""$..ts""#
    );
}
