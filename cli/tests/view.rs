//! `retrace view` in a real browser: headless Chromium, driven over WebDriver
//! (`retrace-test-services::browser`, started through `scripts/chromium`), against
//! the real `retrace view` binary serving recordings the quickstart's own services
//! made through a real recorder, and a replay report `retrace replay --target
//! --report` wrote against a changed inventory.
//!
//! The screenshots in `docs/screenshots/` (shown in the README) are written here.

#[allow(dead_code)]
#[path = "../../examples/quickstart/shop.rs"]
mod shop;
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use retrace::replay::{ReplayReportFile, Verdict};
use retrace::{Config, Recorder, Store};
use retrace_tower::{ClientLayer, RecordLayer};
use tower::Layer;

use shop::{Shop, inventory_app, send_burst, serve, shop_app};

/// Requests the quickstart's burst sends; all are recorded here (sampling at 100%).
const REQUESTS: usize = 24;

/// A `retrace view` process, killed when dropped.
struct Viewer {
    child: Child,
    /// `http://127.0.0.1:PORT`, without the token.
    url: String,
    /// The token the printed URL carried (none with `--keys`).
    token: Option<String>,
}

impl Viewer {
    /// Starts `retrace view ARGS` in `cwd`.
    fn start(cwd: &Path, args: &[&str]) -> Self {
        Self::start_env(cwd, args, &[])
    }

    /// Starts `retrace view ARGS` in `cwd` with these environment variables.
    fn start_env(cwd: &Path, args: &[&str], env: &[(&str, String)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_retrace"))
            .current_dir(cwd)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("view")
            .args(args)
            .env_remove("RETRACE_RECORDING_PATH")
            .env("USER", "view-test")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("retrace view starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the viewer prints its URL");
        let printed = line
            .trim()
            .strip_prefix("retrace view: ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let (url, token) = match printed.split_once("/?token=") {
            Some((url, token)) => (url.to_owned(), Some(token.to_owned())),
            None => (printed.trim_end_matches('/').to_owned(), None),
        };
        Self { child, url, token }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records the quickstart's burst into `dir`, then replays it as traffic against a
/// shop whose inventory now adds 1.00 to every price, writing the report to `report`.
async fn record_and_replay(dir: &Path, report: &Path) {
    let config = Config::builder()
        .enabled(true)
        .service("shop")
        .sample_rate(1.0)
        .recording_path(dir)
        .build()
        .expect("config");
    let (recorder, guard) = Recorder::new(config).expect("recorder");
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let (inventory_url, stop_inventory) = serve(inventory_app(0.0)).await.expect("inventory");
    let shop = Shop {
        upstream: ClientLayer::new().layer(http.clone()),
        inventory: inventory_url,
    };
    let (shop_url, stop_shop) = serve(shop_app(shop).layer(RecordLayer::new(recorder.clone())))
        .await
        .expect("shop");
    send_burst(&http, &shop_url, REQUESTS)
        .await
        .expect("traffic");
    let _ = stop_shop.send(());
    let _ = stop_inventory.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.written, REQUESTS as u64, "{stats:?}");

    // The new release: same code, an inventory whose prices went up.
    let (inventory_url, stop_inventory) = serve(inventory_app(1.0)).await.expect("inventory");
    let shop = Shop {
        upstream: ClientLayer::new().layer(http.clone()),
        inventory: inventory_url,
    };
    let (target, stop_shop) = serve(shop_app(shop)).await.expect("target");
    let (dir, report) = (dir.to_path_buf(), report.to_path_buf());
    let run = tokio::task::spawn_blocking(move || {
        support::retrace_raw(&[
            "replay",
            "--path",
            dir.to_str().expect("utf-8"),
            "--target",
            &target,
            "--report",
            report.to_str().expect("utf-8"),
        ])
    })
    .await
    .expect("replay ran");
    let _ = stop_shop.send(());
    let _ = stop_inventory.send(());
    assert_eq!(
        run.code, 7,
        "the replay differs: {}\n{}",
        run.stdout, run.stderr
    );
}

async fn browser() -> Client {
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(retrace_test_services::browser::capabilities());
    builder
        .connect(retrace_test_services::browser::webdriver_url())
        .await
        .expect("a headless Chromium session")
}

async fn press(client: &Client, key: char) {
    let keys = KeyActions::new("keyboard".to_owned())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(keys).await.expect("key pressed");
}

/// Waits up to ten seconds for the browser to be at `path` under `base`.
async fn wait_for_path(client: &Client, base: &str, path: &str) {
    let wanted = format!("{base}{path}");
    for _ in 0..100 {
        if client.current_url().await.expect("url").as_str() == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the browser is at {}, not {wanted}",
        client.current_url().await.expect("url")
    );
}

async fn attr(client: &Client, css: &str, name: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .attr(name)
        .await
        .expect("attribute")
        .unwrap_or_else(|| panic!("{css} has no {name}"))
}

/// Where a screenshot goes: `docs/screenshots/` (shown in the README) when
/// `RETRACE_UPDATE_SCREENSHOTS=1`, else cargo's temporary directory for tests, so a
/// test run leaves the working tree as it was.
fn screenshot_path(name: &str) -> PathBuf {
    let dir = if std::env::var("RETRACE_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    dir.join(name)
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshot_path(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("screenshot directory");
    std::fs::write(&path, png).expect("screenshot written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_lists_draws_waterfalls_and_shows_replay_diffs_in_a_real_browser() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("recordings");
    let report_path = tmp.path().join("replay.json");
    record_and_replay(&dir, &report_path).await;
    // Every view of a recording goes to the directory's audit log when it has one.
    retrace::AuditLog::open(retrace::audit::default_path(&dir)).expect("audit log");

    let report = ReplayReportFile::read(&report_path).expect("report");
    let order = report
        .recordings
        .iter()
        .find(|e| e.route == "POST /order" && e.verdict == Verdict::Different)
        .expect("an order that differs");
    let store = Store::open(&dir).expect("store");
    let recording = store
        .get(&order.id.to_string())
        .expect("the order's recording");
    let skus: Vec<String> = recording
        .calls()
        .iter()
        .map(|c| c.call.head.uri.rsplit('/').next().expect("sku").to_owned())
        .collect();
    assert_eq!(skus.len(), 3);

    // Relative paths: the screenshots show `recordings`, not a temporary directory.
    let viewer = Viewer::start(tmp.path(), &["recordings", "--report", "replay.json"]);
    let client = browser().await;

    // The list: every recording, newest first. The printed URL signs the browser in
    // and the token leaves the address bar.
    let token = viewer.token.as_deref().expect("a token");
    client
        .goto(&format!("{}/?token={token}", viewer.url))
        .await
        .expect("list");
    assert_eq!(
        client.current_url().await.expect("url").as_str(),
        format!("{}/", viewer.url)
    );
    assert_eq!(
        attr(&client, "#count", "data-total").await,
        REQUESTS.to_string()
    );
    let rows = client.find_all(Locator::Css("tr.row")).await.expect("rows");
    assert_eq!(rows.len(), REQUESTS);
    let count_text = client
        .find(Locator::Css("#count"))
        .await
        .expect("count")
        .text()
        .await
        .expect("text");
    assert_eq!(
        count_text,
        format!("Showing 1–{REQUESTS} of {REQUESTS} recordings")
    );

    // Keyboard: j j selects the second row, Enter opens it; g goes back; / searches.
    let second = rows[1]
        .attr("data-href")
        .await
        .expect("href")
        .expect("href");
    press(&client, 'j').await;
    press(&client, 'j').await;
    assert_eq!(
        attr(&client, "tr.row.selected", "data-href").await,
        second,
        "two rows down"
    );
    press(&client, Key::Enter.into()).await;
    wait_for_path(&client, &viewer.url, &second).await;
    press(&client, 'g').await;
    client
        .wait()
        .for_element(Locator::Css("#count"))
        .await
        .expect("g went back to the list");
    press(&client, '/').await;
    let active = client.active_element().await.expect("focus");
    assert_eq!(
        active.attr("id").await.expect("id").as_deref(),
        Some("search")
    );
    active.send_keys("/quote").await.expect("typed");
    press(&client, Key::Enter.into()).await;
    client
        .wait()
        .for_element(Locator::Css("#count[data-total=\"8\"]"))
        .await
        .expect("searching /quote leaves the 8 quotes");

    // The order's recording: one bar per outgoing call, labelled with what it asked,
    // and the clock value the handler read.
    client
        .goto(&format!("{}/r/{}", viewer.url, order.id))
        .await
        .expect("recording page");
    let bars = client
        .find_all(Locator::Css("a.bar[data-kind=\"call\"]"))
        .await
        .expect("bars");
    assert_eq!(bars.len(), 3, "one bar per recorded call");
    let mut labels = Vec::new();
    for bar in &bars {
        labels.push(bar.attr("title").await.expect("title").expect("label"));
    }
    for (label, sku) in labels.iter().zip(&skus) {
        assert!(
            label.starts_with("GET http://127.0.0.1:") && label.ends_with(&format!("/stock/{sku}")),
            "{label} for {sku}"
        );
    }
    let clock = client
        .find_all(Locator::Css("a.bar[data-kind=\"clock\"]"))
        .await
        .expect("clock bars");
    assert_eq!(clock.len(), 1, "the now() the handler read");
    // Clicking a bar opens its call's detail.
    bars[1].click().await.expect("clicked");
    client
        .wait()
        .for_element(Locator::Css("details#call-1[open].highlight"))
        .await
        .expect("the second call's detail opened");
    client
        .goto(&format!("{}/r/{}", viewer.url, order.id))
        .await
        .expect("recording page again, from the top");
    save_screenshot(&client, "view-recording.png").await;

    // The replay diff: the changed JSON path, recorded and replayed side by side.
    client
        .goto(&format!("{}/replay/{}", viewer.url, order.id))
        .await
        .expect("diff page");
    let total = client
        .find(Locator::Css("tr.change[data-path=\"$.total\"]"))
        .await
        .expect("the changed total is listed");
    let text = total.text().await.expect("text");
    assert!(text.starts_with("body $.total"), "{text}");
    // The date header differs on every answer: listed, greyed, as noise.
    let mut noise = Vec::new();
    for row in client
        .find_all(Locator::Css("tr.change.noise"))
        .await
        .expect("noise listed apart")
    {
        noise.push(row.text().await.expect("text"));
    }
    assert!(
        noise.iter().any(|n| n.starts_with("header date (noise)")),
        "{noise:?}"
    );
    client
        .find(Locator::Css("#recorded"))
        .await
        .expect("recorded side");
    client
        .find(Locator::Css("#replayed"))
        .await
        .expect("replayed side");
    save_screenshot(&client, "view-replay-diff.png").await;

    // The report's list: every recording sent, orders and quotes different.
    client
        .goto(&format!("{}/replay", viewer.url))
        .await
        .expect("report");
    let summary = client
        .find(Locator::Css("#replay-summary"))
        .await
        .expect("summary")
        .text()
        .await
        .expect("text");
    let [identical, different, ..] = report.counts();
    assert!(
        summary.contains(&format!("{identical} identical, {different} different")),
        "{summary}"
    );
    assert_eq!(
        different, 16,
        "8 orders and 8 quotes cost more now: {summary}"
    );

    // The overview's charts.
    client
        .goto(&format!("{}/overview", viewer.url))
        .await
        .expect("overview");
    for chart in [
        "chart-time",
        "chart-status",
        "chart-latency",
        "chart-sizes",
        "chart-drops",
    ] {
        client
            .find(Locator::Id(chart))
            .await
            .unwrap_or_else(|e| panic!("{chart}: {e}"));
    }
    save_screenshot(&client, "view-overview.png").await;
    client.close().await.expect("session closed");

    // Each page of a recording was one audit line naming it and the viewer.
    let audit = std::fs::read_to_string(retrace::audit::default_path(&dir)).expect("audit");
    let views: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"cli.view\""))
        .collect();
    assert!(views.len() >= 4, "{audit}");
    assert!(
        views
            .iter()
            .any(|l| l.contains(&order.id.to_string()) && l.contains("cli:view-test")),
        "{audit}"
    );
}

/// `GET url` with an optional bearer key: the status and the body.
fn http_get(url: &str, key: Option<&str>) -> (u16, String) {
    let (status, _, body) = http_request(url, &bearer(key));
    (status, body)
}

/// An `Authorization: Bearer` header for `key`, if any.
fn bearer(key: Option<&str>) -> Vec<(&'static str, String)> {
    key.map(|k| ("authorization", format!("Bearer {k}")))
        .into_iter()
        .collect()
}

/// `GET url` with these headers: the status, the headers and the body.
fn http_request(url: &str, headers: &[(&str, String)]) -> (u16, http::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = http::Request::get(url);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let resp = client
            .request(req.body(Full::default()).expect("request"))
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body")
            .to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    })
}

#[test]
fn recordings_shipped_to_a_bucket_are_viewed_from_it() {
    let root = support::Root::new();
    let ids = root.record(
        "cart",
        &[
            support::Spec::new("GET", "/cart/1", 200),
            support::Spec::new("POST", "/cart/1/items", 201),
            support::Spec::new("GET", "/cart/2", 503),
        ],
    );
    let bucket = retrace_test_services::s3::fresh_bucket("view");
    let url = format!("{bucket}/prod");
    let env = retrace_test_services::s3::env();
    let env_pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let shipped = root.retrace_env(&["ship", "--to", &url], &env_pairs);
    assert_eq!(shipped.code, 0, "{shipped:?}");
    let cache = tempfile::tempdir().expect("cache");
    let mut env = env;
    env.push(("RETRACE_CACHE_DIR", cache.path().display().to_string()));
    let viewer = Viewer::start_env(cache.path(), &[&url], &env);
    let token = viewer.token.as_deref();
    let (status, body) = http_get(&format!("{}/", viewer.url), token);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-total="3""#), "{body}");
    let (status, body) = http_get(&format!("{}/?status=5xx", viewer.url), token);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-total="1""#), "{body}");
    assert!(body.contains("/cart/2"), "{body}");
    // A recording's page fetches its segment from the bucket.
    let (status, body) = http_get(&format!("{}/r/{}", viewer.url, ids[1]), token);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&ids[1]), "{body}");
    assert!(body.contains("POST /cart/1/items"), "{body}");
}

#[test]
fn serving_beyond_loopback_needs_allow_remote_and_keys() {
    let root = support::Root::new();
    let path = root.path().to_str().expect("utf-8");
    let run = support::retrace_raw(&["view", path, "--bind", "0.0.0.0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("--bind 0.0.0.0: not a loopback address; recordings hold production traffic"),
        "{}",
        run.stderr
    );
    let run = support::retrace_raw(&["view", path, "--bind", "0.0.0.0", "--allow-remote"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--allow-remote needs --keys FILE"),
        "{}",
        run.stderr
    );
    let run = support::retrace_raw(&["view", path, "--report", "/nonexistent/replay.json"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("--report: replay report /nonexistent/replay.json: "),
        "{}",
        run.stderr
    );
}

#[test]
fn on_loopback_pages_need_the_printed_token_which_a_browser_trades_for_a_cookie() {
    let root = support::Root::new();
    root.record("cart", &[support::Spec::new("GET", "/cart/1", 200)]);
    let viewer = Viewer::start(root.path(), &[root.path().to_str().expect("utf-8")]);
    let token = viewer
        .token
        .clone()
        .expect("the printed URL carries a token");
    assert_eq!(token.len(), 64, "{token}");
    let get = |path: &str, token: Option<&str>| {
        http_request(&format!("{}{path}", viewer.url), &bearer(token))
    };

    // Another local user reaches the port but not the recordings.
    let (status, headers, body) = get("/", None);
    assert_eq!(status, 401, "{body}");
    assert!(
        body.starts_with("the token `retrace view` printed is needed"),
        "{body}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff", "refusals too");
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, body) = get("/?token=guess", None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body, "not this viewer's token");

    // The printed URL signs in: a session cookie, and the token leaves the address.
    let (status, headers, _) = get(&format!("/?status=2xx&token={token}"), None);
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/?status=2xx");
    let cookie = headers["set-cookie"].to_str().expect("ascii");
    let port = viewer.url.rsplit(':').next().expect("port");
    assert!(
        cookie.starts_with(&format!("retrace_view_{port}=")),
        "{cookie}"
    );
    assert!(!cookie.contains(&token), "{cookie}");
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let (status, _, body) = http_request(&format!("{}/", viewer.url), &[("cookie", session)]);
    assert_eq!(
        status, 200,
        "the session cookie lets the browser in: {body}"
    );

    let (status, _, body) = get("/", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-total="1""#), "{body}");

    // A page reached through a rebound DNS name is refused before any key is looked at.
    let (status, _, body) = http_request(
        &format!("{}/", viewer.url),
        &[("host", "evil.example".to_owned())],
    );
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("not Host \"evil.example\""), "{body}");
    assert!(
        !body.contains(root.path().to_str().expect("utf-8")),
        "{body}"
    );
}

#[test]
fn with_keys_pages_need_a_key_and_unknown_ids_name_themselves() {
    let root = support::Root::new();
    let keys_file = root.path().join("view-keys");
    let key = retrace_tower::admin::ApiKeys::generate();
    std::fs::write(
        &keys_file,
        retrace_tower::admin::ApiKeys::file_line("oncall", retrace_tower::admin::Scope::Read, &key),
    )
    .expect("keys file");
    let viewer = Viewer::start(
        root.path(),
        &[
            root.path().to_str().expect("utf-8"),
            "--keys",
            keys_file.to_str().expect("utf-8"),
        ],
    );
    let get = |path: &str, auth: Option<&str>| http_get(&format!("{}{path}", viewer.url), auth);
    let (status, body) = get("/", None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("an API key is needed"), "{body}");
    let (status, _) = get("/", Some("rtk_wrong"));
    assert_eq!(status, 401);
    let (status, body) = get("/", Some(&key));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("No recordings in this directory yet."),
        "{body}"
    );
    let (status, body) = get("/r/01ZZZZ", Some(&key));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("01ZZZZ"), "{body}");
    let (status, _) = get("/assets/view.css", None);
    assert_eq!(status, 200, "assets need no key");
    // Nothing is served by file name: paths out of the directory are pages not found.
    for path in [
        "/r/..%2f..%2fCargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/view-keys",
    ] {
        let (status, body) = get(path, Some(&key));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("blake3:"), "{path}: the keys file leaked");
    }
}
