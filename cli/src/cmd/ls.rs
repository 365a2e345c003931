//! `retrace ls`: one line per recording, newest first, read from the segment indexes
//! only (no body is decompressed), so a listing of 100,000 recordings stays well under
//! a second.

use std::io::Write;

use clap::Args;

use super::help_with_examples;
use crate::exit::Status;
use crate::filter::FilterArgs;
use crate::format::bytes;
use crate::format::short_id;
use crate::format::summary::{duration, flags_text, reason, status};
use crate::format::table::{Column, Table};
use crate::output::stdout;
use crate::root::{RootArgs, warn_problems};
use crate::time::rfc3339_seconds;
use retrace::json::SummaryView;

const EXAMPLES: &str = "  retrace ls                                  everything, newest first
  retrace ls --status 5xx --since 1h          server errors of the last hour
  retrace ls --service checkout --path-prefix /api/orders
  retrace ls --trace-id 4bf92f3577b34da6a3ce929d0e0e4736
  retrace ls --since 2024-05-01 --until 2024-05-02T06:00:00Z
  retrace ls --reason kept --incomplete       kept on error, with parts missing
  retrace ls --json | jq -r '.[].id'          ids for a script

Columns: ID (shortest unique prefix), STARTED (UTC), SERVICE, METHOD, PATH, STATUS,
DURATION, CALLS (outgoing calls), SIZE (recorded bytes before compression), REASON,
FLAGS (truncated: a body was cut at its cap; incomplete: never ended or a part was
lost; aborted: the client went away; failed: the service returned an error).";

/// Options of `retrace ls`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct LsArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Show at most this many recordings (the newest)
    #[arg(long, short = 'n', value_name = "N")]
    limit: Option<usize>,
    /// Print a JSON array of recording summaries instead of a table
    #[arg(long)]
    json: bool,
}

/// Runs `retrace ls`.
pub(crate) fn run(root: &RootArgs, args: &LsArgs) -> anyhow::Result<Status> {
    let store = root.open()?;
    crate::audit_trail::record_read(root, "ls", &[]);
    let listing = store.list();
    warn_problems(&listing.problems);
    let filter = args.filter.resolve();
    let shown: Vec<usize> = listing
        .recordings
        .iter()
        .enumerate()
        .filter(|(_, info)| filter.matches(info))
        .map(|(i, _)| i)
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    let mut out = stdout();
    if args.json {
        let views: Vec<SummaryView<'_>> = shown
            .iter()
            .map(|&i| SummaryView::new(&listing.recordings[i]))
            .collect();
        serde_json::to_writer_pretty(&mut out, &views)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(Status::Success);
    }
    if shown.is_empty() {
        eprintln!(
            "no recordings{} under {}",
            if listing.recordings.is_empty() {
                ""
            } else {
                " match"
            },
            store.root().display()
        );
        return Ok(Status::Success);
    }
    let id_len = short_id::unique_len(&listing.recordings, &shown);
    let pod = |i: usize| {
        listing.recordings[i]
            .session
            .origin()
            .and_then(|o| o.pod.as_deref())
    };
    // The pod column only when some recording shown knows its pod.
    let with_pod = shown.iter().any(|&i| pod(i).is_some());
    let mut columns = vec![
        Column::left("ID"),
        Column::left("STARTED"),
        Column::left("SERVICE").max_width(24),
        Column::left("METHOD"),
        Column::left("PATH").max_width(48),
        Column::right("STATUS"),
        Column::right("DURATION"),
        Column::right("CALLS"),
        Column::right("SIZE"),
        Column::left("REASON"),
        Column::left("FLAGS"),
    ];
    if with_pod {
        columns.push(Column::left("POD").max_width(32));
    }
    let mut table = Table::new(columns);
    for &i in &shown {
        let info = &listing.recordings[i];
        let s = &info.summary;
        let mut id = s.id.to_string();
        id.truncate(id_len);
        let mut row = vec![
            id,
            rfc3339_seconds(s.started_unix_us),
            info.session.service().to_owned(),
            s.method.to_string(),
            s.path().to_owned(),
            status(s),
            duration(s),
            s.outbound_calls.to_string(),
            bytes(s.raw_bytes),
            reason(s).to_owned(),
            flags_text(s),
        ];
        if with_pod {
            row.push(pod(i).unwrap_or("-").to_owned());
        }
        table.row(row);
    }
    table.write(&mut out)?;
    out.flush()?;
    Ok(Status::Success)
}
