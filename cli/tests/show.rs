//! `retrace show`: the request, the waterfall, the response, body rendering, `--raw`,
//! `--body`, `--json`, and the one-line errors for ids that name no single recording.

mod support;

use support::{CallSpec, Root, Spec};

/// A checkout request that called a payment service and an inventory service (which
/// failed), answering with JSON.
fn order() -> Spec {
    Spec::new("POST", "/api/orders?dry=0", 201)
        .header("x-request-id", "req-1")
        .body("application/json", br#"{"item":"book","qty":2}"#)
        .call(
            CallSpec::new(
                "payments:443",
                "POST",
                "https://payments:443/charge",
                1_000,
                20_000,
            )
            .body("application/json", br#"{"amount":1200}"#),
        )
        .call(
            CallSpec::new("inventory", "GET", "/items/book", 22_000, 10_000)
                .error("connection refused"),
        )
        .response("application/json", br#"{"zeta":42,"alpha":["book"]}"#)
}

/// The lines from the one equal to `start` up to (not including) the next blank line
/// followed by a section heading, or the end.
fn section<'a>(lines: &[&'a str], start: &str) -> Vec<&'a str> {
    let from = lines
        .iter()
        .position(|l| *l == start)
        .unwrap_or_else(|| panic!("no {start:?} in {lines:#?}"));
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(from) {
        if i > from && l.starts_with("=== ") {
            out.pop();
            break;
        }
        out.push(*l);
    }
    out
}

#[test]
fn shows_request_waterfall_and_response() {
    let root = Root::new();
    let ids = root.record("checkout", &[order()]);
    let run = root.retrace(&["show", &ids[0][..12]]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert_eq!(lines[0], format!("recording  {}", ids[0]));
    assert!(
        lines[1].starts_with("service    checkout (session checkout_"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("started    ") && lines[2].ends_with('Z'));
    assert!(lines[3].starts_with("duration   "));
    assert_eq!(lines[4], "reason     sampled");
    assert_eq!(lines[5], "outcome    completed");
    assert_eq!(
        section(&lines, "=== request ==="),
        [
            "=== request ===",
            "POST /api/orders?dry=0 HTTP/1.1",
            "host: shop.example",
            "x-request-id: req-1",
            "content-type: application/json",
            "",
            "{",
            "  \"item\": \"book\",",
            "  \"qty\": 2",
            "}",
        ]
    );
    let calls = section(&lines, "=== outgoing calls: 2, timeline 0 to 32.0ms ===");
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert_eq!(
        calls[1].split_whitespace().collect::<Vec<_>>(),
        ["#", "CALL", "STATUS", "START", "TOOK", "TIMELINE"]
    );
    assert!(
        calls[2].starts_with("-  POST /api/orders?dry=0 (this request)     201     +0µs"),
        "{}",
        calls[2]
    );
    assert!(
        calls[2].ends_with("|=                                       |"),
        "{}",
        calls[2]
    );
    assert_eq!(
        calls[3],
        "0  POST https://payments:443/charge          200   +1.0ms  20.0ms  | ==========================             |"
    );
    assert_eq!(
        calls[4],
        "1  GET inventory/items/book                error  +22.0ms  10.0ms  |                           =============|"
    );
    assert_eq!(
        section(&lines, "=== response ==="),
        [
            "=== response ===",
            "HTTP/1.1 201 Created",
            "content-type: application/json",
            "",
            "{",
            "  \"zeta\": 42,",
            "  \"alpha\": [",
            "    \"book\"",
            "  ]",
            "}",
        ]
    );
}

#[test]
fn calls_flag_prints_every_call_in_full() {
    let root = Root::new();
    let ids = root.record("checkout", &[order()]);
    let run = root.retrace(&["show", &ids[0], "--calls"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert_eq!(
        section(&lines, "=== call 0 to payments:443 ==="),
        [
            "=== call 0 to payments:443 ===",
            "POST https://payments:443/charge HTTP/1.1",
            "content-type: application/json",
            "",
            "{",
            "  \"amount\": 1200",
            "}",
            "",
            "HTTP/1.1 200 OK",
            "content-type: application/json",
            "",
            "{",
            "  \"ok\": true",
            "}",
        ]
    );
    assert_eq!(
        section(&lines, "=== call 1 to inventory ==="),
        [
            "=== call 1 to inventory ===",
            "GET /items/book HTTP/1.1",
            "",
            "error: connection refused"
        ]
    );
}

#[test]
fn binary_bodies_are_summarised_and_raw_gives_exact_bytes() {
    let png: Vec<u8> = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0xff, 0xfe,
    ];
    let root = Root::new();
    let ids = root.record(
        "images",
        &[Spec::new("GET", "/logo.png", 200)
            .response("image/png", &png)
            .cut_response(2048)],
    );
    let run = root.retrace(&["show", &ids[0]]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        section(&run.lines(), "=== response ==="),
        [
            "=== response ===",
            "HTTP/1.1 200 OK",
            "content-type: image/png",
            "",
            "[binary body: 14 B, image/png; --raw prints the bytes]",
            "[body cut at its cap: 14 B of 2.0 KiB kept]",
        ]
    );
    assert!(run.lines().contains(&"flags      truncated"));

    let raw = root.retrace(&["show", &ids[0], "--raw"]);
    assert_eq!(raw.code, 0);
    let mut tail = b"content-type: image/png\n\n".to_vec();
    tail.extend_from_slice(&png);
    tail.extend_from_slice(b"\n[body cut at its cap: 14 B of 2.0 KiB kept]\n");
    assert!(raw.raw_stdout.ends_with(&tail), "{:?}", raw.raw_stdout);

    let body = root.retrace(&["show", &ids[0], "--body", "response"]);
    assert_eq!((body.code, body.raw_stdout.as_slice()), (0, png.as_slice()));
    let request = root.retrace(&["show", &ids[0], "--body", "request"]);
    assert_eq!((request.code, request.raw_stdout.len()), (0, 0));
}

#[test]
fn raw_does_not_pretty_print_json() {
    let root = Root::new();
    let ids = root.record("checkout", &[order()]);
    let run = root.retrace(&["show", &ids[0], "--raw"]);
    assert_eq!(
        section(&run.lines(), "=== response ==="),
        [
            "=== response ===",
            "HTTP/1.1 201 Created",
            "content-type: application/json",
            "",
            r#"{"zeta":42,"alpha":["book"]}"#
        ]
    );
}

#[test]
fn json_holds_the_whole_recording() {
    let root = Root::new();
    let ids = root.record("checkout", &[order()]);
    let run = root.retrace(&["show", &ids[0], "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["id"], ids[0].as_str());
    assert_eq!(v["request"]["method"], "POST");
    assert_eq!(v["request"]["body"]["data"], r#"{"item":"book","qty":2}"#);
    assert_eq!(v["request"]["body"]["encoding"], "utf8");
    assert_eq!(v["request"]["headers"][1]["name"], "x-request-id");
    assert_eq!(v["calls"][0]["target"], "payments:443");
    assert_eq!(v["calls"][0]["duration_us"], 20_000);
    assert_eq!(v["calls"][0]["response"]["status"], 200);
    assert_eq!(v["calls"][1]["error"], "connection refused");
    assert_eq!(v["calls"][1]["response"], serde_json::Value::Null);
    assert_eq!(v["response"]["status"], 201);
    assert_eq!(v["outcome"], "completed");
}

#[test]
fn unknown_ambiguous_and_invalid_ids_are_one_line_each() {
    let root = Root::new();
    let ids = root.record(
        "checkout",
        &[Spec::new("GET", "/a", 200), Spec::new("GET", "/b", 200)],
    );

    let unknown = root.retrace(&["show", "7ZZZZZZZZZ"]);
    assert_eq!(unknown.code, 3);
    assert_eq!(
        unknown.stderr,
        "error: no recording matches \"7ZZZZZZZZZ\"\n"
    );
    assert_eq!(unknown.stdout, "");

    let common = ids[0]
        .bytes()
        .zip(ids[1].bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let prefix = &ids[0][..common];
    let ambiguous = root.retrace(&["show", prefix]);
    assert_eq!(ambiguous.code, 3);
    assert_eq!(
        ambiguous.stderr,
        format!(
            "error: \"{prefix}\" is ambiguous; it matches {}, {}\n",
            ids[1], ids[0]
        )
    );

    let lower = root.retrace(&["show", &ids[1].to_lowercase()]);
    assert_eq!(lower.code, 0, "ids are case-insensitive: {}", lower.stderr);

    let invalid = root.retrace(&["show", "not-an-id"]);
    assert_eq!(invalid.code, 3);
    assert_eq!(
        invalid.stderr,
        "error: \"not-an-id\" is not a recording id or prefix (ids use the characters 0-9 and A-Z without I, L, O, U)\n"
    );
}

#[test]
fn a_damaged_recording_names_the_file_and_offset() {
    let root = Root::new();
    let ids = root.record_with("checkout", &[order(), Spec::new("GET", "/fine", 200)], true);
    let segment = &root.segments()[0];
    let mut data = std::fs::read(segment).expect("read");
    data[16 + 20] ^= 0x01;
    std::fs::write(segment, &data).expect("write");

    let run = root.retrace(&["show", &ids[0]]);
    assert_eq!(run.code, 5);
    assert_eq!(
        run.stderr,
        format!(
            "error: recording {} cannot be read: {}: corrupt frame at offset 16: checksum mismatch\n",
            ids[0],
            segment.display()
        )
    );
    let fine = root.retrace(&["show", &ids[1]]);
    assert_eq!(fine.code, 0, "{}", fine.stderr);
    let listed = root.retrace(&["ls"]);
    assert_eq!((listed.code, listed.lines().len()), (0, 3));
}
