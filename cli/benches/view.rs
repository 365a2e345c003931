//! `retrace view` over 100,000 recordings (issue 21: "100k recordings page in under a
//! second from the segment indexes").
//!
//! The recording root is written by the real recorder, as `ship.rs` writes its roots:
//! 100,000 realistic requests (head, ~1 KiB request body of random tokens, zero to three
//! outgoing calls, response head, ~1 KiB response body), the writer flushed every 20
//! recordings. Routes and statuses are mixed (orders, users, products, cart, checkout,
//! health; 2xx, 404, 500, 503) so that filters select part of the listing. Two layouts
//! of the same recordings:
//!
//! - `pods4-seg64m`: four sessions (four pods, one after the other) of 25,000, the
//!   default segment size (64 MiB): one segment and one index a session;
//! - `pods40-seg1m`: forty sessions of 2,500, segments closed at 1 MiB: many more
//!   index files to read for the same recordings.
//!
//! For each, the `retrace` binary (built with the bench profile), `retrace view ROOT`,
//! is started on a free loopback port and asked over plain HTTP/1.1 (std `TcpStream`,
//! one connection a request, `Connection: close`):
//!
//! 1. Start, [`STARTS`] times: the time from spawning the viewer to its URL line on
//!    stdout (it lists every recording before it binds), and to the first page `/`
//!    answered 200.
//! 2. Warm pages, on the last viewer started: `/`, `/?page=1000`, `/?sort=duration&order=asc`,
//!    `/?status=5xx&search=orders`, `/overview` and `/r/{id}` (a different recording a
//!    round, spread over the root), one each per round, [`WARM_ROUNDS`] rounds. The
//!    viewer lists the directory again on the first request after its listing is 5 s
//!    old, so warm rounds run only in the first [`WARM_WINDOW`] after a listing.
//! 3. Re-listing: the bench sleeps [`EXPIRE_SLEEP`] so the listing has expired, then
//!    times `/`: what the first page view after expiry pays. [`RELISTS`] times after
//!    the warm rounds, and before each window of warm rounds after the first.
//!
//! Run: `cargo bench -p retrace-cli --bench view`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Noise, body, header};
use retrace::{
    BodyChunk, BodyEnd, CallOutcome, Config, Event, OutboundCall, OutboundResult, Outcome,
    RecordReason, Recorder, RecordingHandle, RequestHead, ResponseHead, StartOptions, WholeBody,
};

/// Recordings in the root.
const RECORDINGS: usize = 100_000;
/// Bytes of each of the two bodies of a recording.
const BODY_BYTES: usize = 1_024;
/// Recordings handed to the writer between two flushes (as in `ship.rs`).
const FLUSH_EVERY: usize = 20;
/// Viewer starts timed (to the URL line and the first page).
const STARTS: usize = 5;
/// Rounds of warm page views (each page once a round).
const WARM_ROUNDS: usize = 20;
/// Warm rounds start only this long after a listing (the viewer's lasts 5 s).
const WARM_WINDOW: Duration = Duration::from_millis(3_500);
/// Longer than the viewer's listing lasts.
const EXPIRE_SLEEP: Duration = Duration::from_millis(5_500);
/// Re-listing samples taken after the warm rounds (more if the warm rounds needed
/// windows of their own).
const RELISTS: usize = 5;
/// At most this many sleeps for an expired listing during the warm rounds.
const MAX_EXPIRIES: usize = 12;
/// How long the viewer may take to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Issue 21's goal for a page, the listing included.
const PAGE_GOAL: Duration = Duration::from_secs(1);

/// What recording `i` is: method, target, status, outgoing calls, and whether it has
/// bodies. About 6% answer 5xx, 5% 404; two thirds of the 5xx are on `/orders`.
struct Route {
    method: &'static str,
    uri: String,
    status: u16,
    calls: usize,
    bodies: bool,
}

fn route(i: usize) -> Route {
    let calls = i % 4;
    let (method, uri, status, bodies) = match i % 20 {
        0..=7 => (
            "GET",
            format!("/orders/{i}?expand=items"),
            if i.is_multiple_of(25) { 500 } else { 200 },
            true,
        ),
        8 | 9 => (
            "POST",
            "/orders".to_owned(),
            if i % 30 == 9 { 503 } else { 201 },
            true,
        ),
        10..=12 => ("GET", format!("/users/{}/profile", i % 5_000), 200, true),
        13 | 14 => (
            "GET",
            format!("/products?q=item{}&page={}", i % 97, i % 7 + 1),
            200,
            true,
        ),
        15 => ("GET", format!("/cart/{i}"), 404, true),
        16 | 17 => (
            "POST",
            "/checkout".to_owned(),
            if i % 8 == 1 { 500 } else { 200 },
            true,
        ),
        _ => ("GET", "/health".to_owned(), 200, false),
    };
    Route {
        method,
        uri,
        status,
        calls: if bodies { calls } else { 0 },
        bodies,
    }
}

/// The events of one request: head, body, its outgoing calls, response.
fn request_events(
    handle: &RecordingHandle,
    noise: &mut Noise,
    i: usize,
    route: &Route,
) -> Vec<Event> {
    let end = |at_us, len: usize| BodyEnd {
        at_us,
        total_len: len as u64,
        captured_len: len as u64,
        finished: true,
        ..BodyEnd::default()
    };
    let mut events = vec![Event::Request(RequestHead {
        method: route.method.into(),
        uri: route.uri.clone(),
        version: "HTTP/1.1".into(),
        headers: vec![
            header("host", "shop.local".to_owned()),
            header("content-type", "application/json".to_owned()),
            header("x-request-id", noise.token(24)),
        ],
    })];
    if route.bodies {
        let req_body = body(noise, i, BODY_BYTES);
        let len = req_body.len();
        events.push(Event::RequestBody(BodyChunk {
            at_us: 10,
            data: req_body,
        }));
        events.push(Event::RequestEnd(end(11, len)));
    } else {
        events.push(Event::RequestEnd(end(11, 0)));
    }
    for c in 0..route.calls {
        let call_id = handle.next_seq();
        let at_us = 20 + 400 * c as u64;
        events.push(Event::Call(Box::new(OutboundCall {
            call_id,
            target: "inventory.local:8080".to_owned(),
            at_us,
            head: RequestHead {
                method: "GET".into(),
                uri: format!("http://inventory.local:8080/stock/{i}/{c}"),
                version: "HTTP/1.1".into(),
                headers: vec![header("accept", "application/json".to_owned())],
            },
            body: WholeBody::default(),
        })));
        events.push(Event::CallResult(Box::new(OutboundResult {
            call_id,
            duration_us: 300,
            outcome: CallOutcome::Response {
                head: ResponseHead {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: vec![header("content-type", "application/json".to_owned())],
                },
                body: WholeBody {
                    data: Bytes::from(format!("{{\"sku\":{i},\"available\":{}}}", i % 13)),
                    end: BodyEnd::default(),
                },
            },
        })));
    }
    let resp_body = if route.bodies {
        body(noise, i + 1, BODY_BYTES)
    } else {
        Bytes::from_static(b"ok")
    };
    let len = resp_body.len();
    events.push(Event::Response(ResponseHead {
        status: route.status,
        version: "HTTP/1.1".into(),
        headers: vec![
            header("content-type", "application/json".to_owned()),
            header("content-length", len.to_string()),
        ],
    }));
    events.push(Event::ResponseBody(BodyChunk {
        at_us: 2_000,
        data: resp_body,
    }));
    events.push(Event::ResponseEnd(end(2_001, len)));
    events
}

/// What was recorded: the ids of a few recordings spread over the root, and how many
/// answered 5xx on a target containing `orders`.
struct Recorded {
    ids: Vec<String>,
    orders_5xx: usize,
}

/// How a root's [`RECORDINGS`] are spread over sessions and segments.
struct Layout {
    name: &'static str,
    /// Sessions (pods), one after the other.
    sessions: usize,
    /// Where segments are closed; `None` for the default (64 MiB).
    segment_max_bytes: Option<u64>,
}

/// Records `layout.sessions` sessions of an equal share of [`RECORDINGS`] into `root`,
/// each session's recorder shut down at its end (which closes its last segment).
fn record_root(root: &Path, layout: &Layout) -> Recorded {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let per_session = RECORDINGS / layout.sessions;
    assert_eq!(per_session * layout.sessions, RECORDINGS);
    let id_every = RECORDINGS / WARM_ROUNDS;
    let mut recorded = Recorded {
        ids: Vec::new(),
        orders_5xx: 0,
    };
    for session in 0..layout.sessions {
        let mut config = Config::builder()
            .enabled(true)
            .service("bench-svc")
            .recording_path(root);
        if let Some(bytes) = layout.segment_max_bytes {
            config = config.segment_max_bytes(bytes);
        }
        let config = config.build().expect("valid config");
        let (recorder, guard) = Recorder::new(config).expect("recorder starts");
        for n in 0..per_session {
            let i = session * per_session + n;
            let route = route(i);
            let handle = recorder
                .start(StartOptions::new(RecordReason::Sampled))
                .expect("recording starts");
            if i % id_every == id_every / 2 {
                recorded.ids.push(handle.id().to_string());
            }
            if route.status >= 500 && route.uri.contains("orders") {
                recorded.orders_5xx += 1;
            }
            for event in request_events(&handle, &mut noise, i, &route) {
                handle.record(event);
            }
            handle.finish(Some(route.status), Outcome::Completed);
            if (n + 1) % FLUSH_EVERY == 0 {
                recorder
                    .flush(Duration::from_secs(10))
                    .expect("writer flushes");
            }
        }
        let stats = guard.shutdown().expect("writer shuts down");
        assert_eq!(stats.written, per_session as u64, "every recording written");
        assert_eq!(stats.dropped_total(), 0, "no recording dropped");
    }
    recorded
}

/// Files and bytes under `root`, and how many of the files are segment indexes.
fn disk_usage(root: &Path) -> (usize, usize, u64) {
    let (mut files, mut indexes, mut bytes) = (0, 0, 0);
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files += 1;
                bytes += entry.metadata().expect("metadata").len();
                if path
                    .extension()
                    .is_some_and(|e| e == retrace::segment::INDEX_EXT)
                {
                    indexes += 1;
                }
            }
        }
    }
    (files, indexes, bytes)
}

/// The viewer's process, killed when dropped (a failed assertion included).
struct Viewer(Child);

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `retrace view root` on a free loopback port: the process, its address
/// (`127.0.0.1:PORT`), and the time from spawning it to its URL line.
fn start_viewer(root: &Path) -> (Viewer, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_retrace"))
        .arg("view")
        .arg(root)
        .args(["--bind", "127.0.0.1"])
        .env_remove("RETRACE_RECORDING_PATH")
        .env_remove("RETRACE_VIEW_KEYS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start retrace view");
    let stdout = child.stdout.take().expect("stdout piped");
    let stderr = child.stderr.take().expect("stderr piped");
    // Its warnings and errors shown, not the line every start prints.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !line.starts_with("serving ") {
                eprintln!("retrace view: {line}");
            }
        }
    });
    let viewer = Viewer(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send((line, Instant::now()));
        }
        // Drained to the end, so the viewer never blocks on a full pipe.
        for _ in lines {}
    });
    let (line, at) = rx
        .recv_timeout(START_TIMEOUT)
        .expect("retrace view prints its URL");
    let addr = line
        .strip_prefix("retrace view: http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "loopback only: {addr}");
    (viewer, addr, at - started)
}

/// `GET path` on a fresh connection: status, body, and the time from connecting to the
/// last byte of the body.
fn get(addr: &str, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect to the viewer");
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{path}: no response head"));
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{path}: bad status line"));
    if let Some(len) = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    }) {
        assert_eq!(len, body.len(), "{path}: whole body read");
    }
    (status, body.to_owned(), took)
}

/// `GET path`, which must answer 200: its body and time.
fn get_ok(addr: &str, path: &str) -> (String, Duration) {
    let (status, body, took) = get(addr, path);
    assert_eq!(status, 200, "{path}: {}", &body[..body.len().min(500)]);
    (body, took)
}

/// The `data-total` of a recordings page: how many recordings its filters select.
fn total(page: &str) -> usize {
    page.split_once("data-total=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the page says how many recordings it selects")
}

/// Median, min and max, in milliseconds.
fn spread(xs: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = xs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0], ms[ms.len() - 1])
}

fn row(what: &str, xs: &[Duration]) -> f64 {
    let (median, min, max) = spread(xs);
    println!(
        "| {what} | {median:.1} ms | {min:.1}–{max:.1} | {} |",
        xs.len()
    );
    median
}

/// Records `layout` into a fresh root, starts the viewer on it [`STARTS`] times, then
/// times warm pages and re-listings on the last; prints the table.
fn bench(layout: &Layout) {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("recording root");
    let recorded = record_root(root.path(), layout);
    let (files, indexes, bytes) = disk_usage(root.path());
    println!(
        "{}: recorded {RECORDINGS} recordings in {} sessions: {files} files \
         ({indexes} segment indexes), {:.1} MiB, in {:.1} s",
        layout.name,
        layout.sessions,
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let mut to_url = Vec::new();
    let mut to_first_page = Vec::new();
    let mut running = None;
    for _ in 0..STARTS {
        // The previous viewer is killed before the next starts.
        drop(running.take());
        let (viewer, addr, took) = start_viewer(root.path());
        let (first, first_request) = get_ok(&addr, "/");
        assert_eq!(
            total(&first),
            RECORDINGS,
            "the viewer lists every recording"
        );
        to_url.push(took);
        to_first_page.push(took + first_request);
        // The listing's 5 s run from the end of the initial one, before the URL line.
        running = Some((viewer, addr, Instant::now() - first_request));
    }
    let (viewer, addr, mut window) = running.expect("a viewer runs");

    let pages: Vec<(&str, String)> = vec![
        ("`/`", "/".to_owned()),
        ("`/?page=1000`", "/?page=1000".to_owned()),
        (
            "`/?sort=duration&order=asc`",
            "/?sort=duration&order=asc".to_owned(),
        ),
        (
            "`/?status=5xx&search=orders`",
            "/?status=5xx&search=orders".to_owned(),
        ),
        ("`/overview`", "/overview".to_owned()),
    ];
    let mut warm: Vec<Vec<Duration>> = vec![Vec::new(); pages.len() + 1];
    let mut relist = Vec::new();
    let mut selected = 0;
    let mut round_took = Duration::ZERO;
    let mut round = 0;
    while round < WARM_ROUNDS {
        if window.elapsed() + round_took > WARM_WINDOW {
            if relist.len() == MAX_EXPIRIES {
                println!("stopped after {round} warm rounds: {MAX_EXPIRIES} expiries");
                break;
            }
            std::thread::sleep(EXPIRE_SLEEP);
            let (page, took) = get_ok(&addr, "/");
            assert_eq!(total(&page), RECORDINGS, "listed again in full");
            relist.push(took);
            window = Instant::now();
            continue;
        }
        let round_started = Instant::now();
        for (n, (_, path)) in pages.iter().enumerate() {
            let (page, took) = get_ok(&addr, path);
            if path.contains("status=") {
                selected = total(&page);
            }
            warm[n].push(took);
        }
        let id = &recorded.ids[round % recorded.ids.len()];
        let (page, took) = get_ok(&addr, &format!("/r/{id}"));
        assert!(page.contains(id.as_str()), "the recording's page names it");
        warm[pages.len()].push(took);
        round_took = round_started.elapsed();
        round += 1;
    }
    while relist.len() < RELISTS {
        std::thread::sleep(EXPIRE_SLEEP);
        let (page, took) = get_ok(&addr, "/");
        assert_eq!(total(&page), RECORDINGS, "listed again in full");
        relist.push(took);
    }
    drop(viewer);

    println!();
    println!(
        "{}: `retrace view` over {RECORDINGS} recordings; `{}` selects {selected} \
         ({} recorded as 5xx on an `orders` target):",
        layout.name, pages[3].1, recorded.orders_5xx
    );
    println!();
    println!("| measure | median | min–max (ms) | samples |");
    println!("|---|---|---|---|");
    row(
        "start: spawn to the URL line (the initial listing)",
        &to_url,
    );
    let mut worst = row("start: spawn to the first `/` answered 200", &to_first_page);
    for (n, (name, _)) in pages.iter().enumerate() {
        worst = worst.max(row(&format!("warm {name}"), &warm[n]));
    }
    worst = worst.max(row(
        "warm `/r/{id}` (a different id each round)",
        &warm[pages.len()],
    ));
    worst = worst.max(row(
        "`/` after the listing expired (served while it re-lists)",
        &relist,
    ));
    assert_eq!(
        selected, recorded.orders_5xx,
        "the filter selects what it should"
    );
    println!();
    println!(
        "{}: goal of issue 21, every page under {} s, the listing included: {} (slowest \
         median {worst:.1} ms)",
        layout.name,
        PAGE_GOAL.as_secs(),
        if worst < PAGE_GOAL.as_secs_f64() * 1e3 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!();
}

fn main() {
    // The arguments `cargo bench` passes (`--bench`, a filter) choose nothing here.
    let started = Instant::now();
    let layouts = [
        Layout {
            name: "pods4-seg64m",
            sessions: 4,
            segment_max_bytes: None,
        },
        Layout {
            name: "pods40-seg1m",
            sessions: 40,
            segment_max_bytes: Some(1 << 20),
        },
    ];
    for layout in &layouts {
        bench(layout);
    }
    println!("total bench time {:.0} s", started.elapsed().as_secs_f64());
}
