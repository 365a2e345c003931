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
//!
//! ## Recording any call: `#[record]`
//!
//! The tower layers record HTTP and gRPC calls. Any other call out of the process (a
//! database query, a cache, a client SDK) becomes a recorded boundary with the
//! [`record`](macro@record) attribute: recorded with its arguments (a map from argument
//! name to value, redacted by name like everything else) and its return value while a
//! recording is current, and answered from the recording in replay, where the body
//! does not run. Outside a recording it costs a few nanoseconds.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::time::Duration;
//!
//! use retrace::context::RetraceContext;
//! use retrace::replay::{ReplayOptions, ReplaySession};
//! use retrace::{Config, Outcome, RecordReason, Recorder, StartOptions, Store};
//!
//! static LOOKUPS: AtomicUsize = AtomicUsize::new(0);
//!
//! #[retrace::record(name = "rates.lookup")]
//! fn rate(currency: &str) -> f64 {
//!     LOOKUPS.fetch_add(1, Ordering::Relaxed); // the real call: an API, a database...
//!     if currency == "EUR" { 1.08 } else { 1.0 }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let config = Config::builder()
//!     .enabled(true)
//!     .service("docs")
//!     .recording_path(dir.path())
//!     .build()?;
//! let (recorder, _guard) = Recorder::new(config)?;
//!
//! // Recording: the call is made and recorded.
//! let handle = recorder.start(StartOptions::new(RecordReason::Sampled)).unwrap();
//! {
//!     let _current = RetraceContext::Recording(handle.clone()).enter();
//!     assert_eq!(rate("EUR"), 1.08);
//! }
//! handle.finish(Some(200), Outcome::Completed);
//! recorder.flush(Duration::from_secs(5))?;
//! let recording = Store::open(dir.path())?.get(&handle.id().to_string())?;
//!
//! // Replay: answered from the recording, the real call not made.
//! let redaction = recorder.redaction().unwrap().clone();
//! let session = ReplaySession::new(&recording, ReplayOptions::default(), redaction);
//! let _current = RetraceContext::Replay(session).enter();
//! assert_eq!(rate("EUR"), 1.08);
//! assert_eq!(LOOKUPS.load(Ordering::Relaxed), 1);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

pub mod arena;
pub mod audit;
mod boundary;
pub mod config;
pub mod content_coding;
pub mod context;
pub mod diff;
pub mod encryption;
pub mod event;
mod hand_off;
pub mod id;
pub mod json;
pub mod json_path;
#[doc(hidden)]
pub mod macro_support;
pub mod metadata;
#[doc(hidden)]
pub mod names;
pub mod policy;
pub mod recorder;
pub mod redaction;
pub mod replay;
pub mod segment;
#[cfg(feature = "ship")]
pub mod ship;
pub mod stats;
pub mod store;
pub mod summary;
mod writer;

pub use audit::{AuditEntry, AuditError, AuditLog};
pub use boundary::{Begun, BoundaryCall, SealedReplay, boundary, boundary_async, now, random};
pub use config::{Config, ConfigBuilder, ConfigError, DiskPolicy, FlushPolicy};
pub use diff::{Diff, NoiseRuleError, NoiseRules, ResponseView, diff_responses};
pub use event::{
    Begin, BodyChunk, BodyEnd, CallOutcome, Chunk, End, Event, Header, KeepCause, Loss, NamedValue,
    OutboundCall, OutboundResult, Outcome, RecordReason, RequestHead, ResponseHead, ValueKind,
    WholeBody,
};
pub use id::{
    CaptureId, IdError, RECORDING_ID_LEN, RecordingId, SpanId, TRACEPARENT_LEN, TraceId,
    TraceParent,
};
pub use macro_support::RecordedError;
pub use recorder::{
    FlushError, Recorder, RecorderError, RecorderGuard, RecordingHandle, ShutdownError,
    StartOptions,
};
pub use redaction::{Redaction, RedactionBuilder, RedactionError, RedactionMode};
/// Records a function's calls and replays them. The
/// [crate docs](crate#recording-any-call-record) show a call recorded and replayed end
/// to end, and `examples/repository.rs` a repository that wraps a client.
///
pub use retrace_macros::record;
pub use stats::{DropReason, ShippingStats, Stats, WriteLatency};
pub use store::{Listing, Problem, Recording, RecordingInfo, Store, StoreError};
pub use summary::Summary;
pub use writer::SessionError;
