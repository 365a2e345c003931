//! The `reqwest-middleware` 0.4 adapter, for services on reqwest 0.12 (behind the
//! `reqwest-0-12` cargo feature): the same as [`reqwest`](crate::reqwest) for reqwest
//! 0.13, from the same code. In your `Cargo.toml` the crates keep their names
//! (`reqwest = "0.12"`, `reqwest-middleware = "0.4"`).
//!
//! ```
//! # use reqwest012 as reqwest;
//! # use reqwest_middleware04 as reqwest_middleware;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(retrace_tower::reqwest_0_12::RetraceMiddleware::new())
//!     .build();
//! # let _ = client;
//! ```

crate::reqwest_adapter::reqwest_adapter!(reqwest012, reqwest_middleware04);
