//! `retrace show ID`: one recording for a person to read. The request, a waterfall of
//! the outgoing calls on the request's timeline, the response; JSON bodies
//! pretty-printed, binary ones summarised. `--raw` writes the bodies' exact bytes,
//! `--body` writes one body and nothing else (for `> file`), `--json` prints the
//! recording as `export --jsonl` would.

pub(crate) mod waterfall;

use std::io::Write;

use clap::{Args, ValueEnum};
use retrace::{CallOutcome, Recording, RecordingInfo};

use super::{help_with_examples, resolve};
use crate::exit::Status;
use crate::format::body::{BodyMode, write_body};
use crate::format::message::{request_lines, response_lines};
use crate::format::summary::{duration, flags, reason};
use crate::format::{bytes, duration_us};
use crate::output::stdout;
use crate::root::RootArgs;
use crate::time::rfc3339_millis;
use retrace::json::RecordingView;

const EXAMPLES: &str = "  retrace show 01J2F3                          by unique id prefix
  retrace show 01J2F3 --calls                  with every outgoing call in full
  retrace show 01J2F3 --raw                    bodies exactly as recorded
  retrace show 01J2F3 --body response > out    the response body's bytes, nothing else
  retrace show 01J2F3 --json | jq .calls       the recording as JSON

In the waterfall each bar is an outgoing call on the request's timeline (= in flight,
? started and never answered); the first row is the request itself.";

/// Options of `retrace show`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct ShowArgs {
    /// The recording: its id or a unique prefix of it
    #[arg(value_name = "ID")]
    id: String,
    /// Print bodies exactly as recorded: no pretty-printing, binary bodies included
    #[arg(long, conflicts_with_all = ["json", "body"])]
    raw: bool,
    /// Print every outgoing call's request and answer after the waterfall
    #[arg(long, conflicts_with_all = ["json", "body"])]
    calls: bool,
    /// Write only this body's exact bytes, with nothing around them
    #[arg(long, value_name = "WHICH", value_enum, conflicts_with = "json")]
    body: Option<Which>,
    /// Print the whole recording as pretty-printed JSON
    #[arg(long)]
    json: bool,
}

/// Which body `--body` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Which {
    /// The incoming request's body.
    Request,
    /// The response body.
    Response,
}

/// Runs `retrace show`.
pub(crate) fn run(root: &RootArgs, args: &ShowArgs) -> anyhow::Result<Status> {
    let store = root.open()?;
    let listing = store.list();
    let info = resolve(&listing, std::slice::from_ref(&args.id))?[0];
    crate::audit_trail::record_read(root, "show", &[info]);
    let rec = store.load(info)?;
    let mut out = stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &RecordingView::new(info, &rec))?;
        writeln!(out)?;
    } else if let Some(which) = args.body {
        let data = match which {
            Which::Request => rec.request_body(),
            Which::Response => rec.response_body(),
        };
        out.write_all(&data)?;
    } else {
        let mode = if args.raw {
            BodyMode::Raw
        } else {
            BodyMode::Pretty
        };
        write_recording(&mut out, info, &rec, mode, args.calls)?;
    }
    out.flush()?;
    Ok(Status::Success)
}

fn write_header(
    out: &mut impl Write,
    info: &RecordingInfo,
    rec: &Recording,
) -> std::io::Result<()> {
    let s = &rec.summary;
    writeln!(out, "recording  {}", rec.id)?;
    writeln!(
        out,
        "service    {} (session {})",
        info.session.service(),
        info.session.name
    )?;
    if let Some(o) = info.session.origin() {
        let mut place: Vec<String> = Vec::new();
        for (name, value) in [
            ("pod", &o.pod),
            ("node", &o.node),
            ("namespace", &o.namespace),
            ("region", &o.region),
            ("build", &o.build_version),
            ("commit", &o.git_commit),
        ] {
            if let Some(v) = value {
                place.push(format!("{name} {v}"));
            }
        }
        if !place.is_empty() {
            writeln!(out, "origin     {}", place.join(", "))?;
        }
    }
    writeln!(out, "started    {}", rfc3339_millis(s.started_unix_us))?;
    writeln!(out, "duration   {}", duration(s))?;
    writeln!(out, "reason     {}", reason(s))?;
    if let Some(trace) = s.trace_id {
        writeln!(out, "trace      {trace}")?;
    }
    let outcome = crate::format::summary::outcome(rec);
    writeln!(out, "outcome    {outcome}")?;
    let f = flags(s);
    if !f.is_empty() {
        writeln!(out, "flags      {}", f.join(", "))?;
    }
    Ok(())
}

fn section(out: &mut impl Write, title: &str) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "=== {title} ===")
}

fn write_lines(out: &mut impl Write, lines: &[String]) -> std::io::Result<()> {
    lines.iter().try_for_each(|l| writeln!(out, "{l}"))
}

fn write_recording(
    out: &mut impl Write,
    info: &RecordingInfo,
    rec: &Recording,
    mode: BodyMode,
    calls: bool,
) -> std::io::Result<()> {
    write_header(out, info, rec)?;

    section(out, "request")?;
    match rec.request() {
        Some(head) => {
            write_lines(out, &request_lines(head))?;
            write_body(
                out,
                &rec.request_body(),
                &head.headers,
                rec.request_end(),
                mode,
            )?;
        }
        None => writeln!(out, "(not recorded)")?,
    }

    let records = rec.calls();
    section(
        out,
        &format!(
            "outgoing calls: {}, timeline 0 to {}",
            records.len(),
            duration_us(waterfall::span_us(rec))
        ),
    )?;
    waterfall::table(rec).write(out)?;
    if calls {
        for c in &records {
            section(
                out,
                &format!("call {} to {}", c.call.call_id, c.call.target),
            )?;
            write_lines(out, &request_lines(&c.call.head))?;
            write_body(
                out,
                &c.call.body.data,
                &c.call.head.headers,
                Some(&c.call.body.end),
                mode,
            )?;
            writeln!(out)?;
            match c.result.map(|r| &r.outcome) {
                Some(CallOutcome::Response { head, body }) => {
                    write_lines(out, &response_lines(head))?;
                    write_body(out, &body.data, &head.headers, Some(&body.end), mode)?;
                }
                Some(CallOutcome::Error(e)) => writeln!(out, "error: {e}")?,
                None => writeln!(out, "(no answer recorded)")?,
            }
        }
    }

    let values: Vec<_> = rec.values().collect();
    if !values.is_empty() {
        section(out, &format!("values: {}", values.len()))?;
        for v in values {
            writeln!(
                out,
                "{:>3}  +{}  {} {} ({})",
                v.seq,
                duration_us(v.at_us),
                v.kind.as_str(),
                v.name,
                bytes(v.value.len() as u64)
            )?;
        }
    }

    section(out, "response")?;
    match rec.response() {
        Some(head) => {
            write_lines(out, &response_lines(head))?;
            write_body(
                out,
                &rec.response_body(),
                &head.headers,
                rec.response_end(),
                mode,
            )?;
        }
        None => writeln!(out, "(no response recorded)")?,
    }
    Ok(())
}
