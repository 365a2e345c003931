//! The boundary layer: record and replay any tower service whose requests and responses
//! serialize, such as a database or cache client wrapped as a service.
//!
//! With a recording current, each call's request and answer (or error text) are
//! recorded as a named boundary value. In replay, the answer comes from the recording,
//! matched by name and request in order, and the inner service is not called; a call the
//! recording lacks goes to the inner service and is reported as missing.
//!
//! ```
//! use retrace_tower::BoundaryLayer;
//! use tower::{Layer, service_fn};
//! # #[derive(serde::Serialize)] struct Get(String);
//! let cache = service_fn(|Get(key): Get| async move { Ok::<_, std::io::Error>(key.len() as u64) });
//! let cache = BoundaryLayer::new("cache.get").layer(cache);
//! # let _ = cache;
//! ```

mod future;
mod layer;
mod service;

pub use future::BoundaryFuture;
pub use layer::BoundaryLayer;
pub use service::{Boundary, BoundaryError};
