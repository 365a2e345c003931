//! The command line: the top-level parser and the list of subcommands. Each
//! subcommand's own options live beside its code in [`crate::cmd`].

use clap::{Parser, Subcommand};

use crate::cmd::{admin_key, audit, export, gc, ls, replay, ship, show, stats, verify, view};
use crate::exit::EXIT_CODES;
use crate::root::RootArgs;

const ABOUT: &str = "List, inspect, export, replay, verify and clean up retrace recordings";

const LONG_ABOUT: &str = "\
List, inspect, export, replay, verify and clean up the recordings a retrace-enabled
service writes. The recording directory is --path, else $RETRACE_RECORDING_PATH, else
./recordings; it holds one directory per process (session) with its segment files.

Recordings are named by id; any unique prefix of an id works, as with git hashes.";

fn after_help() -> String {
    format!(
        "\
Examples:
  retrace ls --status 5xx --since 1h       recent server errors
  retrace show 01J2F3                       one recording, by id prefix
  retrace export 01J2F3 --har out.har       open it in browser developer tools
  retrace replay --target http://127.0.0.1:8080 --status 2xx
                                            send recorded requests again and compare
  retrace gc --max-age 7d --dry-run         what a week of retention would delete
  retrace verify                            check every checksum
  retrace audit verify                      check the audit log's hash chain
  retrace ship --to s3://bucket/prod --watch   keep shipping closed segments
  retrace view                              browse them in a web browser

{EXIT_CODES}"
    )
}

/// `retrace`: the tool for the recordings on disk.
#[derive(Debug, Parser)]
#[command(
    name = "retrace",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = after_help(),
    propagate_version = true,
)]
pub(crate) struct Cli {
    /// Where the recordings are.
    #[command(flatten)]
    pub(crate) root: RootArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List recordings, newest first
    Ls(ls::LsArgs),
    /// Show one recording: request, outgoing calls, response
    Show(show::ShowArgs),
    /// Export recordings as HAR or JSON lines
    Export(export::ExportArgs),
    /// Send recorded requests to a live service and compare the answers
    Replay(Box<replay::ReplayArgs>),
    /// Delete old segments (retention)
    Gc(gc::GcArgs),
    /// Summarise disk use, recordings and recorder losses
    Stats(stats::StatsArgs),
    /// Check every frame's checksum and every index
    Verify(verify::VerifyArgs),
    /// List and check the audit log: who read or changed what
    Audit(audit::AuditArgs),
    /// Make an API key for the admin service, and its keys-file line
    AdminKey(admin_key::AdminKeyArgs),
    /// Ship closed segments to object storage (S3, GCS, Azure, a directory)
    Ship(ship::ShipArgs),
    /// Browse recordings and replay reports in a local web viewer
    View(view::ViewArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
