//! `retrace verify`: reads every byte of every segment, checking each frame's checksum
//! and payload and each index against its segment, and says by its exit status whether
//! the store is sound. Problems print one per line, naming the file and the offset.
//! It only reads: repairing is a separate, explicit operation.

use std::fs;
use std::io::Write;

use clap::Args;
use retrace::Problem;
use retrace::metadata::{METADATA_FILE, SessionMetadata};
use retrace::store::{check_segment, segment_files};

use super::help_with_examples;
use crate::exit::Status;
use crate::format::bytes;
use crate::output::stdout;
use crate::progress;
use crate::root::RootArgs;

const EXAMPLES: &str =
    "  retrace verify                      every segment, index and metadata file
  retrace verify --allow-torn-tail    on a store with running writers

A torn tail (bytes cut short at the end of a segment that was never closed) is what a
crash, or a write in progress, leaves; it loses only data that was never flushed. It
counts as a problem unless --allow-torn-tail is given. Bad bytes at the end of a
closed segment are corruption, not a torn tail.";

/// Options of `retrace verify`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct VerifyArgs {
    /// Report torn tails of unclosed segments but do not count them as problems
    #[arg(long)]
    allow_torn_tail: bool,
}

fn metadata_problem(dir: &std::path::Path) -> Option<Problem> {
    let file = dir.join(METADATA_FILE);
    let bytes = fs::read(&file).ok()?;
    serde_json::from_slice::<SessionMetadata>(&bytes)
        .err()
        .map(|e| Problem::BadMetadata {
            file,
            reason: e.to_string(),
        })
}

/// Runs `retrace verify`.
pub(crate) fn run(root: &RootArgs, args: &VerifyArgs) -> anyhow::Result<Status> {
    let store = root.open()?;
    if let Some(mirror) = root.mirror()? {
        // Verifying reads every byte: every shipped segment comes down first.
        mirror.fetch_all()?;
    }
    crate::audit_trail::record_read(root, "verify", &[]);
    let mut problems: Vec<Problem> = Vec::new();
    let mut files = Vec::new();
    for session in store.sessions() {
        problems.extend(metadata_problem(&session.dir));
        match segment_files(&session.dir) {
            Ok(f) => files.extend(f),
            Err(e) => problems.push(Problem::Unreadable {
                file: session.dir.clone(),
                reason: e.to_string(),
            }),
        }
    }
    let total: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let bar = progress::bytes(total, "verifying");
    let (mut frames, mut recordings, mut checked_bytes) = (0u64, 0usize, 0u64);
    for file in &files {
        let check = check_segment(file);
        frames += check.frames;
        recordings += check.recordings;
        checked_bytes += check.len;
        problems.extend(check.problems);
        bar.inc(check.len);
    }
    bar.finish_and_clear();
    let mut out = stdout();
    let mut counted = 0usize;
    for p in &problems {
        if args.allow_torn_tail && matches!(p, Problem::TornTail { .. }) {
            writeln!(out, "tolerated: {p}")?;
        } else {
            writeln!(out, "{p}")?;
            counted += 1;
        }
    }
    let checked = format!(
        "checked {} segments in {} sessions ({} frames, {} recordings, {})",
        files.len(),
        store.sessions().len(),
        frames,
        recordings,
        bytes(checked_bytes)
    );
    if counted == 0 {
        writeln!(out, "{checked}: all sound")?;
    } else {
        writeln!(out, "{checked}: {counted} problems")?;
    }
    out.flush()?;
    Ok(if counted == 0 {
        Status::Success
    } else {
        Status::Problems
    })
}
