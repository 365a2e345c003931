//! What a replay found: counts per recording as answers come in, then the final
//! summary for people (one line per recording that mismatched, failed or was skipped,
//! then the totals) or for scripts (`--json`).

use std::io::{self, Write};
use std::time::Duration;

use retrace::diff::Diff;
use serde::Serialize;

use super::request::{Prepared, Skipped};
use crate::format::duration_us;
use crate::format::table::{Column, Table};

/// The result of one send.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The answer matches the recording.
    Matched,
    /// The answer differs.
    Mismatched(Diff),
    /// No answer: the connection failed, the request timed out, the body broke off.
    Failed(String),
}

/// Counts for one recording, with the first mismatch and the first error kept.
#[derive(Debug, Default)]
pub(crate) struct PerRecording {
    sent: u64,
    matched: u64,
    mismatched: u64,
    errors: u64,
    first_mismatch: Option<Diff>,
    first_error: Option<String>,
}

/// Counts over a whole replay.
#[derive(Debug)]
pub(crate) struct Tally {
    per: Vec<PerRecording>,
    /// Requests answered or failed.
    pub(crate) sent: u64,
    /// Answers that matched.
    pub(crate) matched: u64,
    /// Answers that differed.
    pub(crate) mismatched: u64,
    /// Requests without an answer.
    pub(crate) errors: u64,
    /// From the first send to the last answer.
    pub(crate) elapsed: Duration,
}

impl Tally {
    /// An empty tally for `recordings` recordings.
    pub(crate) fn new(recordings: usize) -> Self {
        Self {
            per: (0..recordings).map(|_| PerRecording::default()).collect(),
            sent: 0,
            matched: 0,
            mismatched: 0,
            errors: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// Counts one send of recording `recording`.
    pub(crate) fn add(&mut self, recording: usize, outcome: Outcome) {
        let per = &mut self.per[recording];
        per.sent += 1;
        self.sent += 1;
        match outcome {
            Outcome::Matched => {
                per.matched += 1;
                self.matched += 1;
            }
            Outcome::Mismatched(diff) => {
                per.mismatched += 1;
                self.mismatched += 1;
                per.first_mismatch.get_or_insert(diff);
            }
            Outcome::Failed(error) => {
                per.errors += 1;
                self.errors += 1;
                per.first_error.get_or_insert(error);
            }
        }
    }

    /// Whether every answer matched.
    pub(crate) fn clean(&self) -> bool {
        self.mismatched == 0 && self.errors == 0
    }

    /// The progress line: `matched 10, mismatched 1, errors 0`.
    pub(crate) fn progress_message(&self) -> String {
        format!(
            "matched {}, mismatched {}, errors {}",
            self.matched, self.mismatched, self.errors
        )
    }

    fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.sent as f64 / secs
        } else {
            0.0
        }
    }
}

fn times(n: u64) -> String {
    if n == 1 {
        String::new()
    } else {
        format!(" ({n} times)")
    }
}

/// The first change of a diff, with how many more there are.
fn first_change(diff: &Diff) -> String {
    let Some(first) = diff.changes.first() else {
        return "differs".to_owned();
    };
    match diff.change_count() - 1 {
        0 => first.to_string(),
        1 => format!("{first} (and 1 more change)"),
        more => format!("{first} (and {more} more changes)"),
    }
}

/// Writes the summary for people: one row per recording that mismatched, failed or was
/// skipped, then the totals.
pub(crate) fn write_text(
    out: &mut impl Write,
    tally: &Tally,
    prepared: &[Prepared],
    skipped: &[Skipped],
) -> io::Result<()> {
    let mut table = Table::new(vec![
        Column::left("RESULT"),
        Column::left("RECORDING"),
        Column::left("ROUTE").max_width(40),
        Column::left("FIRST DIFFERENCE OR ERROR"),
    ]);
    let mut rows = 0;
    for (p, per) in prepared.iter().zip(&tally.per) {
        if let Some(diff) = &per.first_mismatch {
            let detail = format!("{}{}", first_change(diff), times(per.mismatched));
            table.row(vec![
                "mismatch".into(),
                p.id.to_string(),
                p.route.clone(),
                detail,
            ]);
            rows += 1;
        }
        if let Some(error) = &per.first_error {
            let detail = format!("{error}{}", times(per.errors));
            table.row(vec![
                "error".into(),
                p.id.to_string(),
                p.route.clone(),
                detail,
            ]);
            rows += 1;
        }
    }
    for s in skipped {
        table.row(vec![
            "skipped".into(),
            s.id.to_string(),
            s.route.clone(),
            s.reason.clone(),
        ]);
        rows += 1;
    }
    if rows > 0 {
        table.write(out)?;
        writeln!(out)?;
    }
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    write!(
        out,
        "{} matched, {} mismatched, {}",
        tally.matched,
        tally.mismatched,
        plural(tally.errors, "error", "errors")
    )?;
    if !skipped.is_empty() {
        write!(out, ", {} skipped", skipped.len())?;
    }
    writeln!(
        out,
        " ({} in {}, {:.1}/s)",
        plural(tally.sent, "request", "requests"),
        duration_us(u64::try_from(tally.elapsed.as_micros()).unwrap_or(u64::MAX)),
        tally.rate()
    )
}

/// The `--json` summary. Field names are part of the command's interface.
#[derive(Serialize)]
pub(crate) struct JsonSummary<'a> {
    target: String,
    sent: u64,
    matched: u64,
    mismatched: u64,
    errors: u64,
    skipped: usize,
    elapsed_ms: f64,
    requests_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    recordings: Vec<JsonRecording<'a>>,
    skipped_recordings: Vec<JsonSkipped<'a>>,
}

#[derive(Serialize)]
struct JsonRecording<'a> {
    id: String,
    route: &'a str,
    sent: u64,
    matched: u64,
    mismatched: u64,
    errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_mismatch: Option<&'a Diff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonSkipped<'a> {
    id: String,
    route: &'a str,
    reason: &'a str,
}

impl<'a> JsonSummary<'a> {
    /// The summary of a replay to `target`; `seed` is shown when it chose recordings.
    pub(crate) fn new(
        target: String,
        seed: Option<u64>,
        tally: &'a Tally,
        prepared: &'a [Prepared],
        skipped: &'a [Skipped],
    ) -> Self {
        Self {
            target,
            sent: tally.sent,
            matched: tally.matched,
            mismatched: tally.mismatched,
            errors: tally.errors,
            skipped: skipped.len(),
            elapsed_ms: tally.elapsed.as_secs_f64() * 1e3,
            requests_per_second: tally.rate(),
            seed,
            recordings: prepared
                .iter()
                .zip(&tally.per)
                .map(|(p, per)| JsonRecording {
                    id: p.id.to_string(),
                    route: &p.route,
                    sent: per.sent,
                    matched: per.matched,
                    mismatched: per.mismatched,
                    errors: per.errors,
                    first_mismatch: per.first_mismatch.as_ref(),
                    first_error: per.first_error.as_deref(),
                })
                .collect(),
            skipped_recordings: skipped
                .iter()
                .map(|s| JsonSkipped {
                    id: s.id.to_string(),
                    route: &s.route,
                    reason: &s.reason,
                })
                .collect(),
        }
    }
}
