//! The client layer: records each outgoing call of a recorded request, and answers it
//! from the recording during replay.
//!
//! Wrap any HTTP client that is a tower `Service<http::Request<B>>` (hyper-util's legacy
//! `Client`, for one) in [`ClientLayer`]. What it does depends on the
//! [current context](retrace::context::RetraceContext) at `call`:
//! - **none**: a pass-through (one thread-local read);
//! - **recording**: the request body is collected (bodies sent by clients are bounded),
//!   the call recorded with its sequence number, `traceparent` and `x-retrace-parent`
//!   are added so the service called records the same flow, and the answer is recorded
//!   when its body ends (teed, never delayed);
//! - **replay**: the call is matched against the recording and answered from it without
//!   touching the network; in strict mode a call that matches nothing fails with
//!   [`ClientError::Unmatched`], naming the closest recorded call.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use retrace_tower::ClientLayer;
//! use tower::ServiceBuilder;
//!
//! let client = ServiceBuilder::new()
//!     .layer(ClientLayer::new())
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
//! # let _ = client;
//! ```

mod body;
mod future;
mod layer;
mod seal;
mod service;

pub use body::ClientBody;
pub use future::ClientFuture;
pub use layer::ClientLayer;
#[cfg(any(feature = "reqwest", feature = "reqwest-0-12"))]
pub(crate) use layer::DEFAULT_BODY_CAP;
#[cfg(any(feature = "reqwest", feature = "reqwest-0-12"))]
pub(crate) use seal::SealWatch;
pub(crate) use service::RecordCallResult;
pub use service::{ClientError, RecordedClient};
