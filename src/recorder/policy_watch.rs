//! Keeps the policy in step with the policy file (`RETRACE_POLICY_FILE`): a thread
//! that looks at the file's modification time and size every second and, when they
//! change, reads it again ([`Policy`]'s own rules for what a bad file does: nothing).
//!
//! Polling rather than file-system events: a Kubernetes ConfigMap is updated by
//! swapping a symlink, which event watchers on the file itself miss, and one `stat`
//! a second is nothing. The thread only exists while a policy file is configured, and
//! stops when the recorder's guard is dropped.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::policy::{Applied, Policy, PolicyFileError};

/// How often the file is looked at: a change is in force within two of these.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// The watching thread; dropping this stops it.
#[derive(Debug)]
pub(crate) struct PolicyWatch {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What identifies a version of the file.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .and_then(|m| Ok((m.modified()?, m.len())))
        .ok()
}

impl PolicyWatch {
    /// Puts the file in force (an error if it cannot be used: a bad file at start is a
    /// configuration error), then watches it.
    pub(crate) fn start(policy: Policy, path: PathBuf) -> Result<Self, PolicyFileError> {
        let mut applied = Applied::default();
        let seen = stamp(&path);
        policy.apply_file(&path, &mut applied)?;
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let thread = std::thread::Builder::new()
            .name("retrace-policy".to_owned())
            .spawn(move || watch(&policy, &path, applied, seen, &stopped))
            .map_err(PolicyFileError::Watcher)?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn watch(
    policy: &Policy,
    path: &Path,
    mut applied: Applied,
    mut seen: Option<(SystemTime, u64)>,
    stopped: &Receiver<()>,
) {
    loop {
        match stopped.recv_timeout(POLL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = stamp(path);
        if now == seen {
            continue;
        }
        seen = now;
        match policy.apply_file(path, &mut applied) {
            Ok(()) => tracing::info!(path = %path.display(), "retrace: policy file applied"),
            Err(e) => tracing::warn!("retrace: {e}; the policy in force stays"),
        }
    }
}

impl Drop for PolicyWatch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
