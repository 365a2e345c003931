//! The [`Recorder`]: starts recordings and hands them to a background writer.
//!
//! Shaped after tracing-appender's non-blocking writer: [`Recorder::new`] returns a
//! cloneable handle and a `#[must_use]` [`RecorderGuard`] that flushes and closes the
//! session when dropped. Sending is lossy by default: a full channel or an exhausted byte
//! budget drops the recording and counts it by reason; nothing on the request path ever
//! blocks on the disk, returns an error or panics because recording failed.
//!
//! ```
//! use retrace::{Config, Recorder, RecordReason, StartOptions, Outcome};
//! # let dir = tempfile::tempdir().unwrap();
//! let config = Config::builder()
//!     .enabled(true)
//!     .recording_path(dir.path())
//!     .service("demo")
//!     .build()?;
//! let (recorder, guard) = Recorder::new(config)?;
//! if let Some(recording) = recorder.start(StartOptions::new(RecordReason::Manual)) {
//!     // ... record events ...
//!     recording.finish(Some(200), Outcome::Completed);
//! }
//! let stats = guard.shutdown()?;
//! assert_eq!(stats.written, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod copies;
mod guard;
mod handle;
mod policy_watch;
#[cfg(feature = "ship")]
mod shipping;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use once_cell::sync::OnceCell;

use crate::hand_off::{Accounting, BufferPool, Message, WriterPause};
pub use guard::{RecorderGuard, ShutdownError};
pub use handle::{RecordingHandle, StartOptions};

use crate::config::Config;
use crate::stats::Stats;
use crate::writer::{self, SessionError};

/// Why a recorder could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The configuration is invalid (see [`Config::validate`]).
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The policy file (`RETRACE_POLICY_FILE`) cannot be used.
    #[error(transparent)]
    PolicyFile(#[from] crate::policy::PolicyFileError),
    /// The decision policy the configuration describes is invalid.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The session directory could not be created.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The writer thread could not be spawned.
    #[error("could not start the writer thread: {0}")]
    Thread(std::io::Error),
    /// The shipping thread (`RETRACE_SHIP_URL`) could not start: its journal cannot be
    /// opened, say.
    #[cfg(feature = "ship")]
    #[error("could not start shipping: {0}")]
    Ship(#[source] crate::ship::ShipError),
    /// [`Recorder::install`] was called twice.
    #[error("a process-wide recorder is already installed")]
    AlreadyInstalled,
}

/// Why a flush did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The writer did not answer in time (the channel stayed full or the disk is slow).
    #[error("the writer did not acknowledge the flush within {0:?}")]
    Timeout(Duration),
    /// The writer has shut down.
    #[error("the writer has shut down")]
    WriterGone,
    /// Recordings were still open when the time was up (see [`Recorder::wait_settled`]).
    #[error(
        "{open} recording(s) still open after {timeout:?} (a response body not read to its end, or a handle still held)"
    )]
    Unsettled {
        /// Recordings started but neither written, discarded nor dropped.
        open: u64,
        /// How long it waited.
        timeout: Duration,
    },
}

/// State shared by the recorder, its handles and its guard.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tx: Sender<Message>,
    pub(crate) accounting: Arc<Accounting>,
    pub(crate) closed: AtomicBool,
    pub(crate) pause: Arc<WriterPause>,
    pub(crate) session_dir: PathBuf,
    pub(crate) config: Arc<Config>,
    pub(crate) buffers: Arc<BufferPool>,
    /// The configuration's redaction with the trigger header's name added.
    pub(crate) redaction: crate::Redaction,
    /// The decision policy, shared by the recorder's layers.
    pub(crate) policy: crate::policy::Policy,
}

/// Holds the writer still until dropped (see [`Recorder::pause_writer`]).
#[derive(Debug)]
#[must_use = "the writer resumes when this is dropped"]
pub struct WriterPauseGuard {
    pause: Arc<WriterPause>,
}

impl Drop for WriterPauseGuard {
    fn drop(&mut self) {
        self.pause.set(false);
    }
}

/// Starts recordings and hands them to the background writer. Cheap to clone.
///
/// A recorder built from a configuration with recording off is inert: it starts no
/// thread, creates no file, and [`start`](Self::start) returns `None`.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    shared: Option<Arc<Shared>>,
}

static GLOBAL: OnceCell<Recorder> = OnceCell::new();

impl Recorder {
    /// Starts a recorder (and its writer thread, when recording is on), after checking
    /// the whole configuration ([`Config::validate`]) and building its decision
    /// [`Policy`](crate::policy::Policy): what is wrong with either is an error here, so
    /// the layers built on the recorder cannot fail.
    pub fn new(config: Config) -> Result<(Recorder, RecorderGuard), RecorderError> {
        config.validate()?;
        if !config.enabled {
            return Ok((Recorder { shared: None }, RecorderGuard::inert()));
        }
        let policy = config.policy()?.build()?;
        let policy_watch = config
            .policy_file
            .clone()
            .map(|path| policy_watch::PolicyWatch::start(policy.clone(), path))
            .transpose()?;
        let config = Arc::new(config);
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
        let accounting = Arc::new(Accounting::new(config.max_in_flight_bytes));
        let pause = Arc::new(WriterPause::default());
        let session = writer::Session::create(&config)?;
        let buffers = Arc::new(BufferPool::new());
        let shared = Arc::new(Shared {
            tx,
            accounting: Arc::clone(&accounting),
            closed: AtomicBool::new(false),
            pause: Arc::clone(&pause),
            session_dir: session.dir().to_path_buf(),
            redaction: config.redaction.with_secret_name(&config.trigger_header),
            config: Arc::clone(&config),
            buffers: Arc::clone(&buffers),
            policy,
        });
        let thread = writer::spawn(session, Arc::clone(&config), rx, accounting, pause, buffers)
            .map_err(RecorderError::Thread)?;
        #[cfg(feature = "ship")]
        let shipping = config
            .ship_url
            .as_deref()
            .map(|url| {
                shipping::ShipLoop::start(
                    config.recording_path.clone(),
                    url,
                    config.ship_interval,
                    config.ship_delete,
                    Arc::clone(&shared.accounting),
                )
            })
            .transpose()
            .map_err(RecorderError::Ship)?;
        #[allow(unused_mut)]
        let mut guard = RecorderGuard::new(Arc::clone(&shared), thread, policy_watch);
        #[cfg(feature = "ship")]
        {
            guard.shipping = shipping;
        }
        Ok((
            Recorder {
                shared: Some(shared),
            },
            guard,
        ))
    }

    /// Starts the process-wide recorder that layers use when none is given explicitly.
    pub fn install(config: Config) -> Result<RecorderGuard, RecorderError> {
        if GLOBAL.get().is_some() {
            return Err(RecorderError::AlreadyInstalled);
        }
        let (recorder, guard) = Self::new(config)?;
        GLOBAL
            .set(recorder)
            .map_err(|_| RecorderError::AlreadyInstalled)?;
        Ok(guard)
    }

    /// The process-wide recorder, if one was installed.
    pub fn global() -> Option<&'static Recorder> {
        GLOBAL.get()
    }

    /// A recorder that records nothing.
    pub fn disabled() -> Self {
        Self { shared: None }
    }

    /// Whether this recorder records (configured on and not shut down).
    pub fn is_enabled(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| !s.closed.load(Ordering::Relaxed))
    }

    /// The configuration the recorder runs with; `None` when recording is off.
    pub fn config(&self) -> Option<&Config> {
        self.shared.as_deref().map(|s| &*s.config)
    }

    /// What every capture point recording through this recorder redacts: the
    /// configuration's [`Redaction`](crate::Redaction) with the trigger header's name
    /// added; `None` when recording is off.
    pub fn redaction(&self) -> Option<&crate::Redaction> {
        self.shared.as_deref().map(|s| &s.redaction)
    }

    /// The decision policy built from the configuration, shared by every layer of
    /// this recorder (changing it through one layer's handle changes it for all); a
    /// policy that records nothing when recording is off.
    pub fn policy(&self) -> crate::policy::Policy {
        self.shared
            .as_ref()
            .map_or_else(crate::policy::Policy::off, |s| s.policy.clone())
    }

    /// Starts a recording; `None` when recording is off or the recorder has shut down
    /// (a request that asks for one after the shutdown is counted as declined,
    /// [`DropReason::AfterShutdown`](crate::stats::DropReason::AfterShutdown)).
    pub fn start(&self, options: StartOptions) -> Option<RecordingHandle> {
        let shared = self.shared.as_ref()?;
        if shared.closed.load(Ordering::Relaxed) {
            shared
                .accounting
                .counters
                .decline(crate::stats::DropReason::AfterShutdown);
            return None;
        }
        Some(RecordingHandle::start(Arc::clone(shared), options))
    }

    /// Counts a request a record layer saw, recorded or not. For the layers' own use.
    #[doc(hidden)]
    pub fn count_request(&self) {
        if let Some(s) = &self.shared {
            crate::stats::Counters::add(&s.accounting.counters.requests_seen, 1);
        }
    }

    /// Messages waiting in the hand-off channel now.
    pub fn queue_depth(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.tx.len())
    }

    /// Counts a request that was chosen for recording but not started (by a layer
    /// enforcing a limit, say). For the layers' own use.
    #[doc(hidden)]
    pub fn count_declined(&self, reason: crate::stats::DropReason) {
        if let Some(s) = &self.shared {
            s.accounting.counters.decline(reason);
        }
    }

    /// A snapshot of the counters; all zero when recording is off.
    pub fn stats(&self) -> Stats {
        self.shared
            .as_ref()
            .map(|s| s.accounting.counters.snapshot())
            .unwrap_or_default()
    }

    /// The directory this process's session writes to.
    pub fn session_dir(&self) -> Option<&Path> {
        self.shared.as_deref().map(|s| s.session_dir.as_path())
    }

    /// Writes out everything sent so far and waits for the writer to confirm, up to
    /// `timeout`. Blocks the caller: not for the request path.
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let shared = self.shared.as_ref().ok_or(FlushError::WriterGone)?;
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        shared
            .tx
            .send_timeout(Message::Flush(ack_tx), timeout)
            .map_err(|e| match e {
                crossbeam_channel::SendTimeoutError::Timeout(_) => FlushError::Timeout(timeout),
                crossbeam_channel::SendTimeoutError::Disconnected(_) => FlushError::WriterGone,
            })?;
        ack_rx.recv_timeout(timeout).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => FlushError::Timeout(timeout),
            crossbeam_channel::RecvTimeoutError::Disconnected => FlushError::WriterGone,
        })
    }

    /// Waits until every recording started so far has ended and is accounted for
    /// (written, discarded or dropped: [`Stats::open`] is 0), flushing as it goes, up
    /// to `timeout`; returns the counters then. For tests and tools that record and
    /// then read the store in one process: a server that was just dropped may still be
    /// finishing a response. Blocks the caller: not for the request path.
    pub fn wait_settled(&self, timeout: Duration) -> Result<Stats, FlushError> {
        const RECHECK: Duration = Duration::from_millis(2);
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let flushed = self.flush(left);
            let stats = self.stats();
            match flushed {
                Ok(()) if stats.open() == 0 => return Ok(stats),
                Err(FlushError::WriterGone) => return Err(FlushError::WriterGone),
                _ if Instant::now() >= deadline => {
                    return Err(FlushError::Unsettled {
                        open: stats.open(),
                        timeout,
                    });
                }
                _ => std::thread::sleep(RECHECK.min(left)),
            }
        }
    }

    /// Test hook: holds the writer still until the returned guard is dropped, as a
    /// stalled disk would. Recordings keep being accepted until the channel or the
    /// byte budget is full, then are dropped and counted.
    #[doc(hidden)]
    pub fn pause_writer(&self) -> Option<WriterPauseGuard> {
        let shared = self.shared.as_ref()?;
        shared.pause.set(true);
        Some(WriterPauseGuard {
            pause: Arc::clone(&shared.pause),
        })
    }
}
