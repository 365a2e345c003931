//! A real S3-compatible server for tests and examples: one private server per test
//! process.
//!
//! Why: code that keeps recordings in object storage has to be tested against a
//! server that speaks S3 over HTTP. An in-memory store proves nothing about
//! requests, paths and errors on the wire, and a test that quietly skips when no
//! server is around proves nothing at all, so this module starts a server itself
//! and panics, naming the cause, when it cannot.
//!
//! How: the first call to [`endpoint`] runs `scripts/s3 start DIR` (see that
//! script: it installs moto's server, `moto[server]` from PyPI at a pinned version,
//! into a virtualenv once per machine, and runs it as an unprivileged user on a
//! free port of 127.0.0.1), with `DIR` named after this process's id under
//! [`std::env::temp_dir`]. Test binaries run side by side get one server each; it
//! is stopped when this process ends, however it ends (see the crate
//! documentation). Buckets live in the server's memory and go with it.
//!
//! What the server promises: buckets are addressed path-style
//! (`http://127.0.0.1:PORT/BUCKET/KEY`); any credentials are accepted and no
//! signature is checked, so [`env()`] hands out the conventional `test`/`test` in
//! `us-east-1`. A request with no `Authorization` header at all counts as
//! anonymous and is refused (403) on an object that is not public; every S3 client
//! signs, so this only matters to hand-made requests.
//!
//! Isolation: every test should take its own bucket from [`fresh_bucket`].

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::service_script::ServiceScript;

static S3: ServiceScript = ServiceScript::new("s3", "http://", "retrace-s3");
static NEXT_BUCKET: AtomicUsize = AtomicUsize::new(0);

/// The endpoint of this process's server, `http://127.0.0.1:PORT`, starting the
/// server on the first call.
///
/// Thread-safe: concurrent first calls start one server. After [`stop_and_wait`]
/// it still returns the same endpoint, which then no longer answers.
///
/// # Panics
///
/// If the server cannot be started; the message names `scripts/s3` and carries its
/// stderr. A test never silently skips a missing server.
pub fn endpoint() -> &'static str {
    &S3.running().url
}

/// Creates a new, empty bucket in this process's server and returns its URL,
/// `s3://NAME`, so that each test works in a bucket of its own.
///
/// `name_hint` only makes the name readable (for example the test's name): it is
/// lower-cased, reduced to `[a-z0-9-]`, shortened, and given a unique suffix, so
/// that the name is a valid S3 bucket name.
///
/// # Panics
///
/// If the server cannot be started, was stopped by [`stop_and_wait`], or the
/// bucket cannot be created; the message carries the script's stderr.
pub fn fresh_bucket(name_hint: &str) -> String {
    let name = bucket_name(name_hint, NEXT_BUCKET.fetch_add(1, Ordering::Relaxed));
    S3.make("fresh_bucket", "mkbucket", &name, "s3://")
}

/// The environment an S3 client needs to reach this process's server, starting it
/// on the first call: `AWS_ACCESS_KEY_ID=test`, `AWS_SECRET_ACCESS_KEY=test`,
/// `AWS_REGION=us-east-1`, `AWS_ENDPOINT_URL=`[`endpoint`] and
/// `AWS_ALLOW_HTTP=true` (the endpoint is plain HTTP). Hand it to a child process
/// with [`Command::envs`](std::process::Command::envs), or to a client builder
/// that reads these variables (object_store's `AmazonS3Builder`, the AWS SDKs).
///
/// # Panics
///
/// If the server cannot be started, as [`endpoint`].
pub fn env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint().to_owned()),
        ("AWS_ALLOW_HTTP", "true".to_owned()),
    ]
}

/// Stops this process's server, waits until it has exited, and deletes its
/// directory; for tests that show something still works with the storage gone.
/// Does nothing if the server was never started or is already stopped.
///
/// The server is not started again in this process: [`endpoint`] keeps returning
/// the dead endpoint and [`fresh_bucket`] panics. Call it only from a test binary
/// (an integration test file) whose other tests do not need the server.
///
/// # Panics
///
/// If `scripts/s3 stop` fails.
pub fn stop_and_wait() {
    S3.stop_and_wait();
}

/// A valid, unique bucket name made from a hint and a per-process counter: 3 to 63
/// characters of `[a-z0-9-]`, beginning and ending with a letter or digit, and
/// none of the prefixes S3 reserves.
fn bucket_name(hint: &str, n: usize) -> String {
    let mut name: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let trimmed = name.trim_start_matches('-');
    if trimmed.is_empty() {
        name = "bucket".to_owned();
    } else if trimmed.len() != name.len() {
        name = trimmed.to_owned();
    }
    if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|reserved| name.starts_with(reserved))
    {
        name.insert(0, 'b');
    }
    format!("{name}-{n}")
}

#[cfg(test)]
mod tests {
    use super::bucket_name;

    fn is_valid(name: &str) -> bool {
        let bytes = name.as_bytes();
        (3..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && !name.starts_with("xn--")
            && !name.starts_with("sthree-")
    }

    #[test]
    fn bucket_names_are_valid_and_unique() {
        let long = "x".repeat(200);
        let cases = [
            ("replay survives", 0, "replay-survives-0"),
            ("Ünïcode_Name", 7, "n-code-name-7"),
            ("", 1, "bucket-1"),
            ("--", 1, "bucket-1"),
            ("9lives", 2, "9lives-2"),
            ("xn--abc", 3, "bxn--abc-3"),
            ("sthree-x", 4, "bsthree-x-4"),
        ];
        for (hint, n, expected) in cases {
            let name = bucket_name(hint, n);
            assert_eq!(name, expected);
            assert!(is_valid(&name), "{name} is not a valid bucket name");
        }
        let name = bucket_name(&long, usize::MAX);
        assert!(is_valid(&name), "{name} is not a valid bucket name");
        assert_ne!(bucket_name("a", 1), bucket_name("a", 2));
    }
}
