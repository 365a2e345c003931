//! How a recording's summary reads in text: status, duration, reason and flags, the same
//! in `ls`, `show` and `stats`.

use retrace::{Outcome, Recording, Summary};

use super::duration_us;

/// The response status, or `-` when there was none.
pub(crate) fn status(s: &Summary) -> String {
    s.status.map_or_else(|| "-".to_owned(), |c| c.to_string())
}

/// The duration, or `-` when the recording never ended.
pub(crate) fn duration(s: &Summary) -> String {
    s.duration_us.map_or_else(|| "-".to_owned(), duration_us)
}

/// Why it was recorded, or `-` when the recording never ended.
pub(crate) fn reason(s: &Summary) -> &'static str {
    s.reason.map_or("-", |r| r.as_str())
}

/// How the incoming request ended, in words.
pub(crate) fn outcome(rec: &Recording) -> String {
    match rec.end().map(|e| &e.outcome) {
        None => "unfinished (the recording never ended)".to_owned(),
        Some(Outcome::Completed) => "completed".to_owned(),
        Some(Outcome::Aborted) => "aborted (the client went away)".to_owned(),
        Some(Outcome::Failed(e)) => format!("failed: {e}"),
    }
}

/// The flags that say a recording is not whole: `truncated` (a body or the event list
/// was cut at its cap), `incomplete` (it never ended, or a part was lost on the way to
/// disk), `aborted` (the client went away), `failed` (the service returned an error).
pub(crate) fn flags(s: &Summary) -> Vec<&'static str> {
    let mut out = Vec::new();
    if s.truncated {
        out.push("truncated");
    }
    if !s.complete() {
        out.push("incomplete");
    }
    if s.aborted {
        out.push("aborted");
    }
    if s.failed {
        out.push("failed");
    }
    out
}

/// The flags joined with commas, or `-`.
pub(crate) fn flags_text(s: &Summary) -> String {
    let f = flags(s);
    if f.is_empty() {
        "-".to_owned()
    } else {
        f.join(",")
    }
}

/// The status class a recording counts under in `stats`: `2xx` ... `5xx`, or `none`.
pub(crate) fn status_class(s: &Summary) -> String {
    s.status
        .map_or_else(|| "none".to_owned(), |c| format!("{}xx", c / 100))
}
