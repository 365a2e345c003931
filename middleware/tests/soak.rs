//! Soak: many concurrent clients against a recorded axum service at 100% recording
//! through a small channel, for a bounded time (`RETRACE_SOAK_SECS`, default 10; set it
//! higher for a long run). At the end: exact accounting (requests served == written +
//! dropped by reason + declined + sampled out), every written recording reads back with
//! the body the client got and sound checksums, RSS stayed bounded, no file descriptor
//! leaked, and no secret from the default redaction list reached disk.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::routing::get;
use bytes::Bytes;
use retrace::store::{check_segment, segment_files};
use retrace::{DropReason, Store};
use retrace_tower::RecordLayer;
use retrace_tower::record::RECORDING_ID_HEADER;
use support::*;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn body_for(n: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"n\":{n},\"pad\":\"{}\"}}",
        "x".repeat((n % 700) as usize)
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_many_clients_small_channel_exact_accounting_no_leaks_no_secrets() {
    let secs: u64 = std::env::var("RETRACE_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    const CLIENTS: usize = 32;
    let fds_before = open_fds();
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(
        config(dir.path())
            .sample_rate(1.0)
            .channel_capacity(16)
            .segment_max_bytes(256 * 1024),
    );
    let layer = RecordLayer::builder(rec.clone())
        .echo_recording_id(true)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/items/{n}",
            get(|UrlPath(n): UrlPath<u64>| async move {
                (
                    [
                        ("content-type", "application/json"),
                        ("set-cookie", "sid=setcookie-SECRET-77; HttpOnly"),
                    ],
                    body_for(n),
                )
            }),
        )
        .layer(layer);
    let server = Arc::new(serve(app).await);
    let served: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let rss_warm = Arc::new(Mutex::new(None::<u64>));
    let rss_peak = Arc::new(Mutex::new(0u64));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (server, served) = (Arc::clone(&server), Arc::clone(&served));
            let (rss_warm, rss_peak) = (Arc::clone(&rss_warm), Arc::clone(&rss_peak));
            tokio::spawn(async move {
                let http = client();
                let mut n = c as u64;
                let mut count = 0u64;
                while Instant::now() < deadline {
                    let req = get_req(&server.url(&format!("/items/{n}")))
                        .header("authorization", format!("Bearer auth-SECRET-{c}"))
                        .header("cookie", format!("session=cookie-SECRET-{c}"))
                        .header("x-api-key", format!("apikey-SECRET-{c}"))
                        .header("proxy-authorization", "Basic proxy-SECRET")
                        .body(empty())
                        .unwrap();
                    let answer = send(&http, req).await;
                    assert_eq!(answer.status, 200);
                    assert_eq!(answer.body, body_for(n));
                    let id = answer.headers[RECORDING_ID_HEADER]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    served.lock().unwrap().insert(id, n);
                    n += CLIENTS as u64;
                    count += 1;
                    if c == 0 && count.is_multiple_of(200) {
                        let rss = rss_kib();
                        rss_warm.lock().unwrap().get_or_insert(rss);
                        let mut peak = rss_peak.lock().unwrap();
                        *peak = (*peak).max(rss);
                    }
                }
                count
            })
        })
        .collect();
    let mut requests = 0u64;
    for c in clients {
        requests += c.await.unwrap();
    }
    drop(server);
    let stats = guard.shutdown().unwrap();
    let served = Arc::try_unwrap(served).unwrap().into_inner().unwrap();
    assert_eq!(served.len() as u64, requests, "recording ids are unique");

    // Exact accounting. At 100% nothing is sampled out; a request the layer could not
    // start a recording for would be counted as declined.
    let declined: u64 = stats.declined.iter().map(|(_, n)| n).sum();
    assert_eq!(requests, stats.started + declined, "{stats:?}");
    assert_eq!(
        stats.started,
        stats.written + stats.dropped_total() + stats.discarded,
        "{stats:?}"
    );
    for (reason, _) in &stats.dropped {
        assert!(
            matches!(reason, DropReason::ChannelFull | DropReason::ByteBudget),
            "unexpected loss {reason}: {stats:?}"
        );
    }
    assert!(stats.written > 0);

    // Every written recording reads back with the body the client got; every segment's
    // checksums and index hold.
    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    assert_eq!(listing.recordings.len() as u64, stats.written);
    for info in &listing.recordings {
        let recording = store.load(info).unwrap();
        let id = recording.id.to_string();
        assert_eq!(recording.response_body(), body_for(served[&id]), "{id}");
        assert!(info.summary.complete(), "{id}");
    }
    for session in store.sessions() {
        for seg in segment_files(&session.dir).unwrap() {
            let check = check_segment(&seg);
            assert!(check.problems.is_empty(), "{:?}", check.problems);
        }
    }

    // Memory: the peak after warm-up stays within a bound that a leak of the
    // recordings (thousands of requests a second) would pass quickly.
    let warm = rss_warm.lock().unwrap().unwrap_or(0);
    let peak = *rss_peak.lock().unwrap();
    assert!(
        peak < warm + 128 * 1024,
        "RSS grew from {warm} KiB to {peak} KiB"
    );

    // No secret from the default redaction list reached disk.
    let everything = decompressed_store(dir.path());
    for secret in [
        "auth-SECRET",
        "cookie-SECRET",
        "apikey-SECRET",
        "proxy-SECRET",
        "setcookie-SECRET",
    ] {
        assert!(
            !contains(&everything, secret.as_bytes()),
            "{secret} on disk"
        );
    }
    for kept in ["authorization", "x-api-key", "/items/"] {
        assert!(contains(&everything, kept.as_bytes()), "{kept} missing");
    }

    // No descriptor leaked: the server, its connections, the clients' pools and the
    // writer's files are all closed.
    drop(store);
    drop(dir);
    let mut fds_after = open_fds();
    for _ in 0..50 {
        if fds_after <= fds_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        fds_after = open_fds();
    }
    assert!(
        fds_after <= fds_before,
        "file descriptors: {fds_before} before, {fds_after} after"
    );
    eprintln!(
        "soak: {requests} requests in {secs} s, {} written, {} dropped, RSS {warm} -> {peak} KiB",
        stats.written,
        stats.dropped_total()
    );
}
