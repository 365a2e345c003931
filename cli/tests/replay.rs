//! `retrace replay --target`: recordings made by a real axum server with the record
//! layer on 127.0.0.1, sent again by the real binary to a second real server that
//! answers the same (exit 0), to one where a JSON field changed (exit 7, the recording
//! and the JSON path named with both values), and to a closed port (exit 8, one line).
//! Pacing is checked on the computed schedule (unit tests in the binary), never here.

mod support;

use std::time::Duration;

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use retrace::{Config, Recorder};
use serde_json::{Value, json};
use support::{Root, Run, Server, Spec, runtime};
use tokio::runtime::Runtime;

/// Which answers a server gives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    /// The answers that were recorded.
    Original,
    /// User 1's name changed.
    Renamed,
}

/// A fresh value per server: a session cookie, a token, a request id. Each is noise the
/// comparison must not count (redacted, or ignored by default).
fn per_server_secret() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn app(version: Version) -> axum::Router {
    let secret = per_server_secret();
    let token = secret.clone();
    axum::Router::new()
        .route(
            "/users/{id}",
            get(move |Path(id): Path<u64>, RawQuery(query): RawQuery| {
                let (secret, token) = (secret.clone(), token.clone());
                async move {
                    let name = match (version, id) {
                        (Version::Renamed, 1) => "zoe",
                        _ => ["bea", "ann", "cid"][(id % 3) as usize],
                    };
                    let body = json!({
                        "id": id,
                        "name": name,
                        "plan": "pro",
                        "verbose": query.as_deref() == Some("verbose=1"),
                        "access_token": token,
                    });
                    (
                        [
                            ("content-type", "application/json".to_owned()),
                            ("set-cookie", format!("session={secret}")),
                            ("x-request-id", per_server_secret()),
                        ],
                        body.to_string(),
                    )
                }
            }),
        )
        .route(
            "/orders",
            post(
                |headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes| async move {
                    let received: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .map(|v| v.to_str().unwrap_or("?").to_owned())
                    };
                    axum::Json(json!({
                        "received": received,
                        "query": query,
                        "tenant": header("x-tenant"),
                        "authenticated": header("authorization").is_some(),
                        "content_type": header("content-type"),
                    }))
                },
            ),
        )
}

/// Three requests through a recorded server, in order: `GET /users/1`,
/// `GET /users/2?verbose=1`, `POST /orders?src=test` with a JSON body, a tenant
/// header and a credential. Returns their recording ids.
fn record(rt: &Runtime, root: &Root) -> Vec<String> {
    let config = Config::builder()
        .enabled(true)
        .service("shop")
        .recording_path(root.path())
        .sample_rate(1.0)
        .build()
        .unwrap();
    let (recorder, guard) = Recorder::new(config).unwrap();
    let layer = retrace_tower::RecordLayer::builder(recorder)
        .echo_recording_id(true)
        .build()
        .unwrap();
    let server = Server::start(rt, app(Version::Original).layer(layer));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let requests = [
        ("GET", "/users/1", vec![], ""),
        ("GET", "/users/2?verbose=1", vec![], ""),
        (
            "POST",
            "/orders?src=test",
            vec![
                ("content-type", "application/json"),
                ("x-tenant", "acme"),
                ("authorization", "Bearer s3cret"),
            ],
            r#"{"sku":"a1","qty":2}"#,
        ),
    ];
    let ids = rt.block_on(async {
        let mut ids = Vec::new();
        for (method, path, headers, body) in requests {
            let mut request = http::Request::builder()
                .method(method)
                .uri(format!("{}{path}", server.url()));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = client
                .request(request.body(Full::new(Bytes::from(body))).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let id = response.headers()["x-retrace-recording-id"]
                .to_str()
                .unwrap()
                .to_owned();
            response.into_body().collect().await.unwrap();
            ids.push(id);
            // Apart in time, so the recorded gaps (and the id order) are distinct.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ids
    });
    drop(server);
    guard.shutdown().unwrap();
    ids
}

/// A recorded store, and the runtime its replay targets run on.
fn setup() -> (Runtime, Root, Vec<String>) {
    let rt = runtime();
    let root = Root::new();
    let ids = record(&rt, &root);
    assert_eq!(root.retrace(&["ls", "--json"]).code, 0);
    (rt, root, ids)
}

fn replay(root: &Root, target: &str, extra: &[&str]) -> Run {
    let mut args = vec!["replay", "--target", target];
    args.extend_from_slice(extra);
    root.retrace(&args)
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn an_identical_service_matches_every_recording() {
    let (rt, root, _) = setup();
    let same = Server::start(&rt, app(Version::Original));
    let run = replay(&root, &same.url(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("3 matched, 0 mismatched, 0 errors (3 requests in "),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(&format!(
            "replaying 3 recordings to {}/ at the recorded pace",
            same.url()
        )),
        "{}",
        run.stderr
    );

    let run = replay(&root, &same.url(), &["--json", "--asap"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary = json_of(&run);
    assert_eq!(
        (
            &summary["sent"],
            &summary["matched"],
            &summary["mismatched"]
        ),
        (&json!(3), &json!(3), &json!(0))
    );
    assert_eq!(summary["recordings"][2]["route"], "POST /orders");
}

#[test]
fn a_changed_field_fails_and_names_the_recording_and_the_json_path() {
    let (rt, root, ids) = setup();
    let changed = Server::start(&rt, app(Version::Renamed));
    let run = replay(&root, &changed.url(), &["--speed", "4"]);
    assert_eq!(run.code, 7, "{}{}", run.stdout, run.stderr);
    let line = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with("mismatch"))
        .unwrap_or_else(|| panic!("no mismatch line:\n{}", run.stdout));
    assert!(line.contains(&ids[0]), "{line}");
    assert!(line.contains("GET /users/1"), "{line}");
    assert!(line.contains(r#"body $.name: "ann" -> "zoe""#), "{line}");
    assert_eq!(
        run.lines()
            .iter()
            .filter(|l| l.starts_with("mismatch"))
            .count(),
        1
    );
    assert!(
        run.stdout.contains("2 matched, 1 mismatched, 0 errors"),
        "{}",
        run.stdout
    );

    let run = replay(&root, &changed.url(), &["--json"]);
    assert_eq!(run.code, 7);
    let summary = json_of(&run);
    let first = &summary["recordings"][0];
    assert_eq!(first["id"], ids[0].as_str());
    assert_eq!(
        first["first_mismatch"]["changes"],
        json!([{"part": "json", "path": "$.name", "expected": "ann", "actual": "zoe"}])
    );
    // Ignoring the field (or a header) is mapped onto the noise rules.
    let run = replay(&root, &changed.url(), &["--ignore-path", "$.name"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.starts_with("3 matched"), "{}", run.stdout);
    // The differences the rules ignored are reported as noise, not as changes.
    assert!(
        first["first_mismatch"]["noise"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "x-request-id"),
        "{first}"
    );
}

#[test]
fn an_unreachable_target_is_one_line_and_its_own_exit_code() {
    let (_rt, root, _) = setup();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let run = replay(&root, &target, &[]);
    assert_eq!(run.code, 8, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach the target {target}/: ")),
        "{}",
        run.stderr
    );
}

#[test]
fn ids_filters_strategy_and_limit_select_what_is_sent() {
    let (rt, root, ids) = setup();
    let same = Server::start(&rt, app(Version::Original));
    let sent = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["--json", "--asap"];
        args.extend_from_slice(extra);
        let run = replay(&root, &same.url(), &args);
        assert_eq!(run.code, 0, "{extra:?}: {}{}", run.stdout, run.stderr);
        json_of(&run)["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(sent(&["--path-prefix", "/users"]), ids[..2]);
    assert_eq!(
        sent(&[&ids[2][..16], &ids[0]]),
        [ids[0].clone(), ids[2].clone()]
    );
    assert_eq!(sent(&["--limit", "2"]), ids[1..]);
    assert_eq!(sent(&["--strategy", "latest", "-n", "1"]), ids[2..]);
    assert_eq!(sent(&["--strategy", "random", "--limit", "2"]).len(), 2);

    let run = replay(&root, &same.url(), &["--status", "404"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: no recording to replay"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_loop_as_fast_as_possible_keeps_matching_until_its_bound() {
    let (rt, root, _) = setup();
    let same = Server::start(&rt, app(Version::Original));
    let run = replay(
        &root,
        &same.url(),
        &[
            "--asap",
            "--concurrency",
            "4",
            "--loop",
            "--duration",
            "300ms",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let summary = json_of(&run);
    let sent = summary["sent"].as_u64().unwrap();
    assert!(sent > 3, "{summary}");
    assert_eq!(summary["matched"].as_u64(), Some(sent));
}

#[test]
fn a_report_lists_what_the_duration_bound_left_unsent_as_skipped() {
    let (rt, root, ids) = setup();
    let same = Server::start(&rt, app(Version::Original));
    let report = root.path().join("report.json");
    let report_arg = report.display().to_string();
    let run = replay(
        &root,
        &same.url(),
        &[
            "--max-rate",
            "1",
            "--duration",
            "300ms",
            "--report",
            &report_arg,
        ],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let file: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("json");
    let entries = file["recordings"].as_array().expect("recordings");
    assert_eq!(entries.len(), ids.len(), "{file}");
    let verdicts: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or(""),
                e["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (ids[0].as_str(), "identical"),
            (ids[1].as_str(), "skipped"),
            (ids[2].as_str(), "skipped")
        ],
        "{file}"
    );
    assert_eq!(
        entries[1]["error"].as_str(),
        Some("not sent: the run ended (--duration) before its turn"),
        "{file}"
    );
}

#[test]
fn recordings_that_cannot_be_replayed_are_skipped_and_listed() {
    let (rt, root, _) = setup();
    let cut = root.record(
        "shop",
        &[Spec::new("GET", "/users/1", 200)
            .response("application/json", br#"{"id":1,"name":"ann","plan":"pro"}"#)
            .cut_response(5)],
    );
    let same = Server::start(&rt, app(Version::Original));
    let run = replay(&root, &same.url(), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let line = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with("skipped"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(line.contains(&cut[0]), "{line}");
    assert!(line.contains("response body was cut"), "{line}");
    assert!(
        run.stdout
            .contains("3 matched, 0 mismatched, 0 errors, 1 skipped"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_pacing_options_are_usage_errors() {
    let root = Root::new();
    for (args, expected) in [
        (&["--loop"][..], "--duration"),
        (&["--speed", "0"], "--asap"),
        (&["--speed", "2", "--asap"], "cannot be used with"),
        (&["--max-rate", "0"], "above 0"),
        (&["--concurrency", "0"], "above 0"),
        (&["--ignore-path", "$.["], "invalid JSON path"),
    ] {
        let run = replay(&root, "http://127.0.0.1:9", args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    let run = replay(&root, "https://127.0.0.1:9", &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("https:// is not supported"),
        "{}",
        run.stderr
    );
}

#[test]
fn recordings_shipped_to_a_bucket_replay_from_it_as_from_the_directory() {
    let (rt, root, _) = setup();
    let env = retrace_test_services::s3::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!(
        "{}/replay",
        retrace_test_services::s3::fresh_bucket("replay from bucket")
    );
    let shipped = root.retrace_env(&["ship", "--to", &url], &pairs);
    assert_eq!(shipped.code, 0, "{shipped:?}");
    assert!(
        shipped.stderr.contains("shipped 1 segments"),
        "{}",
        shipped.stderr
    );

    let reader = support::BucketReader::new(&url);
    let same = Server::start(&rt, app(Version::Original));
    let target = same.url();
    let run = reader.run(&["replay", "--target", &target, "--asap", "--json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let summary = json_of(&run);
    assert_eq!(
        (&summary["sent"], &summary["matched"]),
        (&json!(3), &json!(3))
    );
    let changed = Server::start(&rt, app(Version::Renamed));
    let target = changed.url();
    let run = reader.run(&["replay", "--target", &target, "--asap"]);
    assert_eq!(
        run.code, 7,
        "a difference fails the replay from a bucket too: {run:?}"
    );
}
