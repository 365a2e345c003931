//! Dropping the guard of a recorder that ships (`RETRACE_SHIP_URL`) to a store that
//! never answers still ends within the shutdown timeout: the shipping thread's pass is
//! abandoned, not waited for (the store client alone would retry for 20 s).

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{config, record_one, recorder};

#[test]
fn a_store_that_never_answers_does_not_hold_up_shutdown() {
    // A port that accepts connections and never answers them.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", silent.local_addr().expect("addr"));
    // SAFETY: this test binary holds this one test; no other thread reads the
    // environment while it is set, before the recorder starts.
    unsafe {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ] {
            std::env::set_var(k, v);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, guard) = recorder(
        config(dir.path())
            .segment_max_bytes(16 * 1024)
            .ship_to("s3://nowhere/prefix")
            .ship_interval(Duration::from_millis(100))
            .shutdown_timeout(Duration::from_secs(1)),
    );
    for i in 0..400 {
        record_one(&rec, i, 2_000).expect("recorded");
    }
    rec.flush(Duration::from_secs(10)).expect("flushed");
    // Let a pass start and hang on the silent store.
    std::thread::sleep(Duration::from_millis(500));
    let began = Instant::now();
    let stats = guard.shutdown().expect("the writer shut down cleanly");
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "shutdown took {took:?} with a 1 s timeout"
    );
    assert_eq!(stats.shipping.segments, 0, "{stats:?}");
    assert_eq!(stats.written, 400);
}
