//! # retrace-tower: the tower face of Retrace
//!
//! Layers that record what crosses a service's boundary, for the core recorder in
//! [`retrace`]:
//! - [`RecordLayer`]: the server layer a team adds to its axum or hyper server;
//! - [`ClientLayer`]: wraps an HTTP client so outgoing calls are recorded, and answered
//!   from the recording during replay;
//! - [`BoundaryLayer`]: the same for any service whose requests and responses serialize
//!   (a database or cache client wrapped as a service);
//! - [`replay_recording()`]: runs a recording through a service in-process and reports the diff;
//! - [`Regression`]: replays a directory of recordings as a test suite, with an accept
//!   mode for intended changes.
//!
//! With the `reqwest` feature, `reqwest::RetraceMiddleware` does for a
//! `reqwest_middleware` client what `ClientLayer` does for tower clients.
//!
//! Everything here is runtime-agnostic: no tokio, only `tower`, `http` and
//! `http-body`.

#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![deny(rust_2018_idioms)]
#![forbid(unsafe_code)]

/// `get_ref`, `get_mut` and `into_inner` for a middleware service whose wrapped
/// service is its `inner` field, as tower-http's services have them.
macro_rules! inner_service_access {
    ($($service:ident),* $(,)?) => {$(
        impl<S> $service<S> {
            /// The wrapped service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The wrapped service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The wrapped service, unwrapped.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    )*};
}

#[cfg(feature = "admin")]
pub mod admin;
pub mod boundary;
mod call;
mod capture;
pub mod client;
#[cfg(feature = "openfeature")]
pub mod openfeature;
pub mod record;
pub mod regression;
pub mod replay;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "reqwest-0-12")]
pub mod reqwest_0_12;
#[cfg(any(feature = "reqwest", feature = "reqwest-0-12"))]
mod reqwest_adapter;

pub use boundary::{Boundary, BoundaryError, BoundaryLayer};
pub use client::{ClientError, ClientLayer, RecordedClient};
pub use record::{RecordBody, RecordLayer};
pub use regression::{Regression, RegressionError};
pub use replay::{Replay, ReplayError, ReplayReport, replay_recording};
