//! Refusing calls that escape a sealed replay.
//!
//! A call made while no context is current goes to the real client: that is what
//! production does outside recorded requests. During a replay it means the call
//! escaped the replay's context (a task spawned without `.with_current_context()`),
//! and letting it through would talk to a real upstream from a laptop or a CI run. So a
//! client remembers the strict replay it last answered for; while that replay runs, a
//! context-less call through the same client (or a clone of it) is refused and named in
//! the replay's report. What this cannot see: a client the code never wrapped, and a
//! context-less call made before the replay's first call through that client. A client
//! shared by replays running at once (a `static` one, across parallel tests) blames an
//! escaped call on the last of them: give each replay its own client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use retrace::replay::ReplaySession;

/// The strict replay a client is answering for, if any is running.
#[derive(Debug, Default)]
pub(crate) struct SealWatch {
    /// Whether the client ever answered for a replay: outside tests this stays false
    /// and a context-less call costs one load.
    armed: AtomicBool,
    replay: Mutex<Weak<ReplaySession>>,
}

impl SealWatch {
    /// The client answers a call for `session`.
    pub(crate) fn replaying(&self, session: &Arc<ReplaySession>) {
        if session.options().strict {
            *self.replay.lock() = Arc::downgrade(session);
            self.armed.store(true, Ordering::Release);
        }
    }

    /// The sealed replay still running that a context-less call escaped from.
    pub(crate) fn escaped_from(&self) -> Option<Arc<ReplaySession>> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        self.replay.lock().upgrade()
    }
}
