//! Hostile requests against the real record layer on a real axum server: enormous
//! headers, thousands of headers, invalid UTF-8 in header values and paths, wrong
//! trigger tokens and forged parent headers. Each is answered (or refused by hyper) and
//! the server goes on; none forces a recording without the token; secrets sent in odd
//! bytes are still redacted.

mod support;

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use retrace::policy::parent_header_value;
use retrace::{RecordingId, SpanId, Store, TraceId, TraceParent};
use retrace_tower::RecordLayer;
use support::*;

const TOKEN: &str = "tok-7Hq2-secret";

fn app(layer: RecordLayer) -> Router {
    let id = |req: Request| async move {
        req.extensions()
            .get::<RecordingId>()
            .map_or("none".to_owned(), |id| id.to_string())
    };
    Router::new()
        .route("/id", get(id))
        .route("/id/{*rest}", get(id))
        .layer(layer)
}

/// Sends raw bytes on a fresh connection; returns the status code hyper answered
/// with, `None` if it closed the connection without one.
async fn raw(server: &Server, head: &[u8]) -> (Option<u16>, String) {
    use std::io::{Read, Write};
    let (addr, head) = (server.addr, head.to_vec());
    let out = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may refuse and close before reading everything: not an error.
        let _ = s.write_all(&head);
        let mut out = Vec::new();
        match s.read_to_end(&mut out) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("the server neither answered nor closed")
            }
            _ => out,
        }
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn request(path: &[u8], headers: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = b"GET ".to_vec();
    out.extend_from_slice(path);
    out.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (n, v) in headers {
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn traceparent(trace: TraceId) -> String {
    TraceParent {
        trace_id: trace,
        parent_id: SpanId::random(),
        flags: 1,
    }
    .to_string()
}

async fn served_ok(server: &Server) {
    let (status, body) = raw(server, &request(b"/id", &[])).await;
    assert_eq!((status, body.as_str()), (Some(200), "none"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_heads_are_handled_capped_and_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).trigger_token(Some(TOKEN.to_owned())));
    let server = serve(app(RecordLayer::new(rec))).await;
    let trigger: (&[u8], &[u8]) = (b"x-retrace-record", TOKEN.as_bytes());
    let mut recorded = Vec::new();

    // An enormous header value (64 KiB) with the token: served and recorded.
    let big = vec![b'a'; 64 * 1024];
    let (status, id) = raw(&server, &request(b"/id", &[trigger, (b"x-big", &big)])).await;
    assert_eq!(status, Some(200));
    assert_ne!(id, "none");
    recorded.push(id);
    // Past hyper's head limit (1 MiB): refused before the service, server unharmed.
    let huge = vec![b'a'; 1 << 20];
    let (status, _) = raw(&server, &request(b"/id", &[trigger, (b"x-huge", &huge)])).await;
    assert!(matches!(status, None | Some(400 | 431)), "{status:?}");
    served_ok(&server).await;

    // Thousands of headers: refused by hyper (its limit is 100), server unharmed.
    let names: Vec<Vec<u8>> = (0..5000).map(|i| format!("x-h{i}").into_bytes()).collect();
    let mut many: Vec<(&[u8], &[u8])> = names.iter().map(|n| (&n[..], &b"v"[..])).collect();
    many.push(trigger);
    let (status, _) = raw(&server, &request(b"/id", &many)).await;
    assert!(matches!(status, None | Some(400 | 431)), "{status:?}");
    // Just under the limit: served and recorded with every header.
    let (status, id) = raw(&server, &request(b"/id", &many[4910..])).await;
    assert_eq!(status, Some(200));
    recorded.push(id.clone());
    served_ok(&server).await;

    // Invalid UTF-8 in header values, including a secret one.
    let (status, id_bin) = raw(
        &server,
        &request(
            b"/id",
            &[
                trigger,
                (b"x-binary", b"\xff\xfe\x80ok"),
                (b"authorization", b"Bearer \xffauth-SECRET-\xc3"),
            ],
        ),
    )
    .await;
    assert_eq!(status, Some(200));
    recorded.push(id_bin.clone());
    // Invalid UTF-8 in the path: raw bytes are refused by hyper; percent-encoded ones
    // are served and recorded as sent.
    let (status, _) = raw(&server, &request(b"/id/\xff\xfe", &[trigger])).await;
    assert!(matches!(status, None | Some(400)), "{status:?}");
    let (status, id_path) = raw(&server, &request(b"/id/%ff%fe%c3?q=%80", &[trigger])).await;
    assert_eq!(status, Some(200));
    recorded.push(id_path.clone());
    served_ok(&server).await;

    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.started, recorded.len() as u64, "{stats:?}");
    assert_eq!(stats.written, recorded.len() as u64, "{stats:?}");
    let store = Store::open(dir.path()).unwrap();
    let listing = store.list();
    assert!(listing.problems.is_empty(), "{:?}", listing.problems);
    let bin = store.get(&id_bin).unwrap();
    let head = bin.request().unwrap();
    let value = |name: &str| {
        head.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.clone())
    };
    assert_eq!(value("x-binary").unwrap(), &b"\xff\xfe\x80ok"[..]);
    assert!(!contains(&value("authorization").unwrap(), b"auth-SECRET"));
    assert_eq!(
        store.get(&id_path).unwrap().summary.uri,
        "/id/%ff%fe%c3?q=%80"
    );
    assert_eq!(store.get(&id).unwrap().request().unwrap().headers.len(), 93);
    let everything = decompressed_store(dir.path());
    assert!(!contains(&everything, b"auth-SECRET"));
    assert!(!contains(&everything, TOKEN.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_nothing_forces_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()).trigger_token(Some(TOKEN.to_owned())));
    let server = serve(app(RecordLayer::new(rec))).await;
    let mut wrong: Vec<Vec<(&[u8], Vec<u8>)>> = Vec::new();
    for value in [
        &b""[..],
        b"1",
        b"true",
        &TOKEN.as_bytes()[..TOKEN.len() - 1],
        format!("{TOKEN}x").as_bytes(),
        TOKEN.to_uppercase().as_bytes(),
        format!("{TOKEN}\0").as_bytes(),
        b"\xff\xfe",
        &[b'a'; 16 * 1024][..],
    ] {
        wrong.push(vec![(b"x-retrace-record", value.to_vec())]);
    }
    // A wrong token first, the right one second: only the first counts.
    wrong.push(vec![
        (b"x-retrace-record", b"guess".to_vec()),
        (b"x-retrace-record", TOKEN.as_bytes().to_vec()),
    ]);
    // Forged parents: unsigned, empty or garbage signature, signed with another
    // token, signed for another trace, invalid UTF-8, enormous, or without the
    // traceparent that binds it.
    let trace = TraceId::random();
    let parent = RecordingId::new();
    let tp = traceparent(trace).into_bytes();
    let forged_values: Vec<Vec<u8>> = vec![
        parent.to_string().into_bytes(),
        format!("{parent};sig=").into_bytes(),
        format!("{parent};sig={}", "0".repeat(32)).into_bytes(),
        parent_header_value(Some("not-the-token"), trace, parent).into_bytes(),
        parent_header_value(Some(TOKEN), TraceId::random(), parent).into_bytes(),
        b"\xff\xfe;sig=\x80".to_vec(),
        format!("{parent};sig={}", "a".repeat(16 * 1024)).into_bytes(),
    ];
    for v in forged_values {
        wrong.push(vec![(b"traceparent", tp.clone()), (b"x-retrace-parent", v)]);
    }
    wrong.push(vec![(
        b"x-retrace-parent",
        parent_header_value(Some(TOKEN), trace, parent).into_bytes(),
    )]);
    for headers in &wrong {
        let headers: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (*n, &v[..])).collect();
        let (status, body) = raw(&server, &request(b"/id", &headers)).await;
        assert!(
            status == Some(200) || status == Some(400),
            "{status:?} for {headers:?}"
        );
        if status == Some(200) {
            assert_eq!(body, "none", "recorded without the token: {headers:?}");
        }
    }
    // The right token and a correctly signed parent still work.
    let (_, by_token) = raw(
        &server,
        &request(b"/id", &[(b"x-retrace-record", TOKEN.as_bytes())]),
    )
    .await;
    assert_ne!(by_token, "none");
    let signed = parent_header_value(Some(TOKEN), trace, parent);
    let (_, by_parent) = raw(
        &server,
        &request(
            b"/id",
            &[
                (b"traceparent", &tp),
                (b"x-retrace-parent", signed.as_bytes()),
            ],
        ),
    )
    .await;
    assert_ne!(by_parent, "none");
    drop(server);
    let stats = guard.shutdown().unwrap();
    assert_eq!((stats.started, stats.written), (2, 2), "{stats:?}");
}

/// Documents the default: with no token configured, the trigger header and an unsigned
/// parent header force recording for anyone who can reach the service. Production
/// deployments exposed to untrusted clients should set `RETRACE_TRIGGER_TOKEN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_any_client_can_force_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, guard) = recorder(config(dir.path()));
    let server = serve(app(RecordLayer::new(rec))).await;
    let (_, by_trigger) = raw(&server, &request(b"/id", &[(b"x-retrace-record", b"1")])).await;
    assert_ne!(by_trigger, "none");
    let trace = TraceId::random();
    let (_, by_parent) = raw(
        &server,
        &request(
            b"/id",
            &[
                (b"traceparent", traceparent(trace).as_bytes()),
                (
                    b"x-retrace-parent",
                    RecordingId::new().to_string().as_bytes(),
                ),
            ],
        ),
    )
    .await;
    assert_ne!(by_parent, "none");
    drop(server);
    assert_eq!(guard.shutdown().unwrap().written, 2);
}
