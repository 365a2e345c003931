//! A [`reqwest_middleware`] adapter, for services whose outgoing client is reqwest
//! (behind the `reqwest` cargo feature).
//!
//! ```
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(retrace_tower::reqwest::RetraceMiddleware::new())
//!     .build();
//! # let _ = client;
//! ```
//!
//! It behaves as [`ClientLayer`](crate::ClientLayer) does: a pass-through without a
//! current recording; recording: the call and its answer are recorded and `traceparent`
//! and `x-retrace-parent` added; replay: the answer comes from the recording. The answer's
//! body is read whole before it is handed on (reqwest responses cannot be teed), so a
//! streamed download is buffered while recorded. A request body that is a stream (not
//! bytes) is recorded as empty.

crate::reqwest_adapter::reqwest_adapter!(reqwest, reqwest_middleware);
