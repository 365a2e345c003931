//! `retrace stats`: what the store holds and what the recorders lost. Disk use by kind
//! of file, recordings by service, status class and reason, a histogram of recording
//! sizes, and the recorders' own counters (drops by reason, write errors) summed from
//! each session's metadata. Reads indexes and metadata only.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::sync::Arc;

use clap::Args;
use retrace::metadata::{COUNTERS_FILE, METADATA_FILE};
use retrace::{DropReason, Stats};
use serde::Serialize;

use super::help_with_examples;
use crate::exit::Status;
use crate::format::bytes;
use crate::format::summary::{reason, status_class};
use crate::format::table::{Column, Table};
use crate::output::stdout;
use crate::root::{RootArgs, warn_problems};

const EXAMPLES: &str = "  retrace stats                     the whole store
  retrace stats --json | jq .disk   for a script or a dashboard

Recorder counters come from each session's metadata.json, written when a segment
closes and at shutdown, so a running process's latest numbers may not be in yet.";

/// Options of `retrace stats`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct StatsArgs {
    /// Print the numbers as one JSON object
    #[arg(long)]
    json: bool,
}

/// The upper bounds of the size histogram's buckets; the last bucket has none.
pub(crate) const SIZE_BUCKETS: [u64; 8] = [
    1 << 10,
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
];

#[derive(Debug, Default, Serialize)]
struct Disk {
    total_bytes: u64,
    segment_bytes: u64,
    index_bytes: u64,
    metadata_bytes: u64,
    sessions: usize,
    sessions_not_closed: usize,
    segments: usize,
    segments_being_written: usize,
    /// Segments without an index that no writer will close: their session closed
    /// cleanly, or a later segment exists. They are read from their frames.
    segments_without_index: usize,
}

#[derive(Debug, Default, Serialize)]
struct Counters {
    started: u64,
    written: u64,
    discarded: u64,
    dropped: BTreeMap<&'static str, u64>,
    chunks_dropped: BTreeMap<&'static str, u64>,
    write_errors: u64,
    segments_deleted: u64,
    /// When the newest counters were written, milliseconds since the Unix epoch.
    updated_unix_ms: u64,
}

impl Counters {
    fn add(&mut self, s: &Stats) {
        self.started += s.started;
        self.written += s.written;
        self.discarded += s.discarded;
        for &(r, n) in &s.dropped {
            *self.dropped.entry(DropReason::as_str(r)).or_default() += n;
        }
        for &(r, n) in &s.chunks_dropped {
            *self
                .chunks_dropped
                .entry(DropReason::as_str(r))
                .or_default() += n;
        }
        self.write_errors += s.write_errors;
        self.segments_deleted += s.segments_deleted;
    }
}

#[derive(Debug, Serialize)]
struct Bucket {
    /// Exclusive upper bound in bytes; none for the last bucket.
    below_bytes: Option<u64>,
    recordings: u64,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    disk: Disk,
    recordings: u64,
    recorded_bytes: u64,
    by_service: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
    by_reason: BTreeMap<&'static str, u64>,
    flagged: BTreeMap<&'static str, u64>,
    sizes: Vec<Bucket>,
    recorder: Counters,
    /// Each shipper's last status (`retrace ship`, `RETRACE_SHIP_URL`), by destination.
    shipping: Vec<retrace::ship::ShipStatus>,
    problems: usize,
}

fn gather(root: &RootArgs) -> anyhow::Result<Report> {
    let store = root.open()?;
    let listing = store.list();
    let segments = store.segments();
    warn_problems(&listing.problems);
    let mut r = Report {
        problems: listing.problems.len(),
        ..Report::default()
    };
    let d = &mut r.disk;
    d.sessions = store.sessions().len();
    for session in store.sessions() {
        for file in [METADATA_FILE, COUNTERS_FILE] {
            d.metadata_bytes += fs::metadata(session.dir.join(file)).map_or(0, |m| m.len());
        }
        if let Some(m) = &session.metadata {
            r.recorder.add(&m.stats);
            r.recorder.updated_unix_ms = r.recorder.updated_unix_ms.max(m.updated_unix_ms);
        }
        if !session.metadata.as_ref().is_some_and(|m| m.closed_cleanly) {
            d.sessions_not_closed += 1;
        }
    }
    for seg in &segments.segments {
        d.segments += 1;
        d.segment_bytes += seg.len;
        d.index_bytes += seg.index_len.unwrap_or(0);
        if !seg.is_closed() {
            let session_closed = seg
                .session
                .metadata
                .as_ref()
                .is_some_and(|m| m.closed_cleanly);
            let later = segments
                .segments
                .iter()
                .any(|s| Arc::ptr_eq(&s.session, &seg.session) && s.path > seg.path);
            if session_closed || later {
                d.segments_without_index += 1;
            } else {
                d.segments_being_written += 1;
            }
        }
    }
    d.total_bytes = d.segment_bytes + d.index_bytes + d.metadata_bytes;
    if root.url().is_none() {
        r.shipping = retrace::ship::ShipStatus::read_all(&root.path);
    }
    let mut sizes = vec![0u64; SIZE_BUCKETS.len() + 1];
    for info in &listing.recordings {
        let s = &info.summary;
        r.recordings += 1;
        r.recorded_bytes += s.raw_bytes;
        *r.by_service
            .entry(info.session.service().to_owned())
            .or_default() += 1;
        *r.by_status.entry(status_class(s)).or_default() += 1;
        *r.by_reason.entry(reason(s)).or_default() += 1;
        for flag in crate::format::summary::flags(s) {
            *r.flagged.entry(flag).or_default() += 1;
        }
        let bucket = SIZE_BUCKETS
            .iter()
            .position(|&b| s.raw_bytes < b)
            .unwrap_or(SIZE_BUCKETS.len());
        sizes[bucket] += 1;
    }
    r.sizes = sizes
        .into_iter()
        .enumerate()
        .map(|(i, n)| Bucket {
            below_bytes: SIZE_BUCKETS.get(i).copied(),
            recordings: n,
        })
        .collect();
    Ok(r)
}

fn counts<K: ToString>(heading: &'static str, map: &BTreeMap<K, u64>) -> Table {
    let mut t = Table::new(vec![Column::left(heading), Column::right("RECORDINGS")]);
    for (k, n) in map {
        t.row(vec![k.to_string(), n.to_string()]);
    }
    t
}

/// `a 1, b 2`.
fn joined(map: &BTreeMap<&'static str, u64>) -> String {
    let parts: Vec<String> = map.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

/// ` (a 1, b 2)`, or nothing for an empty map.
fn by_reason_text(map: &BTreeMap<&'static str, u64>) -> String {
    if map.is_empty() {
        String::new()
    } else {
        format!(" ({})", joined(map))
    }
}

fn histogram(sizes: &[Bucket]) -> Vec<String> {
    let first = sizes.iter().position(|b| b.recordings > 0);
    let last = sizes.iter().rposition(|b| b.recordings > 0);
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    let max = sizes.iter().map(|b| b.recordings).max().unwrap_or(1).max(1);
    let mut lower = if first == 0 {
        0
    } else {
        SIZE_BUCKETS[first - 1]
    };
    let mut lines = Vec::new();
    for b in &sizes[first..=last] {
        let label = match b.below_bytes {
            Some(upper) if lower == 0 => format!("< {}", bytes(upper)),
            Some(upper) => format!("{} - {}", bytes(lower), bytes(upper)),
            None => format!(">= {}", bytes(lower)),
        };
        let width = usize::try_from(b.recordings * 40 / max).unwrap_or(40);
        let bar = "#".repeat(if b.recordings > 0 { width.max(1) } else { 0 });
        lines.push(
            format!("{label:>21}  {:>8}  {bar}", b.recordings)
                .trim_end()
                .to_owned(),
        );
        lower = b.below_bytes.unwrap_or(lower);
    }
    lines
}

/// Runs `retrace stats`.
pub(crate) fn run(root: &RootArgs, args: &StatsArgs) -> anyhow::Result<Status> {
    let r = gather(root)?;
    crate::audit_trail::record_read(root, "stats", &[]);
    let mut out = stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(Status::Success);
    }
    let d = &r.disk;
    writeln!(out, "disk use        {}", bytes(d.total_bytes))?;
    writeln!(
        out,
        "                segments {}, indexes {}, metadata {}",
        bytes(d.segment_bytes),
        bytes(d.index_bytes),
        bytes(d.metadata_bytes)
    )?;
    writeln!(
        out,
        "sessions        {} ({} not closed: running or crashed)",
        d.sessions, d.sessions_not_closed
    )?;
    let without_index = if d.segments_without_index == 0 {
        String::new()
    } else {
        format!(
            ", {} without an index: read from their frames",
            d.segments_without_index
        )
    };
    writeln!(
        out,
        "segments        {} ({} still being written{without_index})",
        d.segments, d.segments_being_written
    )?;
    writeln!(
        out,
        "recordings      {} ({} recorded)",
        r.recordings,
        bytes(r.recorded_bytes)
    )?;
    let flagged = if r.flagged.is_empty() {
        "none".to_owned()
    } else {
        joined(&r.flagged)
    };
    writeln!(out, "flagged         {flagged}")?;
    if r.problems > 0 {
        writeln!(
            out,
            "problems        {} (see the warnings; `retrace verify` checks every frame)",
            r.problems
        )?;
    }
    let c = &r.recorder;
    writeln!(out)?;
    let written_at = if c.updated_unix_ms == 0 {
        "never".to_owned()
    } else {
        crate::time::rfc3339_seconds(c.updated_unix_ms * 1000)
    };
    writeln!(
        out,
        "recorder counters, summed over sessions (last written {written_at})"
    )?;
    writeln!(out, "  started           {}", c.started)?;
    writeln!(out, "  written           {}", c.written)?;
    writeln!(out, "  discarded         {}", c.discarded)?;
    writeln!(
        out,
        "  dropped           {}{}",
        c.dropped.values().sum::<u64>(),
        by_reason_text(&c.dropped)
    )?;
    writeln!(
        out,
        "  chunks dropped    {}{}",
        c.chunks_dropped.values().sum::<u64>(),
        by_reason_text(&c.chunks_dropped)
    )?;
    writeln!(out, "  write errors      {}", c.write_errors)?;
    writeln!(
        out,
        "  segments deleted  {} (by the disk budget)",
        c.segments_deleted
    )?;
    for ship in &r.shipping {
        writeln!(out)?;
        writeln!(
            out,
            "shipping to {} (since {}, last pass {})",
            ship.destination,
            crate::time::rfc3339_seconds(ship.started_unix_ms * 1000),
            crate::time::rfc3339_seconds(ship.updated_unix_ms * 1000)
        )?;
        writeln!(
            out,
            "  shipped           {} segments ({})",
            ship.counts.segments,
            bytes(ship.counts.bytes)
        )?;
        writeln!(
            out,
            "  failed            {} attempts ({} retries)",
            ship.counts.failed, ship.counts.retried
        )?;
        let lag = std::time::Duration::from_secs(ship.counts.lag_ms / 1000);
        writeln!(
            out,
            "  pending           {} segments (the oldest for {})",
            ship.counts.pending,
            humantime::format_duration(lag)
        )?;
        if let Some(error) = &ship.last_error {
            writeln!(out, "  last error        {error}")?;
        }
    }
    for (title, table) in [
        ("by service", counts("SERVICE", &r.by_service)),
        ("by status", counts("STATUS", &r.by_status)),
        ("by reason", counts("REASON", &r.by_reason)),
    ] {
        writeln!(out)?;
        writeln!(out, "{title}")?;
        table.write(&mut out)?;
    }
    let hist = histogram(&r.sizes);
    if !hist.is_empty() {
        writeln!(out)?;
        writeln!(out, "recording sizes (recorded bytes before compression)")?;
        for line in hist {
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(Status::Success)
}
