//! Crash under load: a real server process (this test binary, re-invoked) records HTTP
//! traffic from four client threads and is killed with SIGKILL mid-load. A new start
//! begins a new session; the reader and the real `retrace verify` recover every
//! recording that had been flushed, and a torn tail in the killed session's last
//! segment is reported by file and offset (and tolerated with `--allow-torn-tail`).

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use retrace::store::segment_files;
use retrace::{Config, Problem, Recorder, Store};
use support::Root;

const CHILD_DIR: &str = "RETRACE_TEST_SERVER_CHILD_DIR";
const CHILD_FLUSH: &str = "RETRACE_TEST_SERVER_CHILD_FLUSH";

/// The server half: runs in the child process the test starts (this same test binary,
/// told apart by the environment variable), until it is killed.
fn serve_until_killed(dir: &str) {
    let flush = match std::env::var(CHILD_FLUSH).ok().as_deref() {
        Some("200ms") => retrace::FlushPolicy::Interval(Duration::from_millis(200)),
        _ => retrace::FlushPolicy::EveryBatch,
    };
    let config = Config::builder()
        .enabled(true)
        .service("crashy")
        .recording_path(dir)
        .sample_rate(1.0)
        .channel_capacity(8192)
        .segment_max_bytes(64 * 1024)
        .flush(flush)
        .build()
        .unwrap();
    let (rec, _guard) = Recorder::new(config).unwrap();
    let layer = retrace_tower::RecordLayer::builder(rec.clone())
        .echo_recording_id(true)
        .build()
        .unwrap();
    let flusher = rec.clone();
    let app = axum::Router::new()
        .route(
            "/work/{n}",
            axum::routing::get(
                |axum::extract::Path(n): axum::extract::Path<u64>| async move {
                    format!(
                        "{{\"n\":{n},\"pad\":\"{}\"}}",
                        "p".repeat((n % 300) as usize)
                    )
                },
            ),
        )
        .route(
            "/flush",
            axum::routing::get(move || {
                let rec = flusher.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        rec.flush(Duration::from_secs(10)).unwrap();
                        format!("dropped {}", rec.stats().dropped_total())
                    })
                    .await
                    .unwrap()
                }
            }),
        )
        .layer(layer);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening {}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        // Stops by itself if the parent never kills it.
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            axum::serve(listener, app).into_future(),
        )
        .await;
    });
}

fn start_server(dir: &std::path::Path) -> (Child, SocketAddr) {
    start_server_as(
        dir,
        "sigkill_under_http_load_loses_nothing_flushed",
        "batch",
    )
}

/// Starts the server half by re-running `test` (which must hand over to
/// [`serve_until_killed`]) with the given flush mode.
fn start_server_as(dir: &std::path::Path, test: &str, flush: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_FLUSH, flush)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server starts").unwrap();
        // The harness prints "test crash_server_child ... " on the same line.
        if let Some((_, a)) = line.split_once("listening ") {
            break a.trim().parse().unwrap();
        }
    };
    (child, addr)
}

/// One HTTP/1.1 GET on its own connection: (status, recording id, body).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, Option<String>, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.get(9..12)?.parse().ok()?;
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-retrace-recording-id: "))
        .map(str::to_owned);
    Some((status, id, body.to_owned()))
}

#[test]
fn sigkill_under_http_load_loses_nothing_flushed() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        return serve_until_killed(&dir);
    }
    let root = Root::new();
    let (mut child, addr) = start_server(root.path());
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (answered, stop) = (Arc::clone(&answered), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = c;
                while !stop.load(Ordering::Relaxed) {
                    // Once the server is killed, requests fail: the client stops.
                    let Some((status, id, _)) = get(addr, &format!("/work/{n}")) else {
                        return;
                    };
                    assert_eq!(status, 200);
                    answered.lock().unwrap().push(id.expect("recorded"));
                    n += 4;
                }
            })
        })
        .collect();
    // Under load, a flush: every recording answered before it is then on disk.
    while answered.lock().unwrap().len() < 400 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let flushed: Vec<String> = answered.lock().unwrap().clone();
    let (status, _, body) = get(addr, "/flush").unwrap();
    assert_eq!((status, body.as_str()), (200, "dropped 0"));
    // More load, then SIGKILL in the middle of it.
    let more = flushed.len() + 300;
    while answered.lock().unwrap().len() < more {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    // A new start is a new session; the killed one is marked as not closed.
    let (mut second, addr2) = start_server(root.path());
    assert_eq!(get(addr2, "/work/1").unwrap().0, 200);
    assert_eq!(get(addr2, "/flush").unwrap().2, "dropped 0");
    second.kill().unwrap();
    second.wait().unwrap();
    let store = Store::open(root.path()).unwrap();
    assert_eq!(store.sessions().len(), 2);
    assert!(
        store
            .sessions()
            .iter()
            .all(|s| !s.metadata.as_ref().unwrap().closed_cleanly)
    );
    let listing = store.list();
    assert!(
        listing
            .problems
            .iter()
            .all(|p| matches!(p, Problem::TornTail { .. })),
        "{:?}",
        listing.problems
    );
    let listed: HashSet<String> = listing
        .recordings
        .iter()
        .map(|r| r.summary.id.to_string())
        .collect();
    for id in &flushed {
        assert!(listed.contains(id), "flushed recording {id} lost");
    }
    for info in &listing.recordings {
        assert!(store.load(info).unwrap().response().is_some());
    }

    // `retrace verify` reads every byte and agrees: sound, or torn tails only.
    let run = root.retrace(&["verify", "--allow-torn-tail"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("in 2 sessions"), "{}", run.stdout);

    // Tear the killed session's unclosed segment the way a kill in the middle of a
    // write would, and check the report names the file and the offset.
    let killed = store
        .sessions()
        .iter()
        .find(|s| s.metadata.as_ref().unwrap().pid == child.id())
        .unwrap();
    // The newest segment with frames in it: a kill can also fall between creating a
    // segment file and writing its header, leaving it empty (readers tolerate that).
    let last = segment_files(&killed.dir)
        .unwrap()
        .into_iter()
        .rev()
        .find(|p| std::fs::metadata(p).unwrap().len() > retrace::segment::HEADER_LEN as u64 + 30)
        .expect("a segment with frames");
    // The kill can fall just after a segment closed and before the next one was
    // opened (segments open on the next write): its index is then there. Without it the
    // segment is what a kill between closing and indexing leaves: unclosed.
    let _ = std::fs::remove_file(last.with_extension("rtidx"));
    let mut data = std::fs::read(&last).unwrap();
    let good = data.len();
    let half = data[retrace::segment::HEADER_LEN..retrace::segment::HEADER_LEN + 30].to_vec();
    data.extend_from_slice(&half);
    std::fs::write(&last, &data).unwrap();
    let run = root.retrace(&["verify"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let line = format!("torn tail at offset {good}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains(&line) && l.contains(&*last.to_string_lossy())),
        "{}",
        run.stdout
    );
    let run = root.retrace(&["verify", "--allow-torn-tail"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("tolerated:"), "{}", run.stdout);
    // The reader still returns every flushed recording.
    let listed: HashSet<String> = Store::open(root.path())
        .unwrap()
        .list()
        .recordings
        .iter()
        .map(|r| r.summary.id.to_string())
        .collect();
    assert!(flushed.iter().all(|id| listed.contains(id)));
}

/// The crash bound: requests acknowledged one after another, each with its sequence
/// number, then SIGKILL right after an acknowledgement. What is on disk afterwards is
/// every acknowledged recording but a tail: no hole before it, and the tail covers at
/// most the last moments before the kill (a writer batch with `batch` flushing, the
/// interval with `200ms`). The figures it prints are the ones the README quotes.
#[test]
fn a_kill_loses_only_the_most_recent_recordings() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        return serve_until_killed(&dir);
    }
    for (flush, window) in [
        ("batch", Duration::from_millis(500)),
        ("200ms", Duration::from_millis(900)),
    ] {
        let root = Root::new();
        let (mut child, addr) = start_server_as(
            root.path(),
            "a_kill_loses_only_the_most_recent_recordings",
            flush,
        );
        let mut acked: Vec<(String, std::time::Instant)> = Vec::new();
        let started = std::time::Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_millis(1500) && n < 20_000 {
            let (status, id, _) = get(addr, &format!("/work/{n}")).expect("the server answers");
            assert_eq!(status, 200);
            acked.push((id.expect("recorded"), std::time::Instant::now()));
            n += 1;
        }
        child.kill().unwrap();
        let killed = std::time::Instant::now();
        child.wait().unwrap();

        let listed: HashSet<String> = Store::open(root.path())
            .unwrap()
            .list()
            .recordings
            .iter()
            .map(|r| r.summary.id.to_string())
            .collect();
        let first_lost = acked.iter().position(|(id, _)| !listed.contains(id));
        let lost = first_lost.map_or(0, |i| acked.len() - i);
        if let Some(i) = first_lost {
            // No hole: everything after the first lost recording is lost too.
            let after: Vec<&String> = acked[i..]
                .iter()
                .map(|(id, _)| id)
                .filter(|id| listed.contains(*id))
                .collect();
            assert!(
                after.is_empty(),
                "{flush}: recordings after a lost one survived: {after:?}"
            );
        }
        let tail = first_lost.map_or(Duration::ZERO, |i| killed - acked[i].1);
        eprintln!(
            "flush {flush}: {} acknowledged, {lost} lost, the lost ones acknowledged within {tail:?} before the kill",
            acked.len()
        );
        assert!(
            tail <= window,
            "{flush}: lost recordings acknowledged {tail:?} before the kill"
        );
    }
}
