//! `retrace export (ID... | --all) [ls filters] --har FILE | --jsonl`: recordings out
//! of the store, as
//! an HTTP archive for browser developer tools or as JSON lines for pipelines. Every id
//! is resolved and every recording read before anything is written, so an unknown id
//! or a damaged recording leaves no half-written file behind.

mod har;
mod jsonl;

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use retrace::Recording;

use super::{help_with_examples, resolve};
use crate::exit::{Status, fail};
use crate::filter::FilterArgs;
use crate::output::Output;
use crate::progress;
use crate::root::RootArgs;

const EXAMPLES: &str =
    "  retrace export 01J2F3 --har checkout.har        open in browser developer tools
  retrace export 01J2F3 01J2F4 --har - | less     HAR on stdout
  retrace export 01J2F3 01J2F4 --jsonl > out.jsonl  one JSON object per line
  retrace ls --status 5xx --json | jq -r '.[].id' | xargs retrace export --jsonl
  retrace export --all --jsonl > everything.jsonl
  retrace export --all --status 5xx --since 1h --har errors.har   the ls filters select

HAR: each recording is a page; its incoming request is an entry and so is each of its
outgoing calls (custom field _retrace.direction says which). Binary bodies are base64.";

/// Options of `retrace export`.
#[derive(Debug, Args)]
#[command(
    after_help = help_with_examples(EXAMPLES),
    group(ArgGroup::new("format").required(true).args(["har", "jsonl"])),
)]
pub(crate) struct ExportArgs {
    /// The recordings: ids or unique prefixes
    #[arg(
        value_name = "ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    ids: Vec<String>,
    /// Every recording in the store, oldest first (narrowed by the filters)
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Write an HTTP archive (HAR 1.2) to FILE (`-`: stdout)
    #[arg(long, value_name = "FILE")]
    har: Option<PathBuf>,
    /// Write JSON lines to stdout, one recording per line
    #[arg(long)]
    jsonl: bool,
}

/// Runs `retrace export`.
pub(crate) fn run(root: &RootArgs, args: &ExportArgs) -> anyhow::Result<Status> {
    let store = root.open()?;
    let listing = store.list();
    let named: Vec<&retrace::RecordingInfo> = if args.all {
        listing.recordings.iter().rev().collect()
    } else {
        resolve(&listing, &args.ids)?
    };
    let filter = args.filter.resolve();
    let infos: Vec<&retrace::RecordingInfo> =
        named.into_iter().filter(|r| filter.matches(r)).collect();
    if infos.is_empty() {
        return Err(fail(
            Status::NoSuchRecording,
            format!(
                "no recording to export matches the filters under {}",
                store.root().display()
            ),
        ));
    }
    crate::audit_trail::record_read(root, "export", &infos);
    let bar = progress::items(infos.len() as u64, "reading");
    let mut recordings: Vec<(&retrace::RecordingInfo, Recording)> = Vec::with_capacity(infos.len());
    for (info, loaded) in infos.iter().zip(store.load_many(&infos)) {
        recordings.push((info, loaded?));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(path) = &args.har {
        let archive = har::archive(recordings.iter().map(|(i, r)| (*i, r)));
        Output::open(Some(path))?.write_with(|out| {
            serde_json::to_writer_pretty(&mut *out, &archive)?;
            writeln!(out)
        })?;
    } else {
        Output::open(None)?.write_with(|out| jsonl::write(out, &recordings))?;
    }
    Ok(Status::Success)
}
