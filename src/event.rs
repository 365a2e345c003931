//! The event model: everything that crosses the process boundary for one request.
//!
//! A recording is an ordered list of [`Event`]s. Every type here is plain data with
//! serde derives, encoded with postcard on disk. Bodies are [`Bytes`], so capturing a
//! frame is a reference-count increment, not a copy. Times inside a recording are
//! offsets in microseconds from its start, so they survive clock changes and compress
//! well; the start itself is wall-clock time.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::id::{RecordingId, TraceId};

/// Text that is usually one of a few well-known values (a method, an HTTP version, a
/// standard header name): borrowed from a static table when it is, so capturing a head
/// allocates only for what is particular to the request. Encoded as a plain string.
pub type Name = Cow<'static, str>;

/// One header line, kept in order; duplicates stay separate entries. Values are bytes
/// because HTTP allows non-UTF-8 header values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The header name, lower case as `http` normalises it.
    pub name: Name,
    /// The raw value.
    pub value: Bytes,
}

impl Header {
    /// A header from a name and value.
    pub fn new(name: impl Into<Name>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The head of an HTTP request, incoming or outgoing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHead {
    /// The method, such as `GET`.
    pub method: Name,
    /// The request target as received (path and query, or an absolute URI for clients).
    pub uri: String,
    /// The HTTP version, such as `HTTP/1.1`.
    pub version: Name,
    /// Headers in the order received, after redaction.
    pub headers: Vec<Header>,
}

impl RequestHead {
    /// The path part of [`uri`](Self::uri), without scheme, authority or query.
    pub fn path(&self) -> &str {
        let rest = match self.uri.find("://") {
            Some(scheme_end) => {
                let after = &self.uri[scheme_end + 3..];
                after.find('/').map_or("/", |slash| &after[slash..])
            }
            None => self.uri.as_str(),
        };
        rest.split(['?', '#']).next().unwrap_or(rest)
    }

    /// The first value of a header, by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        find_header(&self.headers, name)
    }
}

/// The head of an HTTP response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The HTTP version, such as `HTTP/1.1`.
    pub version: Name,
    /// Headers in order, after redaction.
    pub headers: Vec<Header>,
}

impl ResponseHead {
    /// The first value of a header, by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&Bytes> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a Bytes> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| &h.value)
}

/// One frame of a streamed body as it was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyChunk {
    /// Microseconds since the recording started.
    pub at_us: u64,
    /// The bytes of this frame (possibly cut at the body cap).
    pub data: Bytes,
}

/// How a body ended and how much of it was kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyEnd {
    /// Microseconds since the recording started.
    pub at_us: u64,
    /// Bytes that passed through, whether kept or not.
    pub total_len: u64,
    /// Bytes kept in the recording (less than `total_len` when the cap was hit).
    pub captured_len: u64,
    /// A digest of the whole body as it passed through, kept when the body was cut, so
    /// the uncaptured body can still be matched and compared.
    pub digest: Option<[u8; 32]>,
    /// Trailers, if the body had any (after redaction).
    pub trailers: Vec<Header>,
    /// Whether the body ran to its end (false: dropped or failed mid-way).
    pub finished: bool,
}

impl BodyEnd {
    /// Whether part of the body was not kept.
    pub fn truncated(&self) -> bool {
        self.captured_len < self.total_len
    }
}

/// A whole, buffered body: used for outgoing calls, whose bodies are captured as one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholeBody {
    /// The kept bytes.
    pub data: Bytes,
    /// How the body ended and how much was kept.
    pub end: BodyEnd,
}

/// The first event of every recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begin {
    /// Wall-clock start, microseconds since the Unix epoch.
    pub started_unix_us: u64,
    /// The distributed trace this request belongs to, when known.
    pub trace_id: Option<TraceId>,
    /// Whether the recording was speculative (kept only if the outcome asked for it).
    pub tentative: bool,
}

/// An outgoing call made while handling the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundCall {
    /// The call's sequence number within the recording, in the order calls started.
    pub call_id: u32,
    /// What was called: a host and port, a service name, a boundary name.
    pub target: String,
    /// Microseconds since the recording started.
    pub at_us: u64,
    /// The request as sent (after redaction).
    pub head: RequestHead,
    /// The request body as sent.
    pub body: WholeBody,
}

/// The answer to an outgoing call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundResult {
    /// The [`OutboundCall::call_id`] this answers.
    pub call_id: u32,
    /// How long the call took, in microseconds.
    pub duration_us: u64,
    /// The response, or the error text when the call failed.
    pub outcome: CallOutcome,
}

/// What an outgoing call returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallOutcome {
    /// The call answered.
    Response {
        /// The response head (after redaction).
        head: ResponseHead,
        /// The response body.
        body: WholeBody,
    },
    /// The call failed; the error's text.
    Error(String),
}

/// What kind of value the code asked the SDK for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueKind {
    /// The wall clock (`retrace::now()`).
    Clock,
    /// Randomness (`retrace::random()`).
    Random,
    /// A named boundary: any call the code routes through the SDK.
    Boundary,
    /// A database query or transaction step (`retrace-sqlx`): the input holds the SQL
    /// text and its bound arguments, the value its rows, rows affected or error.
    Query,
}

impl ValueKind {
    /// A short lower-case name: `clock`, `random`, `boundary`, `query`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clock => "clock",
            Self::Random => "random",
            Self::Boundary => "boundary",
            Self::Query => "query",
        }
    }
}

/// A value the code asked for, recorded so replay can return it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedValue {
    /// The value's sequence number within the recording (shared with outgoing calls).
    pub seq: u32,
    /// What kind of value it is.
    pub kind: ValueKind,
    /// Its name (`clock`, `random`, or the boundary's name).
    pub name: String,
    /// Microseconds since the recording started.
    pub at_us: u64,
    /// The postcard-encoded input, for boundaries that take one.
    pub input: Option<Bytes>,
    /// The postcard-encoded value.
    pub value: Bytes,
}

/// Why a request was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordReason {
    /// Ratio sampling chose it.
    Sampled,
    /// The trigger header asked for it.
    Header,
    /// A feature flag asked for it.
    Flag,
    /// An investigation window matched it.
    Window,
    /// The upstream service recorded this trace.
    Parent,
    /// A tentative recording kept because of its outcome.
    KeptOnOutcome(KeepCause),
    /// Started explicitly through the core API.
    Manual,
    /// A capture asked for it (started through the admin service or
    /// [`Policy::start_capture`](crate::policy::Policy::start_capture)). Appended last:
    /// a variant's index is its encoding (format 2.0).
    Capture(crate::id::CaptureId),
}

/// Why a tentative recording was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeepCause {
    /// The response status was in the keep set.
    Status,
    /// The inner service returned an error.
    Error,
    /// The request took longer than the threshold.
    Latency,
}

impl RecordReason {
    /// Every name [`as_str`](Self::as_str) gives, in a fixed order.
    pub const NAMES: [&'static str; 10] = [
        "sampled",
        "header",
        "flag",
        "window",
        "parent",
        "manual",
        "capture",
        "kept-on-status",
        "kept-on-error",
        "kept-on-latency",
    ];

    /// One reason of each kind, in the order of [`NAMES`](Self::NAMES) (a capture's
    /// id is 0): for tables and tests that must cover every reason.
    pub const EVERY_KIND: [RecordReason; 10] = [
        Self::Sampled,
        Self::Header,
        Self::Flag,
        Self::Window,
        Self::Parent,
        Self::Manual,
        Self::Capture(crate::id::CaptureId(0)),
        Self::KeptOnOutcome(KeepCause::Status),
        Self::KeptOnOutcome(KeepCause::Error),
        Self::KeptOnOutcome(KeepCause::Latency),
    ];

    /// A short lower-case name, as the CLI prints and filters it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sampled => "sampled",
            Self::Header => "header",
            Self::Flag => "flag",
            Self::Window => "window",
            Self::Parent => "parent",
            Self::KeptOnOutcome(KeepCause::Status) => "kept-on-status",
            Self::KeptOnOutcome(KeepCause::Error) => "kept-on-error",
            Self::KeptOnOutcome(KeepCause::Latency) => "kept-on-latency",
            Self::Manual => "manual",
            Self::Capture(_) => "capture",
        }
    }
}

/// How the request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The response was sent in full.
    Completed,
    /// The request or its response body was dropped before the end (client went away).
    Aborted,
    /// The service returned an error instead of a response; its text.
    Failed(String),
}

/// Something that was cut or lost from a recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// The request body passed the per-body cap.
    RequestBodyTruncated {
        /// Bytes that were not kept.
        dropped_bytes: u64,
    },
    /// The response body passed the per-body cap.
    ResponseBodyTruncated {
        /// Bytes that were not kept.
        dropped_bytes: u64,
    },
    /// The recording passed its byte limit; later events were not kept.
    RecordingLimit {
        /// Events that were not kept.
        dropped_events: u64,
    },
    /// Earlier chunks of this recording were dropped on the way to disk.
    ChunksDropped {
        /// How many chunks.
        chunks: u32,
        /// Why the first one was dropped.
        reason: crate::stats::DropReason,
    },
}

/// The last event of a recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// The response status, when there was a response.
    pub status: Option<u16>,
    /// Microseconds from start to end.
    pub duration_us: u64,
    /// How the request ended.
    pub outcome: Outcome,
    /// Why it was recorded.
    pub reason: RecordReason,
    /// What was cut or lost; empty for a complete recording.
    pub losses: Vec<Loss>,
}

/// One thing that happened at the process boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The recording started.
    Begin(Begin),
    /// The incoming request's head.
    Request(RequestHead),
    /// A frame of the incoming request's body.
    RequestBody(BodyChunk),
    /// The incoming request's body ended.
    RequestEnd(BodyEnd),
    /// An outgoing call started (boxed: it is the largest event, and keeping `Event`
    /// small keeps a recording's event buffer in the allocator's thread cache).
    Call(Box<OutboundCall>),
    /// An outgoing call answered or failed.
    CallResult(Box<OutboundResult>),
    /// A value the code asked for (clock, randomness, a boundary).
    Value(NamedValue),
    /// The response head.
    Response(ResponseHead),
    /// A frame of the response body.
    ResponseBody(BodyChunk),
    /// The response body ended.
    ResponseEnd(BodyEnd),
    /// The recording ended.
    End(End),
}

impl Event {
    /// A cheap estimate of the event's size in memory (the event itself plus what it
    /// owns), used for the in-flight byte budget and the chunk threshold.
    pub fn approx_size(&self) -> usize {
        const BASE: usize = std::mem::size_of::<Event>();
        fn headers(h: &[Header]) -> usize {
            h.iter().map(|h| h.name.len() + h.value.len() + 4).sum()
        }
        fn request(h: &RequestHead) -> usize {
            h.method.len() + h.uri.len() + h.version.len() + headers(&h.headers)
        }
        fn end(e: &BodyEnd) -> usize {
            headers(&e.trailers) + if e.digest.is_some() { 32 } else { 0 }
        }
        BASE + match self {
            Self::Begin(_) | Self::End(_) => 16,
            Self::Request(h) => request(h),
            Self::RequestBody(c) | Self::ResponseBody(c) => c.data.len(),
            Self::RequestEnd(e) | Self::ResponseEnd(e) => end(e),
            Self::Call(c) => c.target.len() + request(&c.head) + c.body.data.len(),
            Self::CallResult(r) => match &r.outcome {
                CallOutcome::Response { head, body } => {
                    headers(&head.headers) + body.data.len() + end(&body.end)
                }
                CallOutcome::Error(e) => e.len(),
            },
            Self::Value(v) => {
                v.name.len() + v.value.len() + v.input.as_ref().map_or(0, |i| i.len())
            }
            Self::Response(h) => h.version.len() + headers(&h.headers),
        }
    }
}

/// One piece of a recording as it travels to disk: a whole recording when it is small,
/// or one of several numbered chunks of a long one. The chunk with `last` set carries
/// the [`End`] event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The recording this belongs to.
    pub id: RecordingId,
    /// The chunk's number within the recording, from 0.
    pub seq: u32,
    /// Whether this is the recording's final chunk.
    pub last: bool,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Chunk {
    /// The estimated size of the chunk's events.
    pub fn approx_size(&self) -> usize {
        self.events.iter().map(Event::approx_size).sum::<usize>() + 16
    }
}
