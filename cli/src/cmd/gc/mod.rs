//! `retrace gc`: retention. Deletes closed segments by age and by a byte budget, keeps
//! error recordings longer, and never touches a segment still being written (see
//! [`plan`](mod@plan) for the rules). `--dry-run` prints the same plan and deletes nothing.

mod plan;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args};
use retrace::config::{ConfigError, parse_size};
use retrace::metadata::METADATA_FILE;
use retrace::store::{SegmentInfo, SessionInfo, segment_files};

use self::plan::{Keep, Kind, Policy, Why, plan, segment_time_us};
use super::help_with_examples;
use crate::exit::Status;
use crate::format::bytes;
use crate::output::stdout;
use crate::root::{RootArgs, warn_problems};
use crate::time::{now_unix_us, parse_duration, rfc3339_seconds};

const EXAMPLES: &str =
    "  retrace gc --max-age 7d --dry-run                  what a week of retention deletes
  retrace gc --max-age 7d --keep-errors-for 30d      errors live for a month
  retrace gc --keep errors=30d,triggered=14d,sampled=7d
                                                     each recording by why it was kept
  retrace gc --max-bytes 10GiB                       oldest segments go first
  retrace gc --max-age 2d --max-bytes 500MB

Only closed segments (with an index file beside them) are deleted; a segment still
being written never is. A segment goes as a whole, when its newest recording is older
than --max-age, unless it holds an error recording (5xx, failed, kept on error) younger
than --keep-errors-for. Then, while the store is over --max-bytes, the oldest
remaining segments go, those holding such errors last. Sizes: 500MB, 10GiB, 65536.";

/// Options of `retrace gc`.
#[derive(Debug, Args)]
#[command(
    after_help = help_with_examples(EXAMPLES),
    group(ArgGroup::new("limit").required(true).multiple(true).args(["max_age", "max_bytes", "keep"])),
)]
pub(crate) struct GcArgs {
    /// Delete segments whose newest recording is older than this (7d, 12h)
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Keep the store under this many bytes (500MB, 10GiB), deleting the oldest first
    #[arg(long, value_name = "SIZE", value_parser = parse_bytes)]
    max_bytes: Option<u64>,
    /// Keep segments holding error recordings (5xx, failed, kept on error) this long
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    keep_errors_for: Option<Duration>,
    /// How long each kind of recording lives: errors=30d,triggered=14d,sampled=7d
    /// (a kind left out lives for --max-age, or for ever without it)
    #[arg(long, value_name = "KIND=AGE,...", value_parser = parse_keep)]
    keep: Option<Keep>,
    /// Print what would be deleted, delete nothing
    #[arg(long)]
    dry_run: bool,
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    parse_size("--max-bytes", text).map_err(|e| match e {
        ConfigError::InvalidEnv { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// `errors=30d,triggered=14d,sampled=7d`.
fn parse_keep(text: &str) -> Result<Keep, String> {
    let mut keep = Keep::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, age) = part
            .split_once('=')
            .ok_or_else(|| format!("expected KIND=AGE, got {part:?}"))?;
        let age = micros(parse_duration(age.trim())?);
        let slot = match kind.trim() {
            "errors" => &mut keep.errors,
            "triggered" => &mut keep.triggered,
            "sampled" => &mut keep.sampled,
            other => {
                return Err(format!(
                    "unknown kind {other:?}; expected one of {}",
                    Kind::NAMES.join(", ")
                ));
            }
        };
        if slot.replace(age).is_some() {
            return Err(format!("{} is given twice", kind.trim()));
        }
    }
    Ok(keep)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Bytes of the files beside the segments (session metadata).
fn metadata_bytes(sessions: &[Arc<SessionInfo>]) -> u64 {
    sessions
        .iter()
        .filter_map(|s| fs::metadata(s.dir.join(METADATA_FILE)).ok())
        .map(|m| m.len())
        .sum()
}

fn remove_segment(seg: &SegmentInfo) -> std::io::Result<()> {
    // The segment first: an index without its segment is ignored by readers, a segment
    // without its index would look like one still being written.
    fs::remove_file(&seg.path)?;
    match fs::remove_file(seg.index_path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes a session directory left empty by gc, if its process closed it cleanly (a
/// live process may be about to create its next segment).
fn remove_session(dir: &Path) -> std::io::Result<()> {
    fs::remove_file(dir.join(METADATA_FILE))?;
    fs::remove_dir(dir)
}

/// Runs `retrace gc`.
pub(crate) fn run(root: &RootArgs, args: &GcArgs) -> anyhow::Result<Status> {
    // On a bucket, the plan is made on the mirror's copies of the indexes and the
    // objects behind each segment are deleted.
    let mirror = root.mirror()?;
    let store = root.open()?;
    let listing = store.segments();
    warn_problems(&listing.problems);
    let segments = &listing.segments;
    let policy = Policy {
        now_us: now_unix_us(),
        max_age_us: args.max_age.map(micros),
        max_bytes: args.max_bytes,
        keep: {
            let mut keep = args.keep.unwrap_or_default();
            if keep.errors.is_none() {
                keep.errors = args.keep_errors_for.map(micros);
            }
            keep
        },
    };
    let plan = plan(segments, metadata_bytes(store.sessions()), &policy);
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut out = stdout();
    let mut failures = 0usize;
    let mut deleted = 0usize;
    let mut recordings = 0usize;
    let mut freed = 0u64;
    let mut left: BTreeMap<&Path, usize> = BTreeMap::new();
    for seg in segments {
        *left.entry(seg.session.dir.as_path()).or_default() += 1;
    }
    for &(i, why) in &plan.delete {
        let seg = &segments[i];
        let name = mirror
            .as_ref()
            .and_then(|m| m.segment_key(&seg.path))
            .unwrap_or_else(|| seg.path.display().to_string());
        let result = match (&mirror, args.dry_run) {
            (_, true) => Ok(()),
            (Some(m), false) => m.delete_segment(&seg.path).map_err(anyhow::Error::from),
            (None, false) => remove_segment(seg).map_err(anyhow::Error::from),
        };
        if let Err(e) = result {
            eprintln!("error: cannot delete {name}: {e}");
            failures += 1;
            continue;
        }
        *left.entry(seg.session.dir.as_path()).or_default() -= 1;
        deleted += 1;
        recordings += seg.entries.len();
        freed += seg.bytes();
        let newest = segment_time_us(seg).map_or_else(|| "unknown".to_owned(), rfc3339_seconds);
        let because = match why {
            Why::Age if args.keep.is_some() => "every recording past its keep time".to_owned(),
            Why::Age => format!(
                "older than {}",
                humantime::format_duration(args.max_age.unwrap_or_default())
            ),
            Why::Budget => format!(
                "over the {} budget",
                bytes(policy.max_bytes.unwrap_or_default())
            ),
        };
        writeln!(
            out,
            "{verb} {name} ({}, {} recordings, newest {newest}; {because})",
            bytes(seg.bytes()),
            seg.entries.len(),
        )?;
    }
    for session in store.sessions() {
        let emptied = left.get(session.dir.as_path()).is_some_and(|&n| n == 0)
            && plan
                .delete
                .iter()
                .any(|&(i, _)| segments[i].session.dir == session.dir);
        let closed = session.metadata.as_ref().is_some_and(|m| m.closed_cleanly);
        if !emptied || !closed {
            continue;
        }
        // Only if no segment appeared since the listing.
        if segment_files(&session.dir).is_ok_and(|f| !f.is_empty()) && !args.dry_run {
            continue;
        }
        let session_name = |session: &retrace::store::SessionInfo| match root.url() {
            Some(url) => format!("{url} session {}", session.name),
            None => session.dir.display().to_string(),
        };
        let result = match (&mirror, args.dry_run) {
            (_, true) => Ok(()),
            (Some(m), false) => m.delete_session(&session.dir).map_err(anyhow::Error::from),
            (None, false) => remove_session(&session.dir).map_err(anyhow::Error::from),
        };
        match result {
            Ok(()) => writeln!(out, "{verb} {} (empty session)", session_name(session))?,
            Err(e) => {
                eprintln!("error: cannot delete {}: {e}", session_name(session));
                failures += 1;
            }
        }
    }
    writeln!(
        out,
        "{verb} {deleted} segments ({}, {recordings} recordings); kept {} segments ({} in use, {} still being written)",
        bytes(freed),
        segments.len() - deleted,
        bytes(plan.bytes_before - freed),
        plan.open,
    )?;
    out.flush()?;
    if let Some(max) = policy.max_bytes.filter(|&max| plan.bytes_after > max) {
        eprintln!(
            "warning: the store still holds {}, over the {} budget: the rest is segments still being written and session metadata",
            bytes(plan.bytes_after),
            bytes(max)
        );
    }
    Ok(if failures > 0 {
        Status::Problems
    } else {
        Status::Success
    })
}
