//! In-process replay: run a recorded request through a service again, with every
//! outgoing call answered from the recording, and compare the answer.
//!
//! [`replay_recording`] builds the recorded request, makes a [replay session](retrace::replay)
//! current while the service handles it and while its response body is read (so client
//! layers and `retrace::now()` answer from the recording), and returns a
//! [`ReplayReport`]: the new response, a structured [`Diff`](retrace::Diff) against the
//! recorded one under noise rules, and the calls that matched nothing or were never
//! made. The new response is redacted with the same rules as the recording before it is
//! compared, so a redacted header does not count as a change.
//!
//! ```no_run
//! # async fn run(recording: retrace::Recording, app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! let report = retrace_tower::replay_recording(&recording, app).await?;
//! if !report.is_identical() {
//!     println!("{}", report.diff);
//! }
//! # Ok(()) }
//! ```

mod report;
mod run;
mod unwind;

pub use report::{ReplayReport, ReplayedResponse};
pub use run::{Replay, ReplayError, replay_recording};
