//! Real services for tests and examples: one private PostgreSQL cluster, one
//! S3-compatible server and one WebDriver server with headless Chromium per test
//! process, each started on first use.
//!
//! Why: code that records and replays database and storage traffic has to be
//! tested against real servers, and the web viewer in a real browser. A mock
//! proves nothing about the wire or the page, and a test that quietly skips when
//! no server is around proves nothing at all, so this crate starts the servers
//! itself, through the project's own scripts, and panics, naming the cause, when
//! it cannot.
//!
//! - [`postgres`]: a cluster started by `scripts/postgres`; its functions are
//!   also here at the root ([`url`], [`fresh_database`], [`stop_and_wait`]), where
//!   they were before the crate served more than PostgreSQL.
//! - [`s3`]: moto's S3 server started by `scripts/s3`, with [`s3::env()`] for the
//!   clients.
//! - [`browser`]: chromedriver started by `scripts/chromium`, with
//!   [`browser::capabilities`] for a headless Chromium session.
//! - [`AwayPort`]: a loopback port that counts the connections a replay should
//!   never have made.
//!
//! Stopping: each server runs in a directory named after this process's id under
//! [`std::env::temp_dir`] and is stopped, and its directory deleted, when this
//! process ends, however it ends (a panic, an abort, a signal): its start script
//! runs under a small `sh` guard whose stdin is a pipe that only this process
//! holds open, and that stops the server once the kernel closes that pipe. A
//! test binary that wants to see a server gone stops it earlier with the
//! service's `stop_and_wait`.

mod away_port;
pub mod browser;
pub mod postgres;
pub mod s3;
mod service_script;

pub use away_port::AwayPort;
pub use postgres::{fresh_database, stop_and_wait, url};
