//! The server record layer: decides per request, records what crosses the boundary.
//!
//! Add [`RecordLayer`] to an axum `Router`, a `tower::ServiceBuilder` or a hyper 1
//! server. For each request the [policy](retrace::policy) decides: skip (a pass-through
//! costing a branch and, when recording is on, one decision), record, or record
//! tentatively and keep only if the outcome asks for it.
//!
//! ```
//! use axum::{Router, routing::get};
//! use retrace::{Config, Recorder};
//! use retrace_tower::RecordLayer;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let (recorder, _guard) = Recorder::new(
//!     Config::builder().enabled(true).recording_path(dir.path()).sample_rate(0.1).build()?,
//! )?;
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(RecordLayer::new(recorder));
//! # let _ = app; Ok(()) }
//! ```
//!
//! # When each step happens
//! - **On `call`**: the decision; when recording, the request head is recorded
//!   (redacted), the recording id is added to the request's extensions as a
//!   [`RecordingId`](retrace::RecordingId), and the request body is wrapped.
//! - **While the service future is polled**: the recording is
//!   [current](retrace::context::RetraceContext), so client layers and
//!   `retrace::now()` find it.
//! - **When the future resolves**: the response head is recorded and the response body
//!   wrapped; a service error ends the recording as failed. A tentative recording
//!   whose status the tail-keep rule cannot keep (and no latency threshold that a slow
//!   body could still pass) is discarded here: its response is neither captured nor
//!   redacted, and carries no `x-retrace-recording-id`.
//! - **As body frames pass**: each is teed into the recording up to the body cap.
//! - **When the response body ends** (its last frame, `None`, an error, or a drop
//!   before the end): the recording ends and is handed to the writer; a tentative one
//!   is kept or discarded by the tail-keep rule. A future dropped before it resolved
//!   ends the recording as aborted.
//!
//! # Where to put it among compression and CORS layers
//!
//! A layer added later wraps the ones before it, so in axum
//! `.layer(RecordLayer).layer(CompressionLayer)` puts the record layer *inside*
//! compression: it sees the body the handler wrote.
//!
//! | Placement | What the recording holds | Replay |
//! |---|---|---|
//! | **inside compression** (recommended) | the plain body, redacted by its JSON and value detectors; no `content-encoding`, no `vary` | a compressed live answer is decoded before the comparison |
//! | outside compression | the same: a gzip, deflate, br or zstd body is decoded when it ends (within the body cap, on the request path, as redaction is) and recorded plain, without `content-encoding` and `content-length`; a body cut at the cap, or one that decodes past it, is recorded as cut with nothing captured, since its compressed bytes cannot be read by the detectors | as above |
//! | inside CORS (recommended) | no `access-control-*` or `vary` headers; a preflight `OPTIONS` is answered by CORS and never recorded | those headers in the live answer are default noise ([`OUTER_LAYER_HEADERS`](retrace::diff::OUTER_LAYER_HEADERS)) |
//! | outside CORS | the CORS headers as sent, and preflight requests as recordings of their own | the same headers compared, still default noise |
//!
//! Decoding happens only when the redaction reads bodies (the default); with
//! [`Redaction::disabled`](retrace::Redaction::disabled) a compressed body is recorded
//! as the bytes that passed.
//!
//! Put the record layer inside both, next to the routes: what it records is then what
//! the service said, with no decoding to pay for, and replay compares content whatever
//! the target's compression and CORS settings are. A decompression layer for request
//! bodies (`RequestDecompressionLayer`) belongs outside it, for the same reason.

mod body;
mod future;
mod layer;
mod service;

pub use body::RecordBody;
pub(crate) use future::FinishOnBodyEnd;
pub use future::ResponseFuture;
pub use layer::{LayerError, RECORDING_ID_HEADER, RecordLayer, RecordLayerBuilder};
pub use service::Record;
