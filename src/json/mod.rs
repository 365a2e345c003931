//! JSON views of recordings, for scripts and services: the summary `retrace ls --json`
//! and the admin service's `GET /recordings` give per recording, and the whole
//! recording `retrace export --jsonl`, `retrace show --json` and `GET /recordings/{id}`
//! give. One definition serves them all, so they cannot drift. Field names are an
//! interface: fields are added, never renamed.
//!
//! ```
//! # fn view(info: &retrace::RecordingInfo, recording: &retrace::Recording) -> serde_json::Result<()> {
//! use retrace::json::{RecordingView, SummaryView};
//! let line = serde_json::to_string(&SummaryView::new(info))?;
//! let whole = serde_json::to_string(&RecordingView::new(info, recording))?;
//! # Ok(()) }
//! ```

mod recording;
mod summary;

pub use recording::RecordingView;
pub use summary::SummaryView;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How a body's bytes are carried in JSON: as text when they are UTF-8, else base64.
pub fn encode_body(data: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(data) {
        Ok(text) => ("utf8", text.to_owned()),
        Err(_) => ("base64", STANDARD.encode(data)),
    }
}

/// Bytes as base64.
pub fn base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}
