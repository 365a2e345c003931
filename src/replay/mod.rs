//! Replay: answering a request's boundary crossings from its recording.
//!
//! A [`ReplaySession`] is built from a [`Recording`] and made current while the
//! recorded request runs through the service again (see `retrace_tower::replay`). The
//! client layers ask it for each outgoing call's answer and the free functions
//! ([`now`](crate::now), [`random`](crate::random), [`boundary`](crate::boundary)) for
//! their values, so the handler runs without the network and sees the recorded world.
//!
//! Calls are matched by method, URI and a digest of the body, in order of occurrence:
//! the first recorded call with the same key that has not been used answers. Strict
//! sessions fail a call that matches nothing, naming it and the closest recorded call
//! with what differed; lenient ones let it through to the real client. What was never
//! asked for and what matched nothing are both reported.

mod matching;
pub mod report_file;

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Serialize;

pub use matching::{CallKey, Closest, UnmatchedCall};
pub use report_file::{
    AnswerHeader, REPORT_FORMAT, ReplayKind, ReplayReportFile, ReplayedAnswer, ReportEntry,
    ReportFileError, Verdict,
};

use crate::event::{CallOutcome, Event, ValueKind};
use crate::store::Recording;

/// How a replay answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Fail calls that match no recorded call (otherwise they go to the real client).
    pub strict: bool,
    /// Let one recorded answer serve several identical calls.
    pub allow_repeats: bool,
    /// Also match calls on scheme, host and port (off: a recording answers the same
    /// code wherever its upstreams run).
    pub match_authority: bool,
}

impl Default for ReplayOptions {
    /// Strict, each answer used once.
    fn default() -> Self {
        Self {
            strict: true,
            allow_repeats: false,
            match_authority: false,
        }
    }
}

/// How a client layer should proceed with a call during replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallAnswer {
    /// Answer with this recorded outcome; the real client is not called.
    Recorded {
        /// The recorded call's id.
        call_id: u32,
        /// What it returned.
        outcome: CallOutcome,
    },
    /// Lenient mode, no match: call the real client.
    PassThrough,
}

/// A recorded call as the session keeps it.
#[derive(Clone, Debug)]
pub(crate) struct RecordedCall {
    pub(crate) call_id: u32,
    pub(crate) key: CallKey,
    pub(crate) outcome: Option<CallOutcome>,
    pub(crate) uses: u32,
}

#[derive(Clone, Debug)]
struct RecordedValue {
    kind: ValueKind,
    name: String,
    input: Option<Bytes>,
    value: Bytes,
    used: bool,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<RecordedCall>,
    values: Vec<RecordedValue>,
    answered: u32,
    unmatched: Vec<UnmatchedCall>,
    missing_values: Vec<String>,
    escaped: Vec<String>,
}

/// A function adjusting a call's key before matching (see
/// [`ReplaySession::with_call_key`]).
pub type CallKeyFn = Arc<dyn Fn(&mut CallKey) + Send + Sync>;

/// The state of one replay: recorded answers and what has been asked.
pub struct ReplaySession {
    options: ReplayOptions,
    redaction: crate::Redaction,
    key_fn: Option<CallKeyFn>,
    state: Mutex<State>,
}

/// What a replay session saw, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionReport {
    /// Calls answered from the recording.
    pub answered: u32,
    /// Calls that matched no recorded call.
    pub unmatched: Vec<UnmatchedCall>,
    /// Recorded calls never asked for: `(call id, method, uri)`.
    pub unused: Vec<(u32, String, String)>,
    /// Values asked for that the recording did not have (`kind name`).
    pub missing_values: Vec<String>,
    /// Calls refused because they ran outside the replay's context while a sealed
    /// replay of the same client was running (`GET /rates from a task without
    /// context`).
    pub escaped: Vec<String>,
}

impl std::fmt::Debug for ReplaySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplaySession")
            .field("options", &self.options)
            .field("key_fn", &self.key_fn.is_some())
            .finish_non_exhaustive()
    }
}

impl ReplaySession {
    /// Notes a call refused because it escaped the replay's context (a task spawned
    /// without it, say): `what` names it.
    pub fn note_escaped(&self, what: String) {
        self.state.lock().escaped.push(what);
    }

    /// The redaction applied to live calls before they are matched.
    pub fn redaction(&self) -> &crate::Redaction {
        &self.redaction
    }

    /// A session answering from `recording`; `redaction` is the one the recording was
    /// made with, applied to each live call before it is matched.
    pub fn new(
        recording: &Recording,
        options: ReplayOptions,
        redaction: crate::Redaction,
    ) -> Arc<Self> {
        Self::with_call_key(recording, options, redaction, None)
    }

    /// Like [`new`](Self::new), with a function that adjusts every call's key, recorded
    /// and live alike, before they are matched: drop a volatile query parameter, ignore
    /// the body of some calls, or add what the default key leaves out.
    pub fn with_call_key(
        recording: &Recording,
        options: ReplayOptions,
        redaction: crate::Redaction,
        key_fn: Option<CallKeyFn>,
    ) -> Arc<Self> {
        let adjusted = |mut key: CallKey| {
            if let Some(f) = &key_fn {
                f(&mut key);
            }
            key
        };
        let mut calls: Vec<RecordedCall> = recording
            .calls()
            .into_iter()
            .map(|c| RecordedCall {
                call_id: c.call.call_id,
                key: adjusted(CallKey::of_recorded(c.call)),
                outcome: c.result.map(|r| r.outcome.clone()),
                uses: 0,
            })
            .collect();
        calls.sort_by_key(|c| c.call_id);
        let values = recording
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Value(v) => Some(RecordedValue {
                    kind: v.kind,
                    name: v.name.clone(),
                    input: v.input.clone(),
                    value: v.value.clone(),
                    used: false,
                }),
                _ => None,
            })
            .collect();
        Arc::new(Self {
            options,
            redaction,
            key_fn,
            state: Mutex::new(State {
                calls,
                values,
                ..State::default()
            }),
        })
    }

    /// The session's options.
    pub fn options(&self) -> ReplayOptions {
        self.options
    }

    /// Answers an outgoing call, or says why it cannot.
    pub fn answer_call(&self, key: &CallKey) -> Result<CallAnswer, UnmatchedCall> {
        let adjusted;
        let key = match &self.key_fn {
            Some(f) => {
                adjusted = {
                    let mut k = key.clone();
                    f(&mut k);
                    k
                };
                &adjusted
            }
            None => key,
        };
        let mut state = self.state.lock();
        let ReplayOptions {
            allow_repeats,
            match_authority,
            ..
        } = self.options;
        // Calls with the same key are answered in recorded order.
        let found = state
            .calls
            .iter_mut()
            .find(|c| key.matches(&c.key, match_authority) && (c.uses == 0 || allow_repeats));
        if let Some(call) = found {
            call.uses += 1;
            let call_id = call.call_id;
            let outcome = call.outcome.clone().unwrap_or_else(|| {
                CallOutcome::Error("the recording holds no answer to this call".to_owned())
            });
            state.answered += 1;
            return Ok(CallAnswer::Recorded { call_id, outcome });
        }
        let unmatched = UnmatchedCall {
            method: key.method.clone(),
            uri: key.uri.clone(),
            closest: matching::closest(&state.calls, key, match_authority),
        };
        state.unmatched.push(unmatched.clone());
        if self.options.strict {
            Err(unmatched)
        } else {
            Ok(CallAnswer::PassThrough)
        }
    }

    /// The next recorded value of this kind, name and input, in order; `None` when the
    /// recording has no such value (noted for the report, naming a value recorded
    /// under the same name with another input when there is one). A boundary answers
    /// only its own input: a value recorded for another input is never returned.
    pub fn next_value(&self, kind: ValueKind, name: &str, input: Option<&[u8]>) -> Option<Bytes> {
        self.take_value(kind, name, input).ok()
    }

    /// Like [`next_value`](Self::next_value), but a miss returns the inputs of the
    /// values of this kind and name that are still unused, in recorded order, so the
    /// caller can name the closest one and what differed.
    pub fn take_value(
        &self,
        kind: ValueKind,
        name: &str,
        input: Option<&[u8]>,
    ) -> Result<Bytes, Vec<Option<Bytes>>> {
        let mut state = self.state.lock();
        let same = |v: &RecordedValue| !v.used && v.kind == kind && v.name == name;
        let pos = state
            .values
            .iter()
            .position(|v| same(v) && v.input.as_deref() == input);
        match pos {
            Some(i) => {
                state.values[i].used = true;
                Ok(state.values[i].value.clone())
            }
            None => {
                let unused: Vec<Option<Bytes>> = state
                    .values
                    .iter()
                    .filter(|v| same(v))
                    .map(|v| v.input.clone())
                    .collect();
                let why = if unused.is_empty() {
                    "not in the recording"
                } else {
                    "recorded only with another input"
                };
                state.missing_values.push(format!("{kind:?} {name}: {why}"));
                Err(unused)
            }
        }
    }

    /// What the session saw so far.
    pub fn report(&self) -> SessionReport {
        let state = self.state.lock();
        SessionReport {
            answered: state.answered,
            unmatched: state.unmatched.clone(),
            unused: state
                .calls
                .iter()
                .filter(|c| c.uses == 0)
                .map(|c| (c.call_id, c.key.method.clone(), c.key.uri.clone()))
                .collect(),
            missing_values: state.missing_values.clone(),
            escaped: state.escaped.clone(),
        }
    }
}
