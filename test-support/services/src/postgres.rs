//! A real PostgreSQL for tests and examples: one private cluster per test process.
//!
//! Why: code that records and replays database traffic has to be tested against a
//! real server. A mock proves nothing about the wire, and a test that quietly skips
//! when no server is around proves nothing at all, so this module starts a server
//! itself and panics, naming the cause, when it cannot.
//!
//! How: the first call to [`url`] runs `scripts/postgres start DIR` (see that
//! script: it installs Debian's `postgresql` package if the server binaries are
//! missing, and runs the server as an unprivileged user on a free port of
//! 127.0.0.1), with `DIR` named after this process's id under
//! [`std::env::temp_dir`]. Test binaries run side by side get one cluster each.
//! The cluster is stopped when this process ends, however it ends (see the crate
//! documentation).
//!
//! Isolation: every test should take its own database from [`fresh_database`]
//! rather than share the `retrace` database behind [`url`].

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::service_script::ServiceScript;

static POSTGRES: ServiceScript = ServiceScript::new("postgres", "postgres://", "retrace-pg");
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

/// The URL of this process's cluster, `postgres://postgres@127.0.0.1:PORT/retrace`
/// (superuser `postgres`, no password), starting the cluster on the first call.
///
/// Thread-safe: concurrent first calls start one cluster. After [`stop_and_wait`]
/// it still returns the same URL, which then no longer answers.
///
/// # Panics
///
/// If the cluster cannot be started; the message names `scripts/postgres` and
/// carries its stderr. A test never silently skips a missing database.
pub fn url() -> &'static str {
    &POSTGRES.running().url
}

/// Creates a new, empty database in this process's cluster and returns its URL,
/// `postgres://postgres@127.0.0.1:PORT/NAME`, so that each test works in a
/// database of its own.
///
/// `name_hint` only makes the name readable (for example the test's name): it is
/// lower-cased, reduced to `[a-z0-9_]`, shortened, and given a unique suffix.
///
/// # Panics
///
/// If the cluster cannot be started, was stopped by [`stop_and_wait`], or the
/// database cannot be created; the message carries the script's stderr.
pub fn fresh_database(name_hint: &str) -> String {
    let name = database_name(name_hint, NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
    POSTGRES.make("fresh_database", "createdb", &name, "postgres://")
}

/// Stops this process's cluster, waits until the server has exited, and deletes
/// its directory; for tests that show something still works with the database
/// gone. Does nothing if the cluster was never started or is already stopped.
///
/// The cluster is not started again in this process: [`url`] keeps returning the
/// dead URL and [`fresh_database`] panics. Call it only from a test binary (an
/// integration test file) whose other tests do not need the database.
///
/// # Panics
///
/// If `scripts/postgres stop` fails.
pub fn stop_and_wait() {
    POSTGRES.stop_and_wait();
}

/// A valid, unique database name (`[a-z_][a-z0-9_]{0,62}`, what the script
/// accepts) made from a hint and a per-process counter.
fn database_name(hint: &str, n: usize) -> String {
    let mut name: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        name.insert(0, 'd');
    }
    format!("{name}_{n}")
}

#[cfg(test)]
mod tests {
    use super::database_name;

    #[test]
    fn database_names_are_valid_and_unique() {
        let long = "x".repeat(200);
        let cases = [
            ("replay survives", 0, "replay_survives_0"),
            ("Ünïcode-Name", 7, "_n_code_name_7"),
            ("", 1, "d_1"),
            ("9lives", 2, "d9lives_2"),
        ];
        for (hint, n, expected) in cases {
            assert_eq!(database_name(hint, n), expected);
        }
        let name = database_name(&long, usize::MAX);
        assert!(name.len() <= 63, "{name} is too long");
        assert_ne!(database_name("a", 1), database_name("a", 2));
    }
}
