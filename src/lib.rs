//! # Retrace: record and replay for tower services
//!
//! This is the core crate: the event model, the recorder and its background writer, the
//! crash-safe segment format and the store that reads recordings back. It has no async
//! runtime and no tower dependency; the tower layers live in `retrace-tower` and the
//! command-line tool in `retrace-cli`.
//!
//! The path of a recording:
//! 1. [`Recorder::start`] returns a [`RecordingHandle`]; the code at the process boundary
//!    adds [`Event`]s to it (the request, each outgoing call and its answer, values such
//!    as the clock, the response).
//! 2. When the recording ends, the handle sends its events as one message over a
//!    bounded channel to the writer thread; a full channel drops and counts, never waits.
//! 3. The writer encodes (postcard), compresses (lz4) and appends frames to segment files
//!    in a per-process session directory under the recording path.
//! 4. [`Store::open`] lists recordings from the segment indexes and reads them back,
//!    tolerating a torn tail and reporting corruption by file and offset.
//!
//! See [`config`] for the settings and their environment variables.

#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

mod boundary;
pub mod config;
pub mod context;
pub mod diff;
pub mod event;
pub mod id;
pub mod metadata;
pub mod names;
pub mod policy;
pub mod recorder;
pub mod redaction;
pub mod replay;
pub mod segment;
pub mod stats;
pub mod store;
pub mod summary;
mod writer;

pub use boundary::{SealedReplay, boundary, boundary_async, now, random};
pub use config::{Config, ConfigBuilder, ConfigError, DiskPolicy, FlushPolicy};
pub use diff::{Diff, NoiseRuleError, NoiseRules, ResponseView, diff_responses};
pub use event::{
    Begin, Body, BodyChunk, BodyEnd, CallOutcome, Chunk, End, Event, Header, KeepCause, Loss,
    NamedValue, OutboundCall, OutboundResult, Outcome, RecordReason, RequestHead, ResponseHead,
    ValueKind,
};
pub use id::{
    IdError, RECORDING_ID_LEN, RecordingId, SpanId, TRACEPARENT_LEN, TraceId, TraceParent,
};
pub use recorder::{
    FlushError, Recorder, RecorderError, RecorderGuard, RecordingHandle, ShutdownError,
    StartOptions,
};
pub use redaction::{Redaction, RedactionBuilder, RedactionError, RedactionMode};
pub use stats::{DropReason, Stats};
pub use store::{Listing, Problem, Recording, RecordingInfo, Store, StoreError};
pub use summary::Summary;
pub use writer::SessionError;
