//! A service started by one of the project's scripts, kept running exactly as long
//! as this process, however the process ends.
//!
//! Why one module for every service: the scripts under `scripts/` (`postgres`,
//! `s3`, `chromium`) share one interface: `start DIR` prints one URL, `stop DIR`
//! stops the server and deletes `DIR`, a command that makes something in the
//! server (`createdb`, `mkbucket`) prints its URL, and one that needs no server
//! (`binary`) prints its one line. Starting, guarding and stopping are then the
//! same for each, and live here once; a service only names its script, the prefix
//! of its URLs and the start of its directory's name.
//!
//! The guard: statics are never dropped, and a test binary may end in a panic, an
//! abort or a signal, so the clean-up cannot run in this process. The start script
//! runs under a small guard, `sh`, whose stdin is a pipe that only this process
//! holds open for writing. Once the script has printed the URL, the guard waits for
//! end-of-file on that pipe, which the kernel delivers when this process ends,
//! however it ends, and then runs `scripts/NAME stop DIR`. No polling, no process
//! id that could be reused, and a process killed halfway through the start still
//! has its server stopped, once the start is done. The guard and every script run
//! in a process group of their own, so a Ctrl-C in the terminal does not reach
//! them halfway.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// How every message of this crate begins.
const CRATE: &str = env!("CARGO_PKG_NAME");

/// The guard around `scripts/NAME start`; `$1` is the script, `$2` the directory.
/// Its stdout and stderr are ours until the start is over; then it closes them, so
/// that we read to their end, and waits for its stdin to close.
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

/// A service that `scripts/NAME start DIR` starts and `scripts/NAME stop DIR`
/// stops, at most once per process; meant to live in a `static`.
pub(crate) struct ServiceScript {
    /// The script's file name under `scripts/`.
    name: &'static str,
    /// What the URL printed by `start` begins with.
    url_prefix: &'static str,
    /// The directory's name under [`std::env::temp_dir`], before `-PID`.
    dir_prefix: &'static str,
    /// The outcome of the one start attempt; a failure is kept so that every later
    /// caller panics with the same message instead of retrying.
    started: OnceLock<Result<Running, String>>,
    stopped: AtomicBool,
}

/// A started service.
pub(crate) struct Running {
    /// The directory the script keeps the server in.
    pub(crate) dir: PathBuf,
    /// The URL that `start` printed.
    pub(crate) url: String,
    /// The write end of the guard's stdin. Never dropped (it lives in a static):
    /// the kernel closes it when the process ends, which tells the guard to stop
    /// the server.
    _guard: ChildStdin,
}

impl ServiceScript {
    /// The service of `scripts/{name}`, whose `start` prints a URL beginning with
    /// `url_prefix`, kept in `{temp_dir}/{dir_prefix}-{pid}`.
    pub(crate) const fn new(
        name: &'static str,
        url_prefix: &'static str,
        dir_prefix: &'static str,
    ) -> Self {
        Self {
            name,
            url_prefix,
            dir_prefix,
            started: OnceLock::new(),
            stopped: AtomicBool::new(false),
        }
    }

    /// The running service, started on the first call (concurrent first calls
    /// start one). After [`stop_and_wait`](Self::stop_and_wait) it is still
    /// returned, dead.
    ///
    /// # Panics
    ///
    /// If the service cannot be started; the message names the script and carries
    /// its stderr.
    pub(crate) fn running(&self) -> &Running {
        match self.started.get_or_init(|| self.start()) {
            Ok(running) => running,
            Err(message) => panic!("{message}"),
        }
    }

    /// Runs `scripts/NAME COMMAND DIR ARG`, a command that makes `ARG` in the
    /// running service and prints its URL, and returns that URL, which begins with
    /// `prefix`. `caller` names the public function in the panic message.
    ///
    /// # Panics
    ///
    /// If the service cannot be started, was stopped by
    /// [`stop_and_wait`](Self::stop_and_wait), or the command fails or prints
    /// anything else; the message carries the script's stderr.
    pub(crate) fn make(&self, caller: &str, command: &str, arg: &str, prefix: &str) -> String {
        let running = self.running();
        assert!(
            !self.stopped.load(Ordering::SeqCst),
            "{CRATE}: {caller} called after stop_and_wait; this process's {} server is gone",
            self.name
        );
        self.run(&[
            OsStr::new(command),
            running.dir.as_os_str(),
            OsStr::new(arg),
        ])
        .and_then(|stdout| self.expect_url(stdout, prefix))
        .unwrap_or_else(|message| panic!("{message}"))
    }

    /// Runs `scripts/NAME COMMAND`, a command that needs no running service (it
    /// finds or installs a program, say) and prints one line beginning with
    /// `prefix`, and returns that line.
    ///
    /// # Panics
    ///
    /// If the command fails or prints anything else; the message carries the
    /// script's stderr.
    pub(crate) fn query(&self, command: &str, prefix: &str) -> String {
        let line = self
            .run(&[OsStr::new(command)])
            .unwrap_or_else(|message| panic!("{message}"));
        assert!(
            is_one_url(&line, prefix),
            "{CRATE}: scripts/{} {command} printed {line:?} where one line beginning with {prefix} was expected",
            self.name
        );
        line
    }

    /// Stops the service, waits until the server has exited, and deletes its
    /// directory. Does nothing if it was never started or is already stopped.
    ///
    /// # Panics
    ///
    /// If `scripts/NAME stop` fails.
    pub(crate) fn stop_and_wait(&self) {
        let Some(Ok(running)) = self.started.get() else {
            return;
        };
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(message) = self.run(&[OsStr::new("stop"), running.dir.as_os_str()]) {
            panic!("{message}");
        }
    }

    fn script(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts")
            .join(self.name)
    }

    fn start(&self) -> Result<Running, String> {
        let dir = std::env::temp_dir().join(format!("{}-{}", self.dir_prefix, std::process::id()));
        if dir.exists() {
            // Left by an earlier process that had our id and whose guard did not get
            // to it; nothing of ours can be in it yet.
            self.run(&[OsStr::new("stop"), dir.as_os_str()])?;
        }
        let script = self.script();
        let shown = format!("{} start {}", script.display(), dir.display());
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(GUARD)
            .arg(format!("{}-guard", self.dir_prefix))
            .arg(&script)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        own_process_group(&mut command);
        let mut guard = command
            .spawn()
            .map_err(|error| format!("{CRATE}: cannot spawn `sh` to run `{shown}`: {error}"))?;
        let (Some(stdin), Some(mut stdout), Some(mut stderr)) =
            (guard.stdin.take(), guard.stdout.take(), guard.stderr.take())
        else {
            return Err(format!("{CRATE}: the guard `sh` came without its pipes"));
        };
        // stderr on a thread of its own: an apt-get or pip install can print more
        // than a pipe holds while we wait for stdout.
        let stderr_reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        let mut out = Vec::new();
        let read = stdout.read_to_end(&mut out);
        let err = stderr_reader.join().unwrap_or_default();
        let out = String::from_utf8_lossy(&out).trim().to_owned();
        if read.is_ok() && is_one_url(&out, self.url_prefix) {
            // The guard lives on, waiting for this process to end.
            return Ok(Running {
                dir,
                url: out,
                _guard: stdin,
            });
        }
        // Had the script started a server after all, closing the pipe stops it.
        drop(stdin);
        let status = guard.wait().map_or_else(
            |error| format!("status unknown: {error}"),
            |status| status.to_string(),
        );
        let printed = match read {
            Err(error) => format!("; reading its output failed: {error}"),
            Ok(_) if out.is_empty() => String::new(),
            Ok(_) => format!(
                "; it printed {out:?} where one {} URL was expected",
                self.url_prefix
            ),
        };
        Err(format!(
            "{CRATE}: `{shown}` failed ({status}){printed}; its stderr:\n{}",
            String::from_utf8_lossy(&err).trim_end()
        ))
    }

    /// Runs `scripts/NAME ARGS...` and returns its stdout, trimmed; on failure, a
    /// message naming the command and carrying its stderr.
    fn run(&self, args: &[&OsStr]) -> Result<String, String> {
        let script = self.script();
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
            .map_err(|error| format!("{CRATE}: cannot run `{shown}`: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "{CRATE}: `{shown}` failed ({}); its stderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    fn expect_url(&self, stdout: String, prefix: &str) -> Result<String, String> {
        if is_one_url(&stdout, prefix) {
            Ok(stdout)
        } else {
            Err(format!(
                "{CRATE}: scripts/{} printed {stdout:?} where one {prefix} URL was expected",
                self.name
            ))
        }
    }
}

fn is_one_url(text: &str, prefix: &str) -> bool {
    text.starts_with(prefix) && !text.contains('\n')
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
