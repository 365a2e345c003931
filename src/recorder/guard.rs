//! [`RecorderGuard`]: flushes and closes the session when dropped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::policy_watch::PolicyWatch;
use super::{Message, Shared};
use crate::stats::Stats;

/// Why a shutdown did not complete cleanly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The writer did not finish within the configured shutdown timeout; data it had not
    /// yet written may be lost (and is counted once it is dropped).
    #[error("the writer did not finish within {0:?}")]
    Timeout(Duration),
    /// The writer thread had already stopped (it panicked).
    #[error("the writer thread had stopped unexpectedly")]
    WriterGone,
}

/// Keeps the writer running; dropping it writes out everything accepted so far, closes
/// the session and stops the writer, waiting at most the configured shutdown timeout.
///
/// Hold it for as long as the program records (in `main`, say). Dropping it early stops
/// recording: later recordings are not started.
#[must_use = "dropping the guard stops the writer; hold it for as long as the program records"]
#[derive(Debug)]
pub struct RecorderGuard {
    shared: Option<Arc<Shared>>,
    thread: Option<JoinHandle<()>>,
    policy_watch: Option<PolicyWatch>,
    /// The shipping thread, stopped after the writer so that it ships the last segment.
    #[cfg(feature = "ship")]
    pub(crate) shipping: Option<super::shipping::ShipLoop>,
}

impl RecorderGuard {
    pub(crate) fn inert() -> Self {
        Self {
            shared: None,
            thread: None,
            policy_watch: None,
            #[cfg(feature = "ship")]
            shipping: None,
        }
    }

    pub(crate) fn new(
        shared: Arc<Shared>,
        thread: JoinHandle<()>,
        policy_watch: Option<PolicyWatch>,
    ) -> Self {
        Self {
            shared: Some(shared),
            thread: Some(thread),
            policy_watch,
            #[cfg(feature = "ship")]
            shipping: None,
        }
    }

    /// Shuts the writer down now and returns the final counters.
    pub fn shutdown(mut self) -> Result<Stats, ShutdownError> {
        self.close()
    }

    fn close(&mut self) -> Result<Stats, ShutdownError> {
        drop(self.policy_watch.take());
        let Some(shared) = self.shared.take() else {
            return Ok(Stats::default());
        };
        shared.closed.store(true, Ordering::Relaxed);
        let timeout = shared.config.shutdown_timeout;
        let deadline = Instant::now() + timeout;
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        let sent = shared
            .tx
            .send_timeout(Message::Shutdown(ack_tx), timeout)
            .is_ok();
        let acked = sent
            && ack_rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok();
        let thread = self.thread.take();
        let result = if acked {
            match thread.map(JoinHandle::join) {
                Some(Err(_)) => Err(ShutdownError::WriterGone),
                _ => Ok(()),
            }
        } else if thread.as_ref().is_some_and(JoinHandle::is_finished) {
            Err(ShutdownError::WriterGone)
        } else {
            tracing::warn!(
                ?timeout,
                "retrace: the writer did not finish in time; unwritten recordings may be lost"
            );
            Err(ShutdownError::Timeout(timeout))
        };
        #[cfg(feature = "ship")]
        if let Some(mut shipping) = self.shipping.take() {
            // The writer has closed its last segment: one last pass ships it.
            shipping.finish(deadline.saturating_duration_since(Instant::now()));
        }
        let stats = shared.accounting.counters.snapshot();
        result.map(|()| stats)
    }
}

impl Drop for RecorderGuard {
    fn drop(&mut self) {
        // Errors were logged; a destructor has nowhere to return them.
        let _ = self.close();
    }
}
