//! What a replay found: counts per recording as answers come in, then the final
//! summary for people (one line per recording that mismatched, failed or was skipped,
//! then the totals) or for scripts (`--json`).

use std::io::{self, Write};
use std::time::Duration;

use retrace::diff::{Diff, NoiseRules};
use retrace::replay::{ReplayKind, ReplayReportFile, ReplayedAnswer, ReportEntry, Verdict};
use serde::Serialize;

use super::chain::{Chain, RuleSpec, describe};
use super::noise::{RuleLine, learned_lines};
use super::request::{Prepared, Skipped};
use crate::format::duration_us;
use crate::format::table::{Column, Table};

/// The result of one send.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The answer matches the recording.
    Matched,
    /// The answer differs: how, and the answer as compared (redacted).
    Mismatched(Diff, Box<ReplayedAnswer>),
    /// No answer: the connection failed, the request timed out, the body broke off.
    Failed(String),
}

/// One send: its outcome and what chaining and noise learning did for it.
#[derive(Debug)]
pub(crate) struct Sent {
    /// How the answer compared.
    pub(crate) outcome: Outcome,
    /// Chained values put into the request.
    pub(crate) chained: u64,
    /// Chained values that were missing (their source answer failed or lacked them),
    /// so the recorded value was sent.
    pub(crate) chain_missing: u64,
    /// Noise learned from two live answers.
    pub(crate) learned: Option<NoiseRules>,
}

impl Default for Sent {
    fn default() -> Self {
        Self {
            outcome: Outcome::Matched,
            chained: 0,
            chain_missing: 0,
            learned: None,
        }
    }
}

/// Counts for one recording, with the first mismatch and the first error kept.
#[derive(Debug, Default)]
pub(crate) struct PerRecording {
    sent: u64,
    matched: u64,
    mismatched: u64,
    errors: u64,
    first_mismatch: Option<Diff>,
    first_answer: Option<ReplayedAnswer>,
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
    /// Chained values put into requests.
    pub(crate) chained: u64,
    /// Chained values missing at send time.
    pub(crate) chain_missing: u64,
    /// Rules learned from two live answers, without duplicates.
    pub(crate) learned: Vec<RuleLine>,
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
            chained: 0,
            chain_missing: 0,
            learned: Vec::new(),
        }
    }

    /// Counts one send of `prepared`, the recording at `recording`.
    pub(crate) fn add(&mut self, recording: usize, prepared: &Prepared, sent: Sent) {
        self.chained += sent.chained;
        self.chain_missing += sent.chain_missing;
        if let Some(learned) = &sent.learned {
            for line in learned_lines(learned, &prepared.route) {
                if !self.learned.contains(&line) {
                    self.learned.push(line);
                }
            }
        }
        let outcome = sent.outcome;
        let per = &mut self.per[recording];
        per.sent += 1;
        self.sent += 1;
        match outcome {
            Outcome::Matched => {
                per.matched += 1;
                self.matched += 1;
            }
            Outcome::Mismatched(diff, answer) => {
                per.mismatched += 1;
                self.mismatched += 1;
                if per.first_mismatch.is_none() {
                    per.first_mismatch = Some(diff);
                    per.first_answer = Some(*answer);
                }
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
pub(crate) fn first_change(diff: &Diff) -> String {
    let Some(first) = diff.changes.first() else {
        return "differs".to_owned();
    };
    match diff.change_count() - 1 {
        0 => first.to_string(),
        1 => format!("{first} (and 1 more change)"),
        more => format!("{first} (and {more} more changes)"),
    }
}

/// The rules a replay ran under, for the summary.
pub(crate) struct Rules<'a> {
    /// Every noise rule given before the run, and where it came from.
    pub(crate) noise: &'a [RuleLine],
    /// The chain rules.
    pub(crate) chains: &'a [Chain],
    /// Whether the chain rules were loaded from a file (else learned).
    pub(crate) chains_from_file: bool,
    /// Each substitution (value hidden) and how many requests it changed.
    pub(crate) substitutions: Vec<(String, usize)>,
    /// How many flows the requests formed.
    pub(crate) flows: usize,
}

fn write_rules(
    out: &mut impl Write,
    tally: &Tally,
    prepared: &[Prepared],
    rules: &Rules<'_>,
) -> io::Result<()> {
    writeln!(out, "noise rules:")?;
    for line in rules.noise.iter().chain(&tally.learned) {
        writeln!(out, "  {}  [{}]", line.rule, line.source)?;
    }
    if rules.chains.is_empty() {
        writeln!(out, "chain rules: none")?;
    } else {
        writeln!(
            out,
            "chain rules ({}, {}):",
            rules.chains.len(),
            if rules.chains_from_file {
                "from --chains"
            } else {
                "learned; --save-chains FILE to edit, --chains FILE to use"
            }
        )?;
        write!(out, "{}", describe(rules.chains, prepared))?;
    }
    if !rules.substitutions.is_empty() {
        writeln!(out, "substitutions:")?;
        for (rule, requests) in &rules.substitutions {
            writeln!(
                out,
                "  {rule}  ({requests} request{})",
                if *requests == 1 { "" } else { "s" }
            )?;
        }
    }
    write!(
        out,
        "flows: {} (each in recorded order); chained values put in: {}",
        rules.flows, tally.chained
    )?;
    if tally.chain_missing > 0 {
        write!(
            out,
            ", missing (recorded value sent): {}",
            tally.chain_missing
        )?;
    }
    writeln!(out)
}

/// Writes the summary for people: one row per recording that mismatched, failed or was
/// skipped, the rules the replay ran under, then the totals.
pub(crate) fn write_text(
    out: &mut impl Write,
    tally: &Tally,
    prepared: &[Prepared],
    skipped: &[Skipped],
    rules: &Rules<'_>,
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
    )?;
    writeln!(out)?;
    write_rules(out, tally, prepared, rules)
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
    flows: usize,
    chained: u64,
    chain_missing: u64,
    noise_rules: Vec<&'a RuleLine>,
    chain_rules: Vec<&'a RuleSpec>,
    substitutions: Vec<JsonSubstitution>,
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
struct JsonSubstitution {
    rule: String,
    requests: usize,
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
        rules: &Rules<'a>,
    ) -> Self {
        Self {
            flows: rules.flows,
            chained: tally.chained,
            chain_missing: tally.chain_missing,
            noise_rules: rules.noise.iter().chain(&tally.learned).collect(),
            chain_rules: rules.chains.iter().map(|c| &c.spec).collect(),
            substitutions: rules
                .substitutions
                .iter()
                .map(|(rule, requests)| JsonSubstitution {
                    rule: rule.clone(),
                    requests: *requests,
                })
                .collect(),
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

/// The replay report file (`--report FILE`) of a replay to `target`: one entry per
/// recording sent (with the first answer that differed and how), then the skipped.
pub(crate) fn report_file(
    target: String,
    tally: &Tally,
    prepared: &[Prepared],
    skipped: &[Skipped],
) -> ReplayReportFile {
    let mut file = ReplayReportFile::new(ReplayKind::Traffic, Some(target));
    for (p, per) in prepared.iter().zip(&tally.per) {
        let verdict = if per.mismatched > 0 {
            Verdict::Different
        } else if per.errors > 0 {
            Verdict::Error
        } else if per.sent == 0 {
            Verdict::Skipped
        } else {
            Verdict::Identical
        };
        let mut entry = ReportEntry::new(p.id, p.route.clone(), verdict);
        entry.sent = per.sent;
        entry.diff = per.first_mismatch.clone().unwrap_or_default();
        entry.answer = per.first_answer.clone();
        entry.error = per.first_error.clone().or_else(|| {
            (per.sent == 0).then(|| "not sent: the run ended (--duration) before its turn".into())
        });
        file.recordings.push(entry);
    }
    for s in skipped {
        let mut entry = ReportEntry::new(s.id, s.route.clone(), Verdict::Skipped);
        entry.sent = 0;
        entry.error = Some(s.reason.clone());
        file.recordings.push(entry);
    }
    file
}
