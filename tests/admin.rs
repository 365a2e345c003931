//! The admin service over real HTTP: a real axum server on 127.0.0.1 with the record
//! layer and the admin service mounted at `/_retrace`, real keys files, a real audit
//! log. Per endpoint, per authentication outcome, per limit, metrics after known
//! traffic, and captures ending by count, bytes and time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use retrace::{Config, ConfigBuilder, RecordReason, Recorder, RecorderGuard, Store};
use retrace_tower::RecordLayer;
use retrace_tower::admin::{Admin, AdminLimits, ApiKeys, Scope};
use serde_json::{Value, json};

/// An answer: status, `Retry-After` and `WWW-Authenticate` when present, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    www_authenticate: bool,
    content_type: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// A shop with the record layer and the admin service, and a client for both.
struct Setup {
    dir: tempfile::TempDir,
    recorder: Recorder,
    guard: Option<RecorderGuard>,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    server: tokio::task::JoinHandle<()>,
    admin: Admin,
    keys_file: PathBuf,
}

const CAPTURE_KEY: &str = "rtk_capture_key_for_tests";
const READ_KEY: &str = "rtk_read_key_for_tests";
const ADMIN_KEY: &str = "rtk_admin_key_for_tests";
const OTHER_CAPTURE_KEY: &str = "rtk_second_capture_key";

fn keys_text(revoke_read: bool) -> String {
    let read = if revoke_read {
        format!(
            "dashboards revoked blake3:{}",
            blake3::hash(READ_KEY.as_bytes()).to_hex()
        )
    } else {
        ApiKeys::file_line("dashboards", Scope::Read, READ_KEY)
    };
    format!(
        "# test keys\n{}\n{}\n{}\n{}\n",
        ApiKeys::file_line("oncall", Scope::Capture, CAPTURE_KEY),
        ApiKeys::file_line("second", Scope::Capture, OTHER_CAPTURE_KEY),
        read,
        ApiKeys::file_line("platform", Scope::Admin, ADMIN_KEY),
    )
}

impl Setup {
    async fn new(config: impl FnOnce(ConfigBuilder) -> ConfigBuilder, limits: AdminLimits) -> Self {
        Self::with_keys(config, limits, Some(keys_text(false))).await
    }

    async fn with_keys(
        config: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
        limits: AdminLimits,
        keys: Option<String>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config(
            Config::builder()
                .enabled(true)
                .service("shop")
                .recording_path(dir.path().join("recordings")),
        )
        .build()
        .unwrap();
        let (recorder, guard) = Recorder::new(config).unwrap();
        let keys_file = dir.path().join("keys");
        let mut builder = Admin::builder(&recorder).limits(limits);
        if let Some(text) = keys {
            std::fs::write(&keys_file, text).unwrap();
            builder = builder.keys_file(&keys_file);
        }
        let admin = builder.build().unwrap();
        let app: Router = Router::new()
            .route("/checkout", post(|body: Bytes| async move { body }))
            .route("/catalog", get(|| async { "[\"fig\",\"plum\"]" }))
            .layer(RecordLayer::new(recorder.clone()))
            .nest_service("/_retrace", admin.service());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            dir,
            recorder,
            guard: Some(guard),
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
            server,
            admin,
            keys_file,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let resp = self
            .client
            .request(req.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after").map(|v| v.parse().unwrap());
        let www_authenticate = header("www-authenticate").is_some();
        let content_type = header("content-type").unwrap_or_default();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            retry_after,
            www_authenticate,
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// An admin call with `key` as a bearer token.
    async fn admin(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {key}");
        self.send(
            method,
            &format!("/_retrace{path}"),
            &[("authorization", &auth)],
            body,
        )
        .await
    }

    async fn capture(&self, key: &str, body: Value) -> Answer {
        self.admin("POST", "/captures", key, Some(body)).await
    }

    async fn checkout(&self, tenant: &str) {
        let answer = self
            .send(
                "POST",
                "/checkout",
                &[("x-tenant", tenant)],
                Some(json!({"sku": "fig"})),
            )
            .await;
        assert_eq!(answer.status, 200);
    }

    fn settle(&self) {
        tokio::task::block_in_place(|| self.recorder.wait_settled(Duration::from_secs(10)))
            .unwrap();
    }

    fn audit_path(&self) -> PathBuf {
        self.admin.audit_log().unwrap().path().to_owned()
    }

    fn audit_lines(&self) -> Vec<retrace::audit::AuditLine> {
        retrace::audit::read(self.audit_path())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn stop(mut self) -> retrace::Stats {
        self.server.abort();
        self.guard.take().unwrap().shutdown().unwrap()
    }

    /// Stops, keeping the recordings for the test to read.
    fn stop_keeping_files(mut self) -> (retrace::Stats, tempfile::TempDir) {
        self.server.abort();
        let stats = self.guard.take().unwrap().shutdown().unwrap();
        (stats, self.dir)
    }
}

fn tenant_42(max: u64) -> Value {
    json!({
        "match": {"method": "POST", "path": {"prefix": "/checkout"},
                  "header": {"name": "x-tenant", "value": "42"}},
        "max_recordings": max,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_records_only_what_it_matches_and_ends_at_its_count() {
    let s = Setup::new(|c| c, AdminLimits::default()).await;
    let created = s.capture(CAPTURE_KEY, tenant_42(3)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let capture = created.json();
    let id = capture["id"].as_str().unwrap().to_owned();
    assert_eq!(capture["state"], "active");
    assert_eq!(capture["owner"], "oncall");
    assert_eq!(capture["max_recordings"], 3);
    assert_eq!(capture["duration_s"], 60.0, "the default duration");

    for _ in 0..5 {
        s.checkout("42").await;
        s.checkout("7").await;
        assert_eq!(
            s.send("GET", "/catalog", &[("x-tenant", "42")], None)
                .await
                .status,
            200
        );
    }
    s.settle();

    let progress = s
        .admin("GET", &format!("/captures/{id}"), READ_KEY, None)
        .await;
    assert_eq!(progress.status, 200);
    let progress = progress.json();
    assert_eq!(progress["recorded"], 3);
    assert_eq!(progress["state"], "recordings", "ended at its count");
    assert!(progress["bytes"].as_u64().unwrap() > 0);

    let listing = s
        .admin("GET", &format!("/recordings?capture={id}"), READ_KEY, None)
        .await;
    assert_eq!(listing.status, 200, "{}", listing.text);
    let listing = listing.json();
    let recordings = listing["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 3);
    for r in recordings {
        assert_eq!(
            (r["method"].as_str(), r["path"].as_str()),
            (Some("POST"), Some("/checkout"))
        );
        assert_eq!(r["reason"], "capture");
        assert_eq!(r["capture"], id.as_str());
    }
    // One recording, whole, as stored.
    let one = recordings[0]["id"].as_str().unwrap();
    let whole = s
        .admin("GET", &format!("/recordings/{one}"), READ_KEY, None)
        .await;
    assert_eq!(whole.status, 200);
    let whole = whole.json();
    assert_eq!(
        whole["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["name"] == "x-tenant")
            .count(),
        1
    );
    assert_eq!(whole["request"]["body"]["data"], "{\"sku\":\"fig\"}");

    let (stats, dir) = s.stop_keeping_files();
    assert_eq!(stats.written, 3, "{stats:?}");
    assert_eq!(stats.requests_seen, 15);
    assert_eq!(stats.decisions("capture"), 3);
    // On disk, each recording names the capture that took it.
    let capture: retrace::CaptureId = id.parse().unwrap();
    let store = Store::open(dir.path().join("recordings")).unwrap();
    let reasons: Vec<_> = store
        .list()
        .recordings
        .iter()
        .map(|r| r.summary.reason)
        .collect();
    assert_eq!(reasons, vec![Some(RecordReason::Capture(capture)); 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_authentication_outcome_has_its_status_and_code() {
    let s = Setup::new(|c| c, AdminLimits::default()).await;
    // /health needs nothing.
    let health = s.send("GET", "/_retrace/health", &[], None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    // No key.
    let none = s.send("GET", "/_retrace/captures", &[], None).await;
    assert_eq!((none.status, none.code().as_str()), (401, "missing_key"));
    assert!(none.www_authenticate);
    // A wrong key, by either header.
    let wrong = s.admin("GET", "/captures", "rtk_not_a_key", None).await;
    assert_eq!((wrong.status, wrong.code().as_str()), (401, "invalid_key"));
    let wrong = s
        .send("GET", "/_retrace/captures", &[("x-api-key", "nope")], None)
        .await;
    assert_eq!((wrong.status, wrong.code().as_str()), (401, "invalid_key"));
    // The right key by X-API-Key.
    let right = s
        .send(
            "GET",
            "/_retrace/captures",
            &[("x-api-key", READ_KEY)],
            None,
        )
        .await;
    assert_eq!(right.status, 200, "{}", right.text);
    // Too small a scope.
    let scope = s.capture(READ_KEY, tenant_42(1)).await;
    assert_eq!(
        (scope.status, scope.code().as_str()),
        (403, "insufficient_scope")
    );
    assert_eq!(
        scope.json()["message"],
        "the key \"dashboards\" has the read scope; this needs capture"
    );
    // Revoked in the keys file: refused from the next request on, no restart.
    std::fs::write(&s.keys_file, keys_text(true)).unwrap();
    bump_mtime(&s.keys_file);
    let revoked = s.admin("GET", "/captures", READ_KEY, None).await;
    assert_eq!(
        (revoked.status, revoked.code().as_str()),
        (401, "revoked_key")
    );
    // A keys file that no longer parses keeps the keys read last, and /health says so.
    std::fs::write(&s.keys_file, "oncall capture not-a-hash\n").unwrap();
    bump_mtime(&s.keys_file);
    let still = s.admin("GET", "/captures", CAPTURE_KEY, None).await;
    assert_eq!(still.status, 200);
    let health = s.send("GET", "/_retrace/health", &[], None).await;
    assert_eq!(health.status, 503);
    assert_eq!(
        health.json()["reasons"][0],
        "the API keys file was refused (the previous keys stay): API keys file, line 1: the hash must start with `blake3:`"
    );
    // Unknown routes and methods.
    assert_eq!(
        s.admin("GET", "/nothing", ADMIN_KEY, None).await.code(),
        "not_found"
    );
    assert_eq!(
        s.admin("PUT", "/captures", ADMIN_KEY, None).await.status,
        405
    );

    // The audit log has every refusal, by key id (never the key itself).
    let lines = s.audit_lines();
    let denied: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l.outcome == "denied")
        .map(|l| (l.who.as_str(), l.action.as_str()))
        .collect();
    assert_eq!(
        denied,
        vec![
            ("anonymous", "captures.list"),
            ("unknown-key", "captures.list"),
            ("unknown-key", "captures.list"),
            ("dashboards", "captures.create"),
            ("dashboards", "captures.list"),
        ]
    );
    let raw = std::fs::read_to_string(s.audit_path()).unwrap();
    for key in [CAPTURE_KEY, READ_KEY, ADMIN_KEY] {
        assert!(!raw.contains(key), "a key is in the audit log");
    }
    assert!(retrace::audit::verify(s.audit_path()).unwrap().is_intact());
    s.stop();
}

/// File systems with a coarse clock may give two writes in a row the same mtime.
fn bump_mtime(path: &Path) {
    let f = std::fs::File::options().append(true).open(path).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    f.set_modified(later).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_only_health_is_served() {
    let s = Setup::with_keys(|c| c, AdminLimits::default(), None).await;
    assert_eq!(
        s.send("GET", "/_retrace/health", &[], None).await.status,
        200
    );
    for path in ["/metrics", "/captures", "/recordings"] {
        let answer = s.admin("GET", path, ADMIN_KEY, None).await;
        assert_eq!(
            (answer.status, answer.code().as_str()),
            (404, "admin_disabled"),
            "{path}"
        );
    }
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_429_with_the_time_to_wait() {
    let limits = AdminLimits {
        per_key_active_captures: 1,
        per_key_recordings_per_hour: 10,
        ..AdminLimits::default()
    };
    let s = Setup::new(|c| c.max_captures(2), limits).await;
    // Per key, captures active: the second waits for the first to end (60 s).
    let first = s.capture(CAPTURE_KEY, tenant_42(4)).await;
    assert_eq!(first.status, 201);
    let second = s.capture(CAPTURE_KEY, tenant_42(1)).await;
    assert_eq!(
        (second.status, second.code().as_str()),
        (429, "key_captures_limit")
    );
    let retry = second.retry_after.unwrap();
    assert!((55..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(second.json()["retry_after_s"], retry);
    // Stopping it frees the place; the hourly allowance still holds what it took (0).
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.admin("DELETE", &format!("/captures/{id}"), CAPTURE_KEY, None)
            .await
            .status,
        200
    );
    // Per key, recordings per hour: 8 asked, 10 allowed, 0 used so far.
    let hourly = s.capture(CAPTURE_KEY, tenant_42(8)).await;
    assert_eq!(hourly.status, 201, "{}", hourly.text);
    let id = hourly.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.admin("DELETE", &format!("/captures/{id}"), CAPTURE_KEY, None)
            .await
            .status,
        200
    );
    // 8 more would pass 10 only if the stopped capture still held its 8: it took none.
    let again = s.capture(CAPTURE_KEY, tenant_42(8)).await;
    assert_eq!(again.status, 201, "{}", again.text);
    // The global limit: two captures active (the config says 2).
    let other = s.capture(OTHER_CAPTURE_KEY, tenant_42(1)).await;
    assert_eq!(other.status, 201);
    let third = s.capture(ADMIN_KEY, tenant_42(1)).await;
    assert_eq!(
        (third.status, third.code().as_str()),
        (429, "too_many_captures")
    );
    assert_eq!(
        third.json()["message"],
        "2 captures are active, the most allowed at once"
    );
    assert!((55..=60).contains(&third.retry_after.unwrap()));
    // The hourly allowance: 8 held by the active capture, 2 left.
    let admin_id = again.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.admin(
            "DELETE",
            &format!("/captures/{admin_id}"),
            OTHER_CAPTURE_KEY,
            None
        )
        .await
        .code(),
        "insufficient_scope",
        "a capture key stops only its own captures"
    );
    assert_eq!(
        s.admin("DELETE", &format!("/captures/{admin_id}"), ADMIN_KEY, None)
            .await
            .status,
        200
    );
    for _ in 0..3 {
        s.checkout("42").await;
    }
    s.settle();
    let over = s.capture(CAPTURE_KEY, tenant_42(3)).await;
    assert_eq!(
        over.status, 201,
        "the stopped capture took nothing: {}",
        over.text
    );
    let id = over.json()["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        s.checkout("42").await;
    }
    s.settle();
    let progress = s
        .admin("GET", &format!("/captures/{id}"), READ_KEY, None)
        .await
        .json();
    assert_eq!(progress["recorded"], 3);
    let full = s.capture(CAPTURE_KEY, tenant_42(8)).await;
    assert_eq!(
        (full.status, full.code().as_str()),
        (429, "key_hourly_limit")
    );
    assert_eq!(
        full.json()["message"],
        "the key \"oncall\" may take 10 recordings per hour and has 7 left; this capture asks for 8"
    );
    let retry = full.retry_after.unwrap();
    assert!((3500..=3600).contains(&retry), "Retry-After {retry}");
    let limited = s
        .audit_lines()
        .into_iter()
        .filter(|l| l.outcome == "limited")
        .count();
    assert_eq!(limited, 3);
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_above_their_caps_are_clamped_and_said_so() {
    let limits = AdminLimits {
        max_recordings: 20,
        ..AdminLimits::default()
    };
    let s = Setup::new(|c| c.max_window(Duration::from_secs(600)), limits).await;
    let answer = s
        .capture(
            CAPTURE_KEY,
            json!({"max_recordings": 500, "duration": "2h", "max_bytes": 1u64 << 40}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    let v = answer.json();
    assert_eq!(
        (v["max_recordings"].as_u64(), v["duration_s"].as_f64()),
        (Some(20), Some(600.0))
    );
    assert_eq!(
        v["clamped"],
        json!([
            {"field": "duration", "asked": "2h", "effective": "10m"},
            {"field": "max_recordings", "asked": "500", "effective": "20"},
            {"field": "max_bytes", "asked": "1099511627776", "effective": "67108864"},
        ])
    );
    // Bad requests name what is wrong.
    let bad = s.capture(CAPTURE_KEY, json!({"max_recording": 5})).await;
    assert_eq!(bad.code(), "invalid_request");
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `max_recording`"),
        "{}",
        bad.text
    );
    let bad = s.capture(CAPTURE_KEY, json!({"rate": 2.0})).await;
    assert_eq!(
        bad.json()["message"],
        "invalid capture rate 2: a rate is a number from 0 to 1"
    );
    let bad = s.capture(CAPTURE_KEY, json!({"max_recordings": 0})).await;
    assert_eq!(
        bad.json()["message"],
        "a capture's max_recordings must be at least 1"
    );
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_end_by_bytes_and_by_time() {
    let s = Setup::new(|c| c, AdminLimits::default()).await;
    let by_bytes = s
        .capture(
            CAPTURE_KEY,
            json!({"match": {"path": "/checkout"}, "max_bytes": 1, "max_recordings": 50}),
        )
        .await
        .json();
    let bytes_id = by_bytes["id"].as_str().unwrap().to_owned();
    s.checkout("1").await;
    s.settle();
    s.checkout("2").await;
    s.settle();
    let ended = s
        .admin("GET", &format!("/captures/{bytes_id}"), READ_KEY, None)
        .await
        .json();
    assert_eq!(
        (ended["state"].as_str(), ended["recorded"].as_u64()),
        (Some("bytes"), Some(1))
    );

    let by_time = s
        .capture(
            ADMIN_KEY,
            json!({"match": {"path": "/catalog"}, "duration": 1}),
        )
        .await
        .json();
    let time_id = by_time["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let state = loop {
        let v = s
            .admin("GET", &format!("/captures/{time_id}"), READ_KEY, None)
            .await
            .json();
        if v["state"] != "active" || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (state["state"].as_str(), state["remaining_s"].as_f64()),
        (Some("time"), Some(0.0))
    );
    assert_eq!(s.send("GET", "/catalog", &[], None).await.status, 200);
    s.settle();
    let listed = s.admin("GET", "/captures", READ_KEY, None).await.json();
    let states: Vec<&str> = listed["captures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["time", "bytes"],
        "ended captures stay listed, newest first"
    );
    let stats = s.stop();
    assert_eq!(
        stats.written, 1,
        "nothing after either capture ended: {stats:?}"
    );
}

/// Parses OpenMetrics text strictly: every line is a comment of a known kind or
/// `name{labels} value`, and the text ends with `# EOF`.
fn parse_metrics(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut samples = std::collections::BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP retrace_") || comment.starts_with("TYPE retrace_"),
                "{line}"
            );
            continue;
        }
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let bare = name.split('{').next().unwrap();
        assert!(
            bare.starts_with("retrace_")
                && bare.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{line}"
        );
        if let Some(labels) = name.strip_prefix(bare) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        let value: f64 = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().unwrap_or_else(|_| panic!("{line}"))
        };
        assert!(
            samples.insert(name.to_owned(), value).is_none(),
            "twice: {line}"
        );
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_counters_after_known_traffic() {
    let s = Setup::new(|c| c.sample_rate(1.0), AdminLimits::default()).await;
    for _ in 0..4 {
        s.checkout("42").await;
    }
    assert_eq!(s.send("GET", "/catalog", &[], None).await.status, 200);
    s.settle();
    let answer = s.admin("GET", "/metrics", READ_KEY, None).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        answer.content_type
    );
    let m = parse_metrics(&answer.text);
    let stats = s.recorder.stats();
    assert_eq!(m["retrace_requests_seen_total"], 5.0);
    assert_eq!(m["retrace_decisions_total{reason=\"sampled\"}"], 5.0);
    assert_eq!(m["retrace_decisions_total{reason=\"capture\"}"], 0.0);
    assert_eq!(m["retrace_recordings_started_total"], 5.0);
    assert_eq!(m["retrace_recordings_written_total"], 5.0);
    assert_eq!(
        m["retrace_recordings_dropped_total{reason=\"channel_full\"}"],
        0.0
    );
    assert_eq!(m["retrace_bytes_written_total"], stats.written_bytes as f64);
    assert_eq!(m["retrace_bytes_in_total"], stats.raw_bytes as f64);
    assert_eq!(m["retrace_channel_capacity"], 1024.0);
    assert_eq!(m["retrace_captures_active"], 0.0);
    assert_eq!(
        m["retrace_write_duration_seconds_count"],
        stats.write_latency.count() as f64
    );
    assert!(m["retrace_write_duration_seconds_count"] >= 1.0);
    assert_eq!(
        m["retrace_write_duration_seconds_bucket{le=\"+Inf\"}"],
        m["retrace_write_duration_seconds_count"]
    );
    assert!(
        !m.contains_key("retrace_ship_segments_total"),
        "no shipping metrics without shipping"
    );
    s.stop();
}

#[cfg(feature = "ship")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_metrics_follow_the_shipping_thread() {
    let archive = tempfile::tempdir().unwrap();
    let to = archive.path().display().to_string();
    let s = Setup::new(
        move |c| {
            c.sample_rate(1.0)
                .segment_max_age(Duration::from_millis(100))
                .ship_to(to)
                .ship_interval(Duration::from_millis(100))
        },
        AdminLimits::default(),
    )
    .await;
    s.checkout("42").await;
    s.settle();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let m = loop {
        let answer = s.admin("GET", "/metrics", READ_KEY, None).await;
        let m = parse_metrics(&answer.text);
        if m.get("retrace_ship_segments_total").copied().unwrap_or(0.0) >= 1.0 {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "{}", answer.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stats = s.recorder.stats();
    assert!(m["retrace_ship_bytes_total"] > 0.0);
    assert!(m["retrace_ship_bytes_total"] <= stats.shipping.bytes as f64);
    assert_eq!(m["retrace_ship_failures_total"], 0.0);
    assert!(m.contains_key("retrace_ship_pending_segments"));
    assert!(m.contains_key("retrace_ship_lag_seconds"));
    s.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_drops_and_recovers() {
    let s = Setup::new(
        |c| c.sample_rate(1.0).channel_capacity(2),
        AdminLimits::default(),
    )
    .await;
    assert_eq!(
        s.send("GET", "/_retrace/health", &[], None).await.status,
        200
    );
    let pause = s.recorder.pause_writer().unwrap();
    for _ in 0..20 {
        s.checkout("42").await;
    }
    let degraded = s.send("GET", "/_retrace/health", &[], None).await;
    assert_eq!(degraded.status, 503, "{}", degraded.text);
    let body = degraded.json();
    assert_eq!(body["status"], "degraded");
    let reason = body["reasons"][0].as_str().unwrap();
    assert!(
        reason.ends_with("recordings dropped since the last check (channel-full)"),
        "{reason}"
    );
    drop(pause);
    s.settle();
    let healthy = s.send("GET", "/_retrace/health", &[], None).await;
    assert_eq!(
        (healthy.status, healthy.json()),
        (200, json!({"status": "ok"}))
    );
    let stats = s.stop();
    assert!(stats.dropped(retrace::DropReason::ChannelFull) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_page_newest_first_and_unknown_ids_are_named() {
    let s = Setup::new(|c| c.sample_rate(1.0), AdminLimits::default()).await;
    for tenant in ["1", "2", "3"] {
        s.checkout(tenant).await;
        s.settle();
    }
    let first = s
        .admin("GET", "/recordings?limit=2", READ_KEY, None)
        .await
        .json();
    let page: Vec<&str> = first["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(page.len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(cursor, page[1]);
    let second = s
        .admin(
            "GET",
            &format!("/recordings?limit=2&cursor={cursor}"),
            READ_KEY,
            None,
        )
        .await
        .json();
    let rest = second["recordings"].as_array().unwrap();
    assert_eq!(rest.len(), 1);
    assert!(second["next_cursor"].is_null());
    assert!(rest[0]["id"].as_str().unwrap() < page[1], "newest first");
    let statuses = s
        .admin("GET", "/recordings?status=5xx", READ_KEY, None)
        .await
        .json();
    assert_eq!(statuses["recordings"].as_array().unwrap().len(), 0);
    let unknown = s
        .admin(
            "GET",
            "/recordings/01M971Z09XWNKYV3PRJH4X1PHC",
            READ_KEY,
            None,
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (404, "unknown_recording")
    );
    assert_eq!(
        unknown.json()["message"],
        "no recording matches \"01M971Z09XWNKYV3PRJH4X1PHC\""
    );
    let bad = s
        .admin("GET", "/recordings?status=9xx", READ_KEY, None)
        .await;
    assert_eq!((bad.status, bad.code().as_str()), (400, "invalid_query"));
    let reads: Vec<String> = s
        .audit_lines()
        .into_iter()
        .filter(|l| l.action.starts_with("recordings."))
        .map(|l| format!("{} {} {}", l.who, l.action, l.outcome))
        .collect();
    assert_eq!(
        reads,
        [
            "dashboards recordings.list ok",
            "dashboards recordings.list ok",
            "dashboards recordings.list ok",
            "dashboards recordings.read error",
            "dashboards recordings.list error",
        ]
    );
    let (_, dir) = s.stop_keeping_files();
    let store = Store::open(dir.path().join("recordings")).unwrap();
    assert!(
        store
            .list()
            .recordings
            .iter()
            .all(|r| r.summary.reason == Some(RecordReason::Sampled))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_service_runs_on_a_listener_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .enabled(true)
        .recording_path(dir.path())
        .build()
        .unwrap();
    let (recorder, guard) = Recorder::new(config).unwrap();
    let admin = Admin::builder(&recorder)
        .keys(
            ApiKeys::default()
                .with_key("dashboards", Scope::Read, READ_KEY)
                .unwrap(),
        )
        .without_audit()
        .build()
        .unwrap();
    assert!(admin.audit_log().is_none());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(admin.serve(listener));
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let get = |path: &str, key: Option<&str>| {
        let mut req = http::Request::get(format!("{base}{path}"));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        client.request(req.body(Full::new(Bytes::new())).unwrap())
    };
    let health = get("/health", None).await.unwrap();
    assert_eq!(health.status(), 200);
    let body = health.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.as_ref(), b"{\"status\":\"ok\"}\n");
    assert_eq!(get("/metrics", None).await.unwrap().status(), 401);
    assert_eq!(get("/metrics", Some(READ_KEY)).await.unwrap().status(), 200);
    server.abort();
    guard.shutdown().unwrap();
}
