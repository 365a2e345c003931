//! [`RecordingHandle`]: one recording in progress.
//!
//! The handle buffers its recording's events and sends them to the writer as one message
//! when the recording ends, or in chunks once the buffer passes the chunk threshold, so
//! the request path touches the channel once per request in the common case. Handles are
//! cheap to clone (an `Arc`), so the server future, the body wrappers and concurrent
//! outgoing calls can all add to the same recording. A recording whose last handle is
//! dropped without [`finish`](RecordingHandle::finish) ends as aborted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::Shared;
use super::copies::Copies;
use crate::event::{
    Begin, Chunk, End, Event, Loss, OutboundCall, OutboundResult, Outcome, RecordReason,
};
use crate::hand_off::hand_off;
use crate::id::{RecordingId, TraceId};
use crate::stats::{Counters, DropReason};

/// How a recording starts.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// Why it is recorded (a tentative recording states its reason when kept).
    pub reason: RecordReason,
    /// The distributed trace, when known.
    pub trace_id: Option<TraceId>,
    /// Record speculatively: buffer everything, write only if
    /// [`finish_as`](RecordingHandle::finish_as) keeps it; [`discard`](RecordingHandle::discard)
    /// drops it without a byte written.
    pub tentative: bool,
    /// A limit on the recording's buffered size; events past it are dropped and the
    /// recording is marked truncated. `None`: no limit beyond the chunking.
    pub max_bytes: Option<usize>,
}

impl StartOptions {
    /// Options for a recording started for `reason`.
    pub fn new(reason: RecordReason) -> Self {
        Self {
            reason,
            trace_id: None,
            tentative: false,
            max_bytes: None,
        }
    }

    /// Sets the trace id.
    pub fn trace_id(mut self, trace_id: Option<TraceId>) -> Self {
        self.trace_id = trace_id;
        self
    }

    /// Makes the recording tentative.
    pub fn tentative(mut self, tentative: bool) -> Self {
        self.tentative = tentative;
        self
    }

    /// Limits the recording's size.
    pub fn max_bytes(mut self, max: Option<usize>) -> Self {
        self.max_bytes = max;
        self
    }
}

/// A recording in progress. Clone it freely; the clones share one buffer.
#[derive(Clone, Debug)]
pub struct RecordingHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: RecordingId,
    started: Instant,
    trace_id: Option<TraceId>,
    reason: RecordReason,
    tentative: bool,
    max_bytes: usize,
    seq: AtomicU32,
    state: Mutex<State>,
    /// Where the capture points copy what they keep; apart from `state`, so a head
    /// is redacted into it without holding up events recorded meanwhile (and `State`
    /// stays small: in it, the copies cost about 300 instructions a request more).
    copies: Mutex<Copies>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<Event>,
    buffered: usize,
    total: usize,
    next_chunk: u32,
    losses: Vec<Loss>,
    lost_chunks: u32,
    first_chunk_loss: Option<DropReason>,
    dropped_events: u64,
    ended: bool,
}

impl RecordingHandle {
    pub(crate) fn start(shared: Arc<Shared>, options: StartOptions) -> Self {
        let started_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let id = RecordingId::from_parts(started_unix_us / 1000, rand::random::<u128>());
        let mut copies = Copies::new();
        let (mut events, remnant) = shared.buffers.take_draining(|old| copies.salvage(old));
        if let Some(arena) = remnant {
            copies.bytes = arena.reclaimed();
        }
        events.push(Event::Begin(Begin {
            started_unix_us,
            trace_id: options.trace_id,
            tentative: options.tentative,
        }));
        Counters::add(&shared.accounting.counters.started, 1);
        shared
            .accounting
            .counters
            .decided(options.reason, options.tentative);
        Self {
            inner: Arc::new(Inner {
                id,
                started: Instant::now(),
                trace_id: options.trace_id,
                reason: options.reason,
                tentative: options.tentative,
                max_bytes: options.max_bytes.unwrap_or(usize::MAX),
                seq: AtomicU32::new(0),
                state: Mutex::new(State {
                    events,
                    ..State::default()
                }),
                copies: Mutex::new(copies),
                shared,
            }),
        }
    }

    /// The recording's id.
    pub fn id(&self) -> RecordingId {
        self.inner.id
    }

    /// The recording's trace id, when known.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.inner.trace_id
    }

    /// Why the recording was started.
    pub fn reason(&self) -> RecordReason {
        self.inner.reason
    }

    /// What capture points redact before adding an event to this recording: the
    /// recorder's one [`Redaction`](crate::Redaction).
    pub fn redaction(&self) -> &crate::Redaction {
        &self.inner.shared.redaction
    }

    /// The shared token that signs the parent header on outgoing calls: the trigger
    /// token in force (`RETRACE_TRIGGER_TOKEN`, or the policy file's). For the client
    /// layers' use.
    #[doc(hidden)]
    pub fn propagation_token(&self) -> Option<Arc<str>> {
        self.inner.shared.policy.propagation_token()
    }

    /// A copy of `data` for an event of this recording: small copies share the
    /// recording's buffers ([`ByteArena`](crate::arena::ByteArena)), so they cost no
    /// allocation of their own.
    /// The copy keeps its whole buffer alive (4 KiB at most, the recording's other
    /// copies in it): keep it no longer than the recording's events.
    pub fn copy_bytes(&self, data: &[u8]) -> bytes::Bytes {
        self.inner.copies.lock().bytes.copy(data)
    }

    /// A copy of `text` for an event of this recording (a call's target, say), in an
    /// allocation a written recording's events left where there is one (so its
    /// capacity may well exceed `text`'s length).
    pub fn copy_text(&self, text: &str) -> String {
        let mut copy = self.inner.copies.lock().text();
        copy.push_str(text);
        copy
    }

    /// Adds an outgoing call's start: [`record`](Self::record) of an
    /// [`Event::Call`], boxed in the box a written recording's call left where there
    /// is one.
    pub fn record_call(&self, call: OutboundCall) {
        let boxed = self.inner.copies.lock().boxed_call(call);
        self.record(Event::Call(boxed));
    }

    /// Adds an outgoing call's answer or failure: [`record`](Self::record) of an
    /// [`Event::CallResult`], boxed as [`record_call`](Self::record_call) boxes.
    pub fn record_call_result(&self, result: OutboundResult) {
        let boxed = self.inner.copies.lock().boxed_result(result);
        self.record(Event::CallResult(boxed));
    }

    /// Runs `f` with the recording's [`Copies`] (locked: `f` must not use the handle).
    pub(crate) fn with_copies<R>(&self, f: impl FnOnce(&mut Copies) -> R) -> R {
        f(&mut self.inner.copies.lock())
    }

    /// Whether the recording is tentative.
    pub fn is_tentative(&self) -> bool {
        self.inner.tentative
    }

    /// Microseconds since the recording started.
    pub fn elapsed_us(&self) -> u64 {
        self.inner.started.elapsed().as_micros() as u64
    }

    /// The next sequence number for an outgoing call or a value: unique and increasing
    /// within the recording, in the order they are asked for, even across threads.
    pub fn next_seq(&self) -> u32 {
        self.inner.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether the recording has ended.
    pub fn is_ended(&self) -> bool {
        self.inner.state.lock().ended
    }

    /// Adds an event. Never blocks on I/O and never fails: past the recording's size
    /// limit the event is counted and left out; after the end it is ignored.
    pub fn record(&self, event: Event) {
        let inner = &*self.inner;
        let size = event.approx_size();
        let mut state = inner.state.lock();
        if state.ended {
            return;
        }
        if state.total + size > inner.max_bytes {
            state.dropped_events += 1;
            return;
        }
        state.total += size;
        state.buffered += size;
        state.events.push(event);
        if !inner.tentative && state.buffered >= inner.shared.config.chunk_bytes {
            inner.send(&mut state, false);
        }
    }

    /// Records a value the code asked for (the clock, randomness, a boundary's answer),
    /// postcard-encoded, with the next sequence number.
    pub fn record_value(
        &self,
        kind: crate::event::ValueKind,
        name: &str,
        input: Option<bytes::Bytes>,
        value: bytes::Bytes,
    ) {
        self.record(Event::Value(crate::event::NamedValue {
            seq: self.next_seq(),
            kind,
            name: name.to_owned(),
            at_us: self.elapsed_us(),
            input,
            value,
        }));
    }

    /// Notes something cut from the recording (a body past its cap, say).
    pub fn note_loss(&self, loss: Loss) {
        let mut state = self.inner.state.lock();
        if !state.ended {
            state.losses.push(loss);
        }
    }

    /// Ends the recording for the reason it was started with, and sends it.
    pub fn finish(&self, status: Option<u16>, outcome: Outcome) {
        self.finish_as(status, outcome, self.inner.reason);
    }

    /// Ends the recording stating why it was kept (a tentative recording kept on an
    /// error, say), and sends it. Calls after the first are ignored.
    pub fn finish_as(&self, status: Option<u16>, outcome: Outcome, reason: RecordReason) {
        let mut state = self.inner.state.lock();
        self.inner.end(&mut state, status, outcome, reason);
    }

    /// Ends a tentative recording without keeping it: nothing is written, and it is
    /// counted as discarded.
    pub fn discard(&self) {
        let mut state = self.inner.state.lock();
        if state.ended {
            return;
        }
        state.ended = true;
        state.events = Vec::new();
        Counters::add(&self.inner.shared.accounting.counters.discarded, 1);
    }
}

impl Inner {
    fn end(&self, state: &mut State, status: Option<u16>, outcome: Outcome, reason: RecordReason) {
        if state.ended {
            return;
        }
        state.ended = true;
        let mut losses = std::mem::take(&mut state.losses);
        if state.dropped_events > 0 {
            losses.push(Loss::RecordingLimit {
                dropped_events: state.dropped_events,
            });
        }
        if let Some(reason) = state.first_chunk_loss {
            losses.push(Loss::ChunksDropped {
                chunks: state.lost_chunks,
                reason,
            });
        }
        if self.tentative && matches!(reason, RecordReason::KeptOnOutcome(_)) {
            self.shared.accounting.counters.decided(reason, false);
        }
        if let RecordReason::Capture(capture) = reason {
            self.shared
                .policy
                .add_capture_bytes(capture, state.total as u64);
        }
        state.events.push(Event::End(End {
            status,
            duration_us: self.started.elapsed().as_micros() as u64,
            outcome,
            reason,
            losses,
        }));
        self.send(state, true);
    }

    fn send(&self, state: &mut State, last: bool) {
        // What the message holds in memory: the events' contents, the buffer's slots
        // (used or not) and the chunk itself; and, with the last, what the recording's
        // copy buffers hold unused (freed with the events). Copies made after the end
        // are not kept: the copies left behind allocate each on its own.
        let bytes = state.buffered
            + (state.events.capacity() - state.events.len() + 2) * std::mem::size_of::<Event>()
            + std::mem::size_of::<Chunk>();
        let remnant =
            last.then(|| std::mem::replace(&mut *self.copies.lock(), Copies::unpooled()).bytes);
        let chunk = Chunk {
            id: self.id,
            seq: state.next_chunk,
            last,
            events: std::mem::replace(
                &mut state.events,
                if last {
                    Vec::new()
                } else {
                    self.shared.buffers.take()
                },
            ),
        };
        state.next_chunk += 1;
        state.buffered = 0;
        if let Err(reason) = hand_off(
            &self.shared.tx,
            &self.shared.accounting,
            chunk,
            bytes,
            remnant,
        ) {
            state.lost_chunks += 1;
            state.first_chunk_loss.get_or_insert(reason);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut state = std::mem::take(self.state.get_mut());
        if state.ended {
            return;
        }
        if self.tentative {
            // Nobody asked to keep it: abandoned before the outcome was known.
            state.ended = true;
            Counters::add(&self.shared.accounting.counters.discarded, 1);
            return;
        }
        let reason = self.reason;
        self.end(&mut state, None, Outcome::Aborted, reason);
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use crate::event::{BodyEnd, CallOutcome, RecordReason, RequestHead, ResponseHead, WholeBody};
    use crate::{Config, Recorder};

    use super::*;

    /// A recorder writing into `dir`.
    fn recorder_in(dir: &tempfile::TempDir) -> (Recorder, crate::RecorderGuard) {
        let config = Config::builder()
            .enabled(true)
            .service("reuse")
            .recording_path(dir.path())
            .build()
            .expect("config");
        Recorder::new(config).expect("recorder")
    }

    /// Headers `x-h0` to `x-h{n-1}`, each `v`.
    fn head_of(n: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for i in 0..n {
            let name = http::HeaderName::try_from(format!("x-h{i}")).expect("name");
            headers.insert(name, "v".parse().expect("value"));
        }
        headers
    }

    /// Where the box of the last event of `handle`, a call or a call's result, is.
    fn last_box(handle: &RecordingHandle) -> *const u8 {
        match handle.inner.state.lock().events.last() {
            Some(Event::Call(call)) => (&raw const **call).cast(),
            Some(Event::CallResult(result)) => (&raw const **result).cast(),
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn a_written_recordings_heads_are_reused_by_the_next_recording() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (recorder, guard) = recorder_in(&dir);
        let options = StartOptions::new(RecordReason::Sampled);
        let (long, short): (http::Uri, http::Uri) = (
            "/orders?page=2&size=50&sort=created".parse().expect("uri"),
            "/orders".parse().expect("uri"),
        );

        // A first head of five headers and a long URI, written...
        let first = recorder.start(options.clone()).expect("started");
        let redaction = first.redaction().clone();
        let head = RequestHead {
            method: "GET".into(),
            uri: redaction.uri_for(&long, &first),
            version: "HTTP/1.1".into(),
            headers: redaction.headers_for(&head_of(5), &first),
        };
        let (list_capacity, text_capacity) = (head.headers.capacity(), head.uri.capacity());
        first.record(Event::Request(head));
        first.finish(Some(200), Outcome::Completed);
        // The writer hands the buffer back before it acknowledges.
        recorder
            .flush(std::time::Duration::from_secs(10))
            .expect("flushed");

        // ...lends its allocations to the next recording's smaller head (new ones
        // would be the smaller head's size).
        let second = recorder.start(options).expect("started");
        let headers_again = redaction.headers_for(&head_of(2), &second);
        let uri_again = redaction.uri_for(&short, &second);
        assert_eq!(headers_again.capacity(), list_capacity);
        assert_eq!(uri_again.capacity(), text_capacity);
        assert_eq!(uri_again, "/orders");
        assert_eq!(headers_again.len(), 2);
        assert_eq!(headers_again[1].name.as_ref(), "x-h1");
        second.finish(Some(200), Outcome::Completed);
        guard.shutdown().expect("shutdown");
    }

    #[test]
    fn a_written_recordings_call_lends_its_boxes_and_its_copy_buffer_comes_back_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (recorder, guard) = recorder_in(&dir);
        let options = StartOptions::new(RecordReason::Sampled);
        let first = recorder.start(options.clone()).expect("started");
        let redaction = first.redaction().clone();
        let call_id = first.next_seq();
        // Every byte of the call copied into the recording's copy buffer.
        first.record_call(OutboundCall {
            call_id,
            target: first.copy_text("upstream:8080"),
            at_us: 1,
            head: RequestHead {
                method: "POST".into(),
                uri: "http://upstream:8080/stock".to_owned(),
                version: "HTTP/1.1".into(),
                headers: redaction.headers_for(&head_of(2), &first),
            },
            body: WholeBody {
                data: first.copy_bytes(b"{\"sku\":1}"),
                end: BodyEnd {
                    trailers: redaction.headers_for(&head_of(1), &first),
                    ..BodyEnd::default()
                },
            },
        });
        let call_at = last_box(&first);
        first.record_call_result(OutboundResult {
            call_id,
            duration_us: 5,
            outcome: CallOutcome::Response {
                head: ResponseHead {
                    status: 200,
                    version: "HTTP/1.1".into(),
                    headers: redaction.headers_for(&head_of(3), &first),
                },
                body: WholeBody {
                    data: first.copy_bytes(b"{\"available\":41}"),
                    end: BodyEnd::default(),
                },
            },
        });
        let result_at = last_box(&first);
        first.finish(Some(200), Outcome::Completed);
        recorder
            .flush(std::time::Duration::from_secs(10))
            .expect("flushed");

        // Nothing the next recording keeps of the call pins the copy buffer: it comes
        // back whole, and the call's boxes and target serve the next call.
        let second = recorder.start(options).expect("started");
        assert_eq!(
            second.with_copies(|copies| copies.bytes.unused()),
            crate::arena::CHUNK_BYTES,
            "the copy buffer reclaimed whole"
        );
        let target = second.copy_text("db:5432");
        assert_eq!(target, "db:5432");
        assert!(target.capacity() >= "upstream:8080".len());
        second.record_call(OutboundCall {
            call_id: second.next_seq(),
            target,
            at_us: 2,
            head: RequestHead {
                method: "GET".into(),
                uri: "http://db:5432/q".to_owned(),
                version: "HTTP/2.0".into(),
                headers: Vec::new(),
            },
            body: WholeBody::default(),
        });
        assert_eq!(last_box(&second), call_at);
        second.record_call_result(OutboundResult {
            call_id: 0,
            duration_us: 9,
            outcome: CallOutcome::Error("refused".to_owned()),
        });
        assert_eq!(last_box(&second), result_at);
        let Some(Event::Call(call)) = second
            .inner
            .state
            .lock()
            .events
            .iter()
            .rev()
            .nth(1)
            .cloned()
        else {
            panic!("the call is the event before last");
        };
        assert_eq!(
            (
                call.target.as_str(),
                call.head.uri.as_str(),
                call.head.version.as_ref()
            ),
            ("db:5432", "http://db:5432/q", "HTTP/2.0")
        );
        second.finish(Some(200), Outcome::Completed);
        guard.shutdown().expect("shutdown");
    }
}
