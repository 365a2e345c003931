//! `retrace audit ls` and `retrace audit verify`: the audit log the admin service (and
//! the command line's own reads) append to, listed for a person and checked for
//! tampering. `verify` names the first line that breaks the hash chain, by file and line
//! number, and says by its exit status whether the log is intact. Both only read.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use retrace::AuditError;
use retrace::audit::{self, AuditLine};

use super::help_with_examples;
use crate::exit::{Status, fail};
use crate::format::table::{Column, Table};
use crate::output::stdout;
use crate::root::RootArgs;
use crate::time::{When, now_unix_us, parse_when};

const EXAMPLES: &str =
    "  retrace audit ls                            every line of ./recordings/audit.log
  retrace audit ls /srv/recordings --who oncall --since 1d
  retrace audit ls --file /var/log/retrace/audit.log --json
  retrace audit verify                        check the hash chain

The log is <recording directory>/audit.log, rotated to audit.log.1, .2, …; those are
read too, oldest first. The command line never creates it.";

const LS_EXAMPLES: &str = "  retrace audit ls                            oldest first
  retrace audit ls --action captures --since 2h  captures started or stopped lately
  retrace audit ls --who oncall --json     JSON lines, as in the file

Columns: SEQ, AT (UTC), WHO (a key id or cli:<user>), ACTION, TARGET, OUTCOME.
--action captures matches captures and captures.* (captures.create, captures.delete).";

const VERIFY_EXAMPLES: &str = "  retrace audit verify                        ./recordings/audit.log
  retrace audit verify /srv/recordings
  retrace audit verify --file /var/log/retrace/audit.log

Each line must hold the hash of its own content and the previous line's hash, with seq
going up by one. The first line that does not is named (file, line number, seq, why)
and the exit status is 1. Note the last hash printed somewhere else from time to time:
a log rewritten from an edited line onwards can only be caught against it.";

/// Options of `retrace audit`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// List the audit lines, oldest first
    Ls(LsArgs),
    /// Check the hash chain and name the first broken line
    Verify(VerifyArgs),
}

/// Which log: a recording directory's, or a file named outright.
#[derive(Debug, Args)]
struct LogArgs {
    /// Recording directory whose audit.log to read [default: --path]
    #[arg(value_name = "DIR", conflicts_with = "file")]
    dir: Option<PathBuf>,
    /// The audit log file itself (its rotated files FILE.1, FILE.2… are read too)
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
}

impl LogArgs {
    fn path(&self, root: &RootArgs) -> PathBuf {
        match (&self.file, &self.dir) {
            (Some(file), _) => file.clone(),
            (None, Some(dir)) => audit::default_path(dir),
            (None, None) => audit::default_path(&root.path),
        }
    }
}

/// Options of `retrace audit ls`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(LS_EXAMPLES))]
struct LsArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Only lines written since: a duration back (1h, 7d) or a UTC timestamp
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    since: Option<When>,
    /// Only lines by this actor (a key id, or cli:<user>)
    #[arg(long, value_name = "WHO")]
    who: Option<String>,
    /// Only this action, or the actions under it (capture matches captures.create)
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Print the lines as JSON lines, as they are in the file
    #[arg(long)]
    json: bool,
}

/// Options of `retrace audit verify`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(VERIFY_EXAMPLES))]
struct VerifyArgs {
    #[command(flatten)]
    log: LogArgs,
}

/// Runs `retrace audit`.
pub(crate) fn run(root: &RootArgs, args: &AuditArgs) -> anyhow::Result<Status> {
    match &args.command {
        AuditCommand::Ls(ls) => run_ls(root, ls),
        AuditCommand::Verify(verify) => run_verify(root, verify),
    }
}

/// A log that is missing or unreadable has the exit status of an unreadable directory.
fn unreadable(err: AuditError) -> anyhow::Error {
    match err {
        AuditError::NotFound(_) | AuditError::Io { .. } => fail(Status::StoreUnreadable, err),
        other => other.into(),
    }
}

impl LsArgs {
    fn matches(&self, line: &AuditLine, since_us: Option<u64>) -> bool {
        if self.who.as_ref().is_some_and(|who| *who != line.who) {
            return false;
        }
        if let Some(action) = &self.action {
            let under = line
                .action
                .strip_prefix(action.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            if !under {
                return false;
            }
        }
        since_us.is_none_or(|since| {
            humantime::parse_rfc3339(&line.at)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .is_some_and(|d| d.as_micros() >= u128::from(since))
        })
    }
}

fn run_ls(root: &RootArgs, args: &LsArgs) -> anyhow::Result<Status> {
    let path = args.log.path(root);
    let since_us = args.since.map(|w| w.unix_us(now_unix_us()));
    let mut out = stdout();
    let mut table = Table::new(vec![
        Column::right("SEQ"),
        Column::left("AT"),
        Column::left("WHO").max_width(32),
        Column::left("ACTION"),
        Column::left("TARGET").max_width(48),
        Column::left("OUTCOME"),
    ]);
    let (mut shown, mut unreadable_lines) = (0usize, 0usize);
    for line in audit::read(&path).map_err(unreadable)? {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("warning: {e}");
                unreadable_lines += 1;
                continue;
            }
        };
        if !args.matches(&line, since_us) {
            continue;
        }
        shown += 1;
        if args.json {
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        } else {
            table.row(vec![
                line.seq.to_string(),
                line.at,
                line.who,
                line.action,
                line.target.unwrap_or_else(|| "-".to_owned()),
                line.outcome,
            ]);
        }
    }
    if unreadable_lines > 0 {
        eprintln!(
            "warning: {unreadable_lines} lines could not be read; run `retrace audit verify`"
        );
    }
    if shown == 0 && !args.json {
        eprintln!("no audit lines match in {}", path.display());
    } else if !args.json {
        table.write(&mut out)?;
    }
    out.flush()?;
    Ok(Status::Success)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn run_verify(root: &RootArgs, args: &VerifyArgs) -> anyhow::Result<Status> {
    let path = args.log.path(root);
    let report = audit::verify(&path).map_err(unreadable)?;
    let mut out = stdout();
    let files = plural(report.files.len() as u64, "file", "files");
    let status = match &report.broken {
        None => {
            let lines = plural(report.lines, "line", "lines");
            writeln!(out, "audit log intact: {lines} in {files}")?;
            if let (Some(first), Some(last), Some(hash)) =
                (report.first_seq, report.last_seq, &report.last_hash)
            {
                let rotated = if first > 1 {
                    " (earlier lines were rotated away)"
                } else {
                    ""
                };
                writeln!(out, "seq {first} to {last}{rotated}, last hash {hash}")?;
            }
            Status::Success
        }
        Some(broken) => {
            writeln!(out, "{broken}")?;
            let before = plural(report.lines, "line checks", "lines check");
            writeln!(
                out,
                "audit log broken at {} line {} ({before} out before it, in {files})",
                broken.file.display(),
                broken.line
            )?;
            Status::Problems
        }
    };
    out.flush()?;
    Ok(status)
}
