//! The human-readable report: one line per change, values shortened so a line stays
//! readable in a terminal and a test failure message.
//!
//! ```text
//! status: 200 -> 500
//! header content-type: "application/json" -> "text/html"
//! body $.total: 42 -> 43
//! body $.items[2]: (missing) -> {"id":3}
//! … and 12 more changes
//! noise: header date, body $.meta.generated_at
//! ```

use std::fmt;

use serde_json::Value;

use super::change::{Change, Diff};

/// The most characters of a JSON value shown in a report line.
const VALUE_CHARS: usize = 80;
/// The most noise locations listed on the noise line.
const NOISE_LISTED: usize = 10;

/// Where a change is, as printed at the start of its report line.
#[derive(Clone, Copy, Debug)]
pub struct Location<'a>(&'a Change);

impl Change {
    /// Where this change is: `status`, `header date`, `body $.total`, `body line 3`,
    /// `body bytes`.
    pub fn location(&self) -> Location<'_> {
        Location(self)
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Change::Status { .. } => f.write_str("status"),
            Change::Header { name, .. } => write!(f, "header {name}"),
            Change::Trailer { name, .. } => write!(f, "trailer {name}"),
            Change::Json { path, .. } => write!(f, "body {path}"),
            Change::Text { line, column, .. } => write!(f, "body line {line}, column {column}"),
            Change::Binary { .. } => f.write_str("body bytes"),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        match self {
            Self::Status { expected, actual } => write!(f, "{expected} -> {actual}"),
            Self::Header {
                expected, actual, ..
            }
            | Self::Trailer {
                expected, actual, ..
            } => {
                write_header_values(f, expected)?;
                f.write_str(" -> ")?;
                write_header_values(f, actual)
            }
            Self::Json {
                expected, actual, ..
            } => {
                write_json(f, expected.as_ref())?;
                f.write_str(" -> ")?;
                write_json(f, actual.as_ref())
            }
            Self::Text {
                expected, actual, ..
            } => {
                write_text(f, expected.as_deref())?;
                f.write_str(" -> ")?;
                write_text(f, actual.as_deref())
            }
            Self::Binary {
                offset,
                expected_len,
                actual_len,
            } => write!(
                f,
                "first difference at offset {offset}, {expected_len} bytes -> {actual_len} bytes"
            ),
        }
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            f.write_str("no differences")?;
        }
        for (index, change) in self.changes.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{change}")?;
        }
        if self.omitted_changes > 0 {
            let plural = if self.omitted_changes == 1 { "" } else { "s" };
            write!(f, "\n… and {} more change{plural}", self.omitted_changes)?;
        }
        if self.noise_count() > 0 {
            f.write_str("\nnoise: ")?;
            for (index, change) in self.noise.iter().take(NOISE_LISTED).enumerate() {
                if index > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}", change.location())?;
            }
            let unlisted = self.noise_count() - self.noise.len().min(NOISE_LISTED);
            if unlisted > 0 {
                write!(f, " and {unlisted} more")?;
            }
        }
        Ok(())
    }
}

fn write_header_values(f: &mut fmt::Formatter<'_>, values: &[String]) -> fmt::Result {
    match values {
        [] => f.write_str("(missing)"),
        [one] => write!(f, "{one:?}"),
        many => write!(f, "{many:?}"),
    }
}

fn write_text(f: &mut fmt::Formatter<'_>, line: Option<&str>) -> fmt::Result {
    match line {
        None => f.write_str("(missing)"),
        Some(line) => write!(f, "{line:?}"),
    }
}

fn write_json(f: &mut fmt::Formatter<'_>, value: Option<&Value>) -> fmt::Result {
    let Some(value) = value else {
        return f.write_str("(missing)");
    };
    let text = value.to_string();
    match text.char_indices().nth(VALUE_CHARS) {
        Some((cut, _)) => write!(f, "{}…", &text[..cut]),
        None => f.write_str(&text),
    }
}
