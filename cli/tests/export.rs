//! `retrace export`: HAR 1.2 checked against a model of the specification written here
//! independently of the exporter (every required field is a plain field, so a missing
//! one fails to deserialize), round-tripped through serde; JSON lines; and errors that
//! leave no file behind.

mod support;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use support::{CallSpec, Root, Spec};

/// HAR 1.2, required fields only; everything else lands in `rest` so the round trip
/// can be compared whole.
mod har {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Har {
        pub log: Log,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Log {
        pub version: String,
        pub creator: Creator,
        pub entries: Vec<Entry>,
        pub pages: Vec<Page>,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Creator {
        pub name: String,
        pub version: String,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Page {
        pub started_date_time: String,
        pub id: String,
        pub title: String,
        pub page_timings: Map<String, Value>,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Entry {
        pub started_date_time: String,
        pub time: f64,
        pub request: Request,
        pub response: Response,
        pub cache: Map<String, Value>,
        pub timings: Timings,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub struct NameValue {
        pub name: String,
        pub value: String,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Request {
        pub method: String,
        pub url: String,
        pub http_version: String,
        pub cookies: Vec<NameValue>,
        pub headers: Vec<NameValue>,
        pub query_string: Vec<NameValue>,
        pub headers_size: i64,
        pub body_size: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub post_data: Option<PostData>,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PostData {
        pub mime_type: String,
        pub params: Vec<NameValue>,
        pub text: String,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Response {
        pub status: u16,
        pub status_text: String,
        pub http_version: String,
        pub cookies: Vec<NameValue>,
        pub headers: Vec<NameValue>,
        pub content: Content,
        #[serde(rename = "redirectURL")]
        pub redirect_url: String,
        pub headers_size: i64,
        pub body_size: i64,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Content {
        pub size: i64,
        pub mime_type: String,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub struct Timings {
        pub send: f64,
        pub wait: f64,
        pub receive: f64,
        #[serde(flatten)]
        pub rest: Map<String, Value>,
    }
}

fn order() -> Spec {
    Spec::new("POST", "/api/orders?dry=0&coupon=", 201)
        .body("application/json", br#"{"item":"book"}"#)
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
        .response("application/json", br#"{"order":42}"#)
}

/// One string field of every JSON line `run` printed, in order.
fn line_field(run: &support::Run, field: &str) -> Vec<String> {
    run.lines()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON line")[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {l}"))
                .to_owned()
        })
        .collect()
}

fn is_iso8601(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && text.ends_with('Z')
}

#[test]
fn har_has_every_required_field_and_round_trips() {
    let root = Root::new();
    let ids = root.record(
        "checkout",
        &[
            order(),
            Spec::new("GET", "/logo", 200).response("image/png", &[0x89, b'P', 0xff, 0]),
        ],
    );
    let file = root.path().join("out.har");
    let run = root.retrace(&[
        "export",
        &ids[0],
        &ids[1][..14],
        "--har",
        file.to_str().unwrap(),
    ]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );

    let text = std::fs::read_to_string(&file).expect("HAR written");
    let original: Value = serde_json::from_str(&text).expect("JSON");
    let har: har::Har = serde_json::from_str(&text).expect("every required HAR 1.2 field");
    assert_eq!(
        serde_json::to_value(&har).expect("serialise"),
        original,
        "round trip"
    );

    let log = &har.log;
    assert_eq!(log.version, "1.2");
    assert_eq!(log.creator.name, "retrace");
    assert_eq!(log.pages.len(), 2);
    assert_eq!(log.pages[0].id, ids[0]);
    assert_eq!(
        log.pages[0].title,
        "checkout: POST /api/orders?dry=0&coupon="
    );
    assert_eq!(
        log.entries.len(),
        4,
        "the incoming requests and both outgoing calls"
    );
    for e in &log.entries {
        assert!(is_iso8601(&e.started_date_time), "{}", e.started_date_time);
        assert!(
            e.rest["pageref"]
                .as_str()
                .is_some_and(|p| ids.iter().any(|i| i == p))
        );
    }

    let incoming = &log.entries[0];
    assert_eq!(incoming.rest["_retrace"]["direction"], "incoming");
    assert_eq!(incoming.request.method, "POST");
    assert_eq!(
        incoming.request.url,
        "http://shop.example/api/orders?dry=0&coupon="
    );
    assert_eq!(incoming.request.http_version, "HTTP/1.1");
    let query: Vec<(&str, &str)> = incoming
        .request
        .query_string
        .iter()
        .map(|q| (q.name.as_str(), q.value.as_str()))
        .collect();
    assert_eq!(query, [("dry", "0"), ("coupon", "")]);
    let post = incoming.request.post_data.as_ref().expect("postData");
    assert_eq!(
        (post.mime_type.as_str(), post.text.as_str()),
        ("application/json", r#"{"item":"book"}"#)
    );
    assert_eq!(incoming.request.body_size, 15);
    assert_eq!(incoming.response.status, 201);
    assert_eq!(incoming.response.status_text, "Created");
    assert_eq!(incoming.response.content.mime_type, "application/json");
    assert_eq!(incoming.response.content.rest["text"], r#"{"order":42}"#);
    assert_eq!(incoming.response.body_size, 12);

    let charge = &log.entries[1];
    assert_eq!(charge.rest["_retrace"]["direction"], "outgoing");
    assert_eq!(charge.rest["_retrace"]["callId"], 0);
    assert_eq!(charge.request.url, "https://payments:443/charge");
    assert_eq!(charge.time, 20.0);
    assert_eq!(charge.timings.wait, 20.0);
    assert_eq!(charge.response.status, 200);
    assert_eq!(charge.response.content.rest["text"], r#"{"ok":true}"#);

    let failed = &log.entries[2];
    assert_eq!(failed.request.url, "http://inventory/items/book");
    assert_eq!(failed.response.status, 0);
    assert_eq!(failed.response.rest["_error"], "connection refused");
    assert_eq!(failed.time, 10.0);

    let binary = &log.entries[3];
    assert_eq!(binary.response.content.rest["encoding"], "base64");
    assert_eq!(binary.response.content.rest["text"], "iVD/AA==");
    assert!(binary.request.post_data.is_none());
}

#[test]
fn jsonl_writes_one_recording_per_line_in_the_order_given() {
    let root = Root::new();
    let ids = root.record("checkout", &[order(), Spec::new("GET", "/b", 200)]);
    let run = root.retrace(&["export", &ids[1], &ids[0], "--jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = run.lines();
    assert_eq!(lines.len(), 2);
    let first: Value = serde_json::from_str(lines[0]).expect("JSON line");
    let second: Value = serde_json::from_str(lines[1]).expect("JSON line");
    assert_eq!(first["id"], ids[1].as_str());
    assert_eq!(first["uri"], "/b");
    assert_eq!(second["id"], ids[0].as_str());
    assert_eq!(second["calls"].as_array().map(Vec::len), Some(2));
    assert_eq!(second["response"]["body"]["data"], r#"{"order":42}"#);
}

#[test]
fn errors_leave_no_file_behind() {
    let root = Root::new();
    let ids = root.record("checkout", &[Spec::new("GET", "/a", 200)]);
    let file = root.path().join("out.har");
    let path = file.to_str().unwrap();

    let unknown = root.retrace(&["export", &ids[0], "7ZZZZZZZZZZ", "--har", path]);
    assert_eq!(unknown.code, 3);
    assert_eq!(
        unknown.stderr,
        "error: no recording matches \"7ZZZZZZZZZZ\"\n"
    );
    assert!(!file.exists());

    let unwritable = root.path().join("no/such/dir/out.har");
    let run = root.retrace(&["export", &ids[0], "--har", unwritable.to_str().unwrap()]);
    assert_eq!(run.code, 6);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot write {}: No such file or directory (os error 2)\n",
            unwritable.display()
        )
    );

    let neither = root.retrace(&["export", &ids[0]]);
    assert_eq!(neither.code, 2);
    assert!(
        neither.stderr.contains("--har <FILE>|--jsonl"),
        "{}",
        neither.stderr
    );
}

#[test]
fn all_exports_every_recording_oldest_first_and_ids_and_all_conflict() {
    let root = Root::new();
    let ids = root.record(
        "checkout",
        &[
            Spec::new("GET", "/a", 200),
            Spec::new("GET", "/b", 200),
            Spec::new("GET", "/c", 200),
        ],
    );
    let run = root.retrace(&["export", "--all", "--jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exported = line_field(&run, "id");
    let mut expected = ids.clone();
    expected.sort();
    let mut got = exported.clone();
    got.sort();
    assert_eq!(got, expected, "every recording, once");
    let uris = line_field(&run, "uri");
    assert_eq!(uris, ["/a", "/b", "/c"], "oldest first");

    let both = root.retrace(&["export", &ids[0], "--all", "--jsonl"]);
    assert_eq!(both.code, 2);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
}

#[test]
fn a_body_whose_secret_was_redacted_is_not_marked_cut() {
    use support::{Server, runtime};
    let root = Root::new();
    let rt = runtime();
    let config = retrace::Config::builder()
        .enabled(true)
        .service("auth")
        .sample_rate(1.0)
        .recording_path(root.path())
        .build()
        .unwrap();
    let (recorder, guard) = retrace::Recorder::new(config).unwrap();
    let app = axum::Router::new()
        .route(
            "/login",
            axum::routing::post(|body: String| async move { body.len().to_string() }),
        )
        .layer(retrace_tower::RecordLayer::new(recorder));
    let server = Server::start(&rt, app);
    let body = r#"{"user":"ann","password":"correct horse battery staple, long enough"}"#;
    let sent = rt.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let request = http::Request::post(format!("{}/login", server.url()))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        client.request(request).await.unwrap().status()
    });
    assert_eq!(sent, 200);
    drop(server);
    guard.shutdown().unwrap();

    let run = root.retrace(&["export", "--all", "--jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line: Value = serde_json::from_str(run.lines()[0]).unwrap();
    let recorded = &line["request"]["body"];
    assert_eq!(
        recorded["data"],
        r#"{"user":"ann","password":"[redacted]"}"#
    );
    assert_eq!(recorded["size"], body.len());
    assert_eq!(recorded["truncated"], false, "{recorded}");
}

#[test]
fn the_ls_filters_select_what_is_exported() {
    let root = Root::new();
    let ids = root.record(
        "checkout",
        &[
            Spec::new("GET", "/a", 200),
            Spec::new("POST", "/b", 503),
            Spec::new("GET", "/c", 500),
        ],
    );
    let run = root.retrace(&["export", "--all", "--status", "5xx", "--jsonl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(line_field(&run, "uri"), ["/b", "/c"]);
    // Named recordings are narrowed the same way.
    let run = root.retrace(&["export", &ids[0], &ids[2], "--path-prefix", "/c", "--jsonl"]);
    assert_eq!(line_field(&run, "uri"), ["/c"]);
    // Nothing left: an error naming why, and no output.
    let run = root.retrace(&["export", "--all", "--status", "404", "--jsonl"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no recording to export matches the filters"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn har_marks_an_aborted_request() {
    let root = Root::new();
    let mut aborted =
        Spec::new("GET", "/stream", 200).response("text/event-stream", b"data: 1\n\n");
    aborted.outcome = retrace::Outcome::Aborted;
    let ids = root.record("feed", &[Spec::new("GET", "/ok", 200), aborted]);
    let run = root.retrace(&["export", &ids[0], &ids[1], "--har", "-"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let har: Value = serde_json::from_str(&run.stdout).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    let of = |uri: &str| {
        entries
            .iter()
            .find(|e| e["request"]["url"].as_str().unwrap().ends_with(uri))
            .unwrap()
    };
    assert_eq!(of("/ok")["_retrace"]["outcome"], "completed");
    let stream = of("/stream");
    assert_eq!(stream["_retrace"]["outcome"], "aborted");
    assert!(
        stream["comment"]
            .as_str()
            .unwrap()
            .contains("aborted: the client went away"),
        "{stream}"
    );
}
