//! JSON views of recordings for scripts: the summary `ls --json` prints per recording,
//! and the whole recording `export --jsonl` and `show --json` print. Field names are
//! part of the command's interface; add fields, never rename them.

mod recording;
mod summary;

pub(crate) use recording::RecordingView;
pub(crate) use summary::SummaryView;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How a body's bytes are carried in JSON: as text when they are UTF-8, else base64.
pub(crate) fn encode_body(data: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(data) {
        Ok(text) => ("utf8", text.to_owned()),
        Err(_) => ("base64", STANDARD.encode(data)),
    }
}

/// Bytes as base64.
pub(crate) fn base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}
