//! A real PostgreSQL for tests and examples: one private cluster per test process.
//!
//! Why: code that records and replays database traffic has to be tested against a
//! real server. A mock proves nothing about the wire, and a test that quietly skips
//! when no server is around proves nothing at all, so this crate starts a server
//! itself and panics, naming the cause, when it cannot.
//!
//! How: the first call to [`url`] runs `scripts/postgres start DIR` (see that
//! script: it installs Debian's `postgresql` package if the server binaries are
//! missing, and runs the server as an unprivileged user on a free port of
//! 127.0.0.1), with `DIR` named after this process's id under
//! [`std::env::temp_dir`]. Test binaries run side by side get one cluster each.
//!
//! Stopping: statics are never dropped, and a test binary may end in a panic, an
//! abort or a signal, so the clean-up cannot run in this process. The start script
//! runs under a small guard, `sh`, whose stdin is a pipe that only this process
//! holds open for writing. Once the script has printed the URL, the guard waits
//! for end-of-file on that pipe, which the kernel delivers when this process
//! ends, however it ends, and then runs `scripts/postgres stop DIR`. No polling,
//! no process id that could be reused, and a process killed halfway through the
//! start still has its cluster stopped, once the start is done. The guard runs in
//! a process group of its own, so a Ctrl-C in the terminal does not reach it.
//!
//! Isolation: every test should take its own database from [`fresh_database`]
//! rather than share the `retrace` database behind [`url`].

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The started cluster of this process.
struct Cluster {
    dir: PathBuf,
    url: String,
    /// The write end of the guard's stdin. Never dropped (it lives in a static):
    /// the kernel closes it when the process ends, which tells the guard to stop
    /// the cluster.
    _guard: ChildStdin,
}

/// The guard around `scripts/postgres start`; `$1` is the script, `$2` the
/// directory. Its stdout and stderr are ours until the start is over; then it
/// closes them, so that we read to their end, and waits for its stdin to close.
const GUARD: &str = r#"
if "$1" start "$2" </dev/null; then
    exec >/dev/null 2>&1
    while read -r _; do :; done
    exec "$1" stop "$2"
else
    status=$?
    "$1" stop "$2" </dev/null
    exit "$status"
fi
"#;

/// The outcome of the one start attempt; a failure is kept so that every later
/// caller panics with the same message instead of retrying.
static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static STOPPED: AtomicBool = AtomicBool::new(false);
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
    &cluster().url
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
    let cluster = cluster();
    assert!(
        !STOPPED.load(Ordering::SeqCst),
        "retrace-test-postgres: fresh_database called after stop_and_wait; this process's cluster is gone"
    );
    let name = database_name(name_hint, NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
    run_script(&[
        OsStr::new("createdb"),
        cluster.dir.as_os_str(),
        OsStr::new(&name),
    ])
    .and_then(expect_url)
    .unwrap_or_else(|message| panic!("{message}"))
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
    let Some(Ok(cluster)) = CLUSTER.get() else {
        return;
    };
    if STOPPED.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Err(message) = run_script(&[OsStr::new("stop"), cluster.dir.as_os_str()]) {
        panic!("{message}");
    }
}

fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start) {
        Ok(cluster) => cluster,
        Err(message) => panic!("{message}"),
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres")
}

fn start() -> Result<Cluster, String> {
    let dir = std::env::temp_dir().join(format!("retrace-pg-{}", std::process::id()));
    if dir.exists() {
        // Left by an earlier process that had our id and whose guard did not get
        // to it; nothing of ours can be in it yet.
        run_script(&[OsStr::new("stop"), dir.as_os_str()])?;
    }
    let script = script();
    let shown = format!("{} start {}", script.display(), dir.display());
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(GUARD)
        .arg("retrace-pg-guard")
        .arg(&script)
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    own_process_group(&mut command);
    let mut guard = command.spawn().map_err(|error| {
        format!("retrace-test-postgres: cannot spawn `sh` to run `{shown}`: {error}")
    })?;
    let (Some(stdin), Some(mut stdout), Some(mut stderr)) =
        (guard.stdin.take(), guard.stdout.take(), guard.stderr.take())
    else {
        return Err("retrace-test-postgres: the guard `sh` came without its pipes".to_owned());
    };
    // stderr on a thread of its own: an apt-get install can print more than a
    // pipe holds while we wait for stdout.
    let stderr_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let mut out = Vec::new();
    let read = stdout.read_to_end(&mut out);
    let err = stderr_reader.join().unwrap_or_default();
    let out = String::from_utf8_lossy(&out).trim().to_owned();
    if read.is_ok() && out.starts_with("postgres://") && !out.contains('\n') {
        // The guard lives on, waiting for this process to end.
        return Ok(Cluster {
            dir,
            url: out,
            _guard: stdin,
        });
    }
    // Had the script started a cluster after all, closing the pipe stops it.
    drop(stdin);
    let status = guard.wait().map_or_else(
        |error| format!("status unknown: {error}"),
        |status| status.to_string(),
    );
    let printed = match read {
        Err(error) => format!("; reading its output failed: {error}"),
        Ok(_) if out.is_empty() => String::new(),
        Ok(_) => format!("; it printed {out:?} where one postgres:// URL was expected"),
    };
    Err(format!(
        "retrace-test-postgres: `{shown}` failed ({status}){printed}; its stderr:\n{}",
        String::from_utf8_lossy(&err).trim_end()
    ))
}

/// Runs `scripts/postgres ARGS...` and returns its stdout, trimmed; on failure, a
/// message naming the command and carrying its stderr.
fn run_script(args: &[&OsStr]) -> Result<String, String> {
    let script = script();
    let shown = std::iter::once(script.as_os_str())
        .chain(args.iter().copied())
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = Command::new(&script);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    own_process_group(&mut command);
    let output = command
        .output()
        .map_err(|error| format!("retrace-test-postgres: cannot run `{shown}`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "retrace-test-postgres: `{shown}` failed ({}); its stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn expect_url(stdout: String) -> Result<String, String> {
    if stdout.starts_with("postgres://") && !stdout.contains('\n') {
        Ok(stdout)
    } else {
        Err(format!(
            "retrace-test-postgres: scripts/postgres printed {stdout:?} where one postgres:// URL was expected"
        ))
    }
}

/// Keeps the child out of the terminal's process group, so that Ctrl-C on the
/// test run does not kill the script or the guard halfway.
fn own_process_group(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = command;
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

/// A loopback port where a service is away: it accepts each connection, counts it,
/// and closes it. Point a pool or a client at it in a replay to prove that nothing
/// tried to reach the real thing ([`attempts`](Self::attempts) stays 0).
///
/// The accepting thread lives as long as the test process.
#[derive(Debug, Clone)]
pub struct AwayPort {
    port: u16,
    attempts: std::sync::Arc<AtomicUsize>,
}

impl AwayPort {
    /// Binds a free port on 127.0.0.1 and starts counting.
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn bind() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = listener.local_addr().expect("the bound address").port();
        let attempts = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { port, attempts }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A PostgreSQL URL that leads here.
    pub fn postgres_url(&self) -> String {
        format!("postgres://app:secret@127.0.0.1:{}/app", self.port)
    }

    /// An HTTP base URL that leads here.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many connections were attempted.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}
