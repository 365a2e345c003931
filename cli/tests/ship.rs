//! `retrace ship` against a real S3-compatible server (moto, started through
//! `scripts/s3` on a loopback port): the keys and bytes that land in the bucket, a
//! shipper killed with SIGKILL in the middle of its work and started again, a store
//! that cannot be reached for ten seconds, and `--delete-after-ship`.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use parquet::file::reader::{FileReader, SerializedFileReader};
use retrace::ship::Destination;
use support::{Crafted, HOUR_US, Root, craft_session, now_us};

/// The environment the binary and the test's own client use.
fn s3_env() -> Vec<(&'static str, String)> {
    retrace_test_services::s3::env()
}

fn env_pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Every object under the bucket URL's prefix: key → bytes.
fn bucket_contents(url: &str, env: &[(&'static str, String)]) -> BTreeMap<String, Vec<u8>> {
    let rt = support::runtime();
    let options = env.iter().map(|(k, v)| (k.to_string(), v.clone()));
    let destination = Destination::parse_with(url, options).expect("destination");
    rt.block_on(async {
        let store = destination.store();
        let metas: Vec<_> = store
            .list(Some(destination.prefix()))
            .try_collect()
            .await
            .expect("list the bucket");
        let mut out = BTreeMap::new();
        for meta in metas {
            let bytes = store
                .get_opts(&meta.location, Default::default())
                .await
                .expect("get")
                .bytes()
                .await
                .expect("body");
            out.insert(meta.location.to_string(), bytes.to_vec());
        }
        out
    })
}

/// A session of `n` closed segments, one recording each, `age_us` old, and one
/// segment still being written.
fn session_with_segments(
    root: &Path,
    name: &str,
    n: usize,
    start_us: u64,
) -> Vec<std::path::PathBuf> {
    let recordings: Vec<Vec<Crafted>> = (0..n)
        .map(|i| vec![Crafted::new(start_us + i as u64 * 1_000, 200).uri(&format!("/item/{i}"))])
        .collect();
    let mut segments: Vec<(&[Crafted], bool)> =
        recordings.iter().map(|r| (r.as_slice(), true)).collect();
    let open = [Crafted::new(start_us + n as u64 * 1_000, 200)];
    segments.push((&open, false));
    craft_session(root, name, false, &segments).1
}

/// The objects a session's closed segments should become, by key.
fn expected_objects(
    prefix: &str,
    service: &str,
    session: &Path,
    closed: &[std::path::PathBuf],
    day_hour: &str,
) -> BTreeMap<String, Vec<u8>> {
    let name = session
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut out = BTreeMap::new();
    let dir = format!("{prefix}/{service}/{day_hour}/{name}");
    for seg in closed {
        for path in [seg.clone(), seg.with_extension("rtidx")] {
            let file = path
                .file_name()
                .expect("file")
                .to_string_lossy()
                .into_owned();
            out.insert(
                format!("{dir}/{file}"),
                fs::read(&path).expect("read local"),
            );
        }
    }
    out.insert(
        format!("{dir}/metadata.json"),
        fs::read(session.join("metadata.json")).expect("metadata"),
    );
    out
}

/// Checks that the bucket holds, beside each segment `expected` lists, its index as a
/// Parquet file of one row (each crafted segment holds one recording), and adds those
/// to `expected`.
fn expect_parquet_indexes(
    found: &BTreeMap<String, Vec<u8>>,
    expected: &mut BTreeMap<String, Vec<u8>>,
) {
    let segments: Vec<String> = expected
        .keys()
        .filter(|k| k.ends_with(".rtseg"))
        .cloned()
        .collect();
    for segment in segments {
        let key = format!("{}.parquet", segment.trim_end_matches(".rtseg"));
        let bytes = found
            .get(&key)
            .unwrap_or_else(|| panic!("{key} is in the bucket"));
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{key} is a Parquet file"
        );
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone()))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(
            reader.metadata().file_metadata().num_rows(),
            1,
            "{key}: one row, the segment's one recording"
        );
        expected.insert(key, bytes.clone());
    }
}

/// "yyyy-mm-dd/hh" of a time.
fn day_hour(unix_us: u64) -> String {
    let text = humantime_text(unix_us);
    format!("{}/{}", &text[..10], &text[11..13])
}

fn humantime_text(unix_us: u64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_micros(unix_us);
    humantime::format_rfc3339_seconds(at).to_string()
}

#[test]
fn closed_segments_land_under_their_keys_byte_for_byte_and_the_open_one_stays() {
    let env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship keys");
    let url = format!("{bucket}/prod/eu");
    let root = Root::new();
    // Two hours ago, well inside one hour (the recordings are a millisecond apart).
    let start = (now_us() - 2 * HOUR_US) / HOUR_US * HOUR_US + 60_000_000;
    let name = "checkout_web-7f9c_20261207T010000Z_1_aaaa";
    let segments = session_with_segments(root.path(), name, 3, start);
    let (closed, open) = segments.split_at(3);

    let run = root.retrace_env(&["ship", "--to", &url], &env_pairs(&env));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("shipped 3 segments"),
        "the report counts segments: {}",
        run.stderr
    );

    let found = bucket_contents(&url, &env);
    let mut expected = expected_objects(
        "prod/eu",
        "checkout",
        &root.path().join(name),
        closed,
        &day_hour(start + 2_000 + 1_000),
    );
    // The counters file is shipped when there is one; the crafted session has none.
    for (key, bytes) in &expected {
        assert_eq!(
            found.get(key),
            Some(bytes),
            "{key} is in the bucket byte for byte"
        );
    }
    expect_parquet_indexes(&found, &mut expected);
    expected.retain(|k, _| found.contains_key(k));
    assert_eq!(
        found.len(),
        expected.len(),
        "nothing else was shipped: {:?}",
        found.keys()
    );
    let open_name = open[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        found.keys().all(|k| !k.ends_with(&open_name)),
        "the segment still being written is not shipped"
    );
    assert!(
        open[0].exists() && closed.iter().all(|p| p.exists()),
        "nothing local was deleted"
    );

    // A second run has nothing to do.
    let again = root.retrace_env(&["ship", "--to", &url], &env_pairs(&env));
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains("shipped 0 segments (0 B)"),
        "{}",
        again.stderr
    );
}

#[test]
fn delete_after_ship_removes_only_what_the_store_verifiably_holds() {
    let env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship delete");
    let root = Root::new();
    let name = "billing_web-1_20261207T010000Z_2_bbbb";
    let segments = session_with_segments(root.path(), name, 2, now_us() - HOUR_US);
    let run = root.retrace_env(
        &["ship", "--to", &bucket, "--delete-after-ship"],
        &env_pairs(&env),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("deleted 4 local files"),
        "{}",
        run.stderr
    );
    assert!(!segments[0].exists() && !segments[1].exists());
    assert!(!segments[0].with_extension("rtidx").exists());
    assert!(segments[2].exists(), "the open segment stays");
    assert!(
        root.path().join(name).join("metadata.json").exists(),
        "the metadata stays"
    );
    assert_eq!(
        bucket_contents(&bucket, &env).len(),
        7,
        "two segments, two indexes, their Parquet indexes, metadata"
    );

    // A bucket that does not exist: an error naming it, and nothing is deleted.
    let root = Root::new();
    let segments = session_with_segments(root.path(), name, 1, now_us() - HOUR_US);
    let missing = root.retrace_env(
        &[
            "ship",
            "--to",
            "s3://no-such-bucket-here/x",
            "--delete-after-ship",
        ],
        &env_pairs(&env),
    );
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("error: "), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no-such-bucket-here") || missing.stderr.contains("NoSuchBucket"),
        "{}",
        missing.stderr
    );
    assert!(
        segments[0].exists(),
        "nothing is deleted when the upload failed"
    );
}

fn spawn_watch(root: &Root, url: &str, env: &[(&'static str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_retrace"))
        .args([
            "ship",
            "--watch",
            "--interval",
            "200ms",
            "--to",
            url,
            "--path",
        ])
        .arg(root.path())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn retrace ship --watch")
}

fn journal_lines(root: &Path) -> usize {
    fs::read_dir(root)
        .expect("root")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".journal"))
        .map(|e| {
            fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum()
}

#[test]
fn a_shipper_killed_mid_run_resumes_with_nothing_lost_and_nothing_twice() {
    let env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship sigkill");
    let url = format!("{bucket}/fleet");
    let root = Root::new();
    let name = "search_web-2_20261207T010000Z_3_cccc";
    let n = 120;
    let start = (now_us() - 3 * HOUR_US) / HOUR_US * HOUR_US;
    let segments = session_with_segments(root.path(), name, n, start);

    let mut child = spawn_watch(&root, &url, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Kill it once some, but not all, segments are journaled (two lines each).
    while journal_lines(root.path()) < 20 {
        assert!(
            Instant::now() < deadline,
            "the shipper journaled nothing in 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let at_kill = journal_lines(root.path());
    assert!(at_kill < 2 * n, "killed before the end ({at_kill} lines)");

    let run = root.retrace_env(&["ship", "--to", &url], &env_pairs(&env));
    assert_eq!(run.code, 0, "{run:?}");
    let shipped_now: usize = run
        .stderr
        .split("shipped ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("a count");
    assert!(
        shipped_now <= n - at_kill / 2,
        "only what was not journaled is shipped again: {}",
        run.stderr
    );

    let found = bucket_contents(&url, &env);
    let mut expected = expected_objects(
        "fleet",
        "search",
        &root.path().join(name),
        &segments[..n],
        &day_hour(start),
    );
    for (key, bytes) in &expected {
        assert_eq!(
            found.get(key),
            Some(bytes),
            "{key}: nothing lost, bytes exact"
        );
    }
    expect_parquet_indexes(&found, &mut expected);
    assert_eq!(
        found.len(),
        expected.len(),
        "no stray object: {:?}",
        found
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        journal_lines(root.path()),
        2 * n,
        "each file journaled once"
    );
}

/// A TCP forwarder on 127.0.0.1 that refuses service (accepts and closes at once)
/// until `down_until`, then passes connections through to `upstream`.
fn flaky_proxy(upstream: std::net::SocketAddr, down_until: Instant) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            if Instant::now() < down_until {
                drop(client);
                continue;
            }
            std::thread::spawn(move || {
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    return;
                };
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (mut s_read, mut c_write) = (server, client);
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    addr
}

#[test]
fn a_store_unreachable_for_ten_seconds_gets_everything_once_it_is_back() {
    let mut env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship outage");
    let endpoint = retrace_test_services::s3::endpoint();
    let upstream: std::net::SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("endpoint address");
    let back_at = Instant::now() + Duration::from_secs(10);
    let proxy = flaky_proxy(upstream, back_at);
    for (k, v) in &mut env {
        if *k == "AWS_ENDPOINT_URL" {
            *v = format!("http://{proxy}");
        }
    }
    let root = Root::new();
    let name = "orders_web-3_20261207T010000Z_4_dddd";
    let n = 5;
    let start = now_us() - HOUR_US;
    let segments = session_with_segments(root.path(), name, n, start);

    let mut child = spawn_watch(&root, &bucket, &env);
    let deadline = Instant::now() + Duration::from_secs(90);
    while journal_lines(root.path()) < 2 * n {
        if let Some(status) = child.try_wait().expect("poll") {
            panic!("the shipper exited during the outage: {status}");
        }
        if Instant::now() + Duration::from_millis(200) < back_at {
            assert_eq!(
                journal_lines(root.path()),
                0,
                "nothing counts as shipped while the store is unreachable"
            );
        }
        assert!(
            Instant::now() < deadline,
            "not everything shipped 90 s after the outage began"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM: how Kubernetes stops a sidecar; it exits cleanly and says what it did.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    let out = child.wait_with_output().expect("exit");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The client retries a request for up to 20 s, so a 10 s outage shows as a slow
    // pass or, when a segment's tries run out, as an error and a later retry.
    assert!(
        stderr.contains(&format!("stopped: {n} segments")),
        "{stderr}"
    );

    let found = bucket_contents(&bucket, &s3_env());
    let expected = expected_objects(
        "",
        "orders",
        &root.path().join(name),
        &segments[..n],
        &day_hour(start + (n as u64 - 1) * 1_000),
    );
    for (key, bytes) in &expected {
        let key = key.trim_start_matches('/');
        assert_eq!(
            found.get(key),
            Some(bytes),
            "{key} shipped after the outage"
        );
    }
    // `retrace stats` shows what the shipper did, from its status file.
    let stats = root.retrace(&["stats"]);
    assert_eq!(stats.code, 0, "{stats:?}");
    assert!(
        stats.stdout.contains(&format!("shipping to {bucket}")),
        "{}",
        stats.stdout
    );
    assert!(
        stats
            .stdout
            .contains(&format!("shipped           {n} segments")),
        "{}",
        stats.stdout
    );
    assert!(
        stats.stdout.contains("pending           0 segments"),
        "{}",
        stats.stdout
    );
}

fn markers(dir: &Path) -> usize {
    let mut count = 0;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            count += markers(&path);
        } else if path.to_string_lossy().ends_with(".rtseg.remote") {
            count += 1;
        }
    }
    count
}

#[test]
fn ls_show_export_and_verify_read_a_bucket_fetching_only_the_segments_they_need() {
    let env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship read");
    let url = format!("{bucket}/prod");
    let root = Root::new();
    let start = (now_us() - 2 * HOUR_US) / HOUR_US * HOUR_US;
    session_with_segments(root.path(), "cart_web-1_20261207T010000Z_5_eeee", 3, start);
    session_with_segments(
        root.path(),
        "cart_web-2_20261207T010000Z_6_ffff",
        2,
        start + 10_000,
    );
    let shipped = root.retrace_env(&["ship", "--to", &url], &env_pairs(&env));
    assert_eq!(shipped.code, 0, "{shipped:?}");
    // The local ls sees the open segments' recordings too; only closed ones shipped.
    for dir in fs::read_dir(root.path()).expect("root").flatten() {
        for file in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "rtseg")
                && !path.with_extension("rtidx").exists()
            {
                fs::remove_file(&path).expect("drop the open segment");
            }
        }
    }

    let reader = support::BucketReader::new(&url);
    let remote = |args: &[&str]| reader.run(args);

    let local_ls = root.retrace(&["ls", "--json"]);
    let remote_ls = remote(&["ls", "--json"]);
    assert_eq!(remote_ls.code, 0, "{remote_ls:?}");
    let ids = |run: &support::Run| {
        let listed: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("json");
        let mut ids: Vec<String> = listed
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&remote_ls),
        ids(&local_ls),
        "the bucket lists what was shipped"
    );
    assert_eq!(ids(&remote_ls).len(), 5);
    assert_eq!(markers(reader.cache()), 5, "ls downloaded no segment");

    let id = ids(&local_ls)[0].clone();
    let local_show = root.retrace(&["show", &id]);
    let remote_show = remote(&["show", &id]);
    assert_eq!(remote_show.code, 0, "{remote_show:?}");
    assert_eq!(
        remote_show.stdout, local_show.stdout,
        "show reads the shipped bytes"
    );
    assert_eq!(
        markers(reader.cache()),
        4,
        "show downloaded exactly one segment"
    );

    let export = remote(&["export", &id, "--jsonl"]);
    assert_eq!(export.code, 0, "{export:?}");
    assert_eq!(
        export.stdout,
        root.retrace(&["export", &id, "--jsonl"]).stdout
    );

    let verify = remote(&["verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert_eq!(markers(reader.cache()), 0, "verify read every segment");
}

#[test]
fn a_directory_is_a_destination_too() {
    let root = Root::new();
    let start = (now_us() - 2 * HOUR_US) / HOUR_US * HOUR_US;
    let name = "mail_web-1_20261207T010000Z_7_abab";
    let segments = session_with_segments(root.path(), name, 2, start);
    let archive = tempfile::tempdir().expect("archive");
    let to = archive.path().join("prod").display().to_string();
    let run = root.retrace(&["ship", "--to", &to]);
    assert_eq!(run.code, 0, "{run:?}");
    let dir = archive
        .path()
        .join("prod/mail")
        .join(day_hour(start))
        .join(name);
    for seg in &segments[..2] {
        let file = seg.file_name().expect("name");
        assert_eq!(
            fs::read(dir.join(file)).ok(),
            fs::read(seg).ok(),
            "{file:?}"
        );
    }
    assert!(!dir.join(segments[2].file_name().expect("name")).exists());
}

#[test]
fn gc_on_a_bucket_deletes_the_objects_of_expired_segments_and_sessions() {
    let env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship gc");
    let url = format!("{bucket}/prod");
    let root = Root::new();
    let now = now_us();
    let old = "cart_web-1_20261101T000000Z_8_aaaa";
    let recent = "cart_web-2_20261207T000000Z_9_bbbb";
    craft_session(
        root.path(),
        old,
        true,
        &[
            (&[Crafted::new(now - 20 * 24 * HOUR_US, 200)], true),
            (&[Crafted::new(now - 20 * 24 * HOUR_US + 1_000, 503)], true),
        ],
    );
    craft_session(
        root.path(),
        recent,
        true,
        &[(&[Crafted::new(now - HOUR_US, 200)], true)],
    );
    let shipped = root.retrace_env(&["ship", "--to", &url], &env_pairs(&env));
    assert_eq!(shipped.code, 0, "{shipped:?}");
    let before = bucket_contents(&url, &env);
    assert!(before.keys().any(|k| k.contains(old)) && before.keys().any(|k| k.contains(recent)));

    let reader = support::BucketReader::new(&url);
    let remote = |args: &[&str]| reader.run(args);

    let dry = remote(&["gc", "--max-age", "7d", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(
        dry.stdout.matches("would delete prod/cart/").count(),
        2,
        "each expired segment named by its key: {}",
        dry.stdout
    );
    assert_eq!(
        bucket_contents(&url, &env),
        before,
        "a dry run deletes nothing"
    );

    let gc = remote(&["gc", "--max-age", "7d"]);
    assert_eq!(gc.code, 0, "{gc:?}");
    assert!(gc.stdout.contains("(empty session)"), "{}", gc.stdout);
    let after = bucket_contents(&url, &env);
    assert!(
        after.keys().all(|k| !k.contains(old)),
        "every object of the expired session is gone: {:?}",
        after.keys()
    );
    let kept: Vec<_> = before.keys().filter(|k| k.contains(recent)).collect();
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        kept,
        "the recent session is untouched"
    );

    let ls = remote(&["ls", "--json"]);
    assert_eq!(ls.code, 0, "{ls:?}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&ls.stdout).expect("json");
    assert_eq!(listed.len(), 1, "{}", ls.stdout);
}

#[test]
fn a_large_segment_goes_up_in_parts_and_lands_byte_for_byte() {
    let env = s3_env();
    let bucket = retrace_test_services::s3::fresh_bucket("ship multipart");
    let root = Root::new();
    let start = (now_us() - 2 * HOUR_US) / HOUR_US * HOUR_US;
    let name = "media_web-1_20261207T010000Z_10_cdcd";
    let segments = session_with_segments(root.path(), name, 1, start);
    // 12 MiB that do not compress or repeat: three parts of 5 MiB at most.
    let mut big = Vec::with_capacity(12 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while big.len() < 12 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(&segments[0], &big).expect("a large segment");

    let options = env.iter().map(|(k, v)| (k.to_string(), v.clone()));
    let destination = Destination::parse_with(&bucket, options).expect("destination");
    let ship_options = retrace::ship::ShipOptions {
        multipart_threshold: 8 << 20,
        part_size: 5 << 20,
        ..Default::default()
    };
    let mut shipper =
        retrace::ship::Shipper::new(root.path(), destination, ship_options).expect("shipper");
    let report = support::runtime()
        .block_on(shipper.ship_pending())
        .expect("a pass");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.segments, 1);

    let found = bucket_contents(&bucket, &env);
    let key = found
        .keys()
        .find(|k| k.ends_with("seg-000000.rtseg"))
        .expect("the segment is in the bucket")
        .clone();
    assert_eq!(found[&key].len(), big.len());
    assert!(found[&key] == big, "byte for byte");
    // Shipped again from a fresh journal: found in the store, not uploaded twice.
    for entry in fs::read_dir(root.path()).expect("root").flatten() {
        if entry.file_name().to_string_lossy().ends_with(".journal") {
            fs::remove_file(entry.path()).expect("drop the journal");
        }
    }
    let options = env.iter().map(|(k, v)| (k.to_string(), v.clone()));
    let destination = Destination::parse_with(&bucket, options).expect("destination");
    let mut again = retrace::ship::Shipper::new(
        root.path(),
        destination,
        retrace::ship::ShipOptions {
            multipart_threshold: 8 << 20,
            part_size: 5 << 20,
            ..Default::default()
        },
    )
    .expect("shipper");
    let report = support::runtime()
        .block_on(again.ship_pending())
        .expect("a pass");
    assert_eq!(report.already_there, 2, "{report:?}");
    assert!(
        report.bytes < 1 << 20,
        "only metadata went again: {report:?}"
    );
}
