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
//!     .layer(RecordLayer::new(recorder)?);
//! # let _ = app; Ok(()) }
//! ```
//!
//! # When each step happens
//! - **On `call`**: the decision; when recording, the request head is recorded
//!   (redacted), the recording id is added to the request's extensions as a
//!   [`RecordingId`](retrace::RecordingId), and the request body is wrapped.
//! - **While the service future is polled**: the recording is
//!   [current](retrace::context::Context), so client layers and
//!   `retrace::now()` find it.
//! - **When the future resolves**: the response head is recorded and the response body
//!   wrapped; a service error ends the recording as failed.
//! - **As body frames pass**: each is teed into the recording up to the body cap.
//! - **When the response body ends** (its last frame, `None`, an error, or a drop
//!   before the end): the recording ends and is handed to the writer; a tentative one
//!   is kept or discarded by the tail-keep rule. A future dropped before it resolved
//!   ends the recording as aborted.

mod body;
mod future;
mod layer;
mod service;

pub use body::RecordBody;
pub(crate) use future::FinishOnBodyEnd;
pub use future::ResponseFuture;
pub use layer::{LayerError, RECORDING_ID_HEADER, RecordLayer, RecordLayerBuilder};
pub use service::Record;
