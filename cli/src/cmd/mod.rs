//! The subcommands, one module each. Each takes its parsed options and the recording
//! root and returns the status the process exits with.

pub(crate) mod admin_key;
pub(crate) mod audit;
pub(crate) mod export;
pub(crate) mod gc;
pub(crate) mod ls;
pub(crate) mod replay;
pub(crate) mod ship;
pub(crate) mod show;
pub(crate) mod stats;
pub(crate) mod verify;
pub(crate) mod view;

use retrace::{Listing, RecordingInfo};

use crate::cli::{Cli, Command};
use crate::exit::{EXIT_CODES, Status};

/// Runs the subcommand the command line asked for.
pub(crate) fn run(cli: Cli) -> anyhow::Result<Status> {
    let root = &cli.root;
    root.load_identities()?;
    match cli.command {
        Command::Ls(args) => ls::run(root, &args),
        Command::Show(args) => show::run(root, &args),
        Command::Export(args) => export::run(root, &args),
        Command::Replay(args) => replay::run(root, &args),
        Command::Gc(args) => gc::run(root, &args),
        Command::Stats(args) => stats::run(root, &args),
        Command::Verify(args) => verify::run(root, &args),
        Command::Audit(args) => audit::run(root, &args),
        Command::AdminKey(args) => admin_key::run(&args),
        Command::Ship(args) => ship::run(root, &args),
        Command::View(args) => view::run(root, &args),
    }
}

/// A subcommand's `--help` epilogue: its examples, then the exit codes.
pub(crate) fn help_with_examples(examples: &str) -> String {
    format!("Examples:\n{examples}\n\n{EXIT_CODES}")
}

/// Finds the recordings named by ids or unique prefixes, in the order given; the first
/// that matches nothing or several is the error.
pub(crate) fn resolve<'a>(
    listing: &'a Listing,
    ids: &[String],
) -> anyhow::Result<Vec<&'a RecordingInfo>> {
    let finder = retrace::store::IdFinder::new(listing);
    ids.iter().map(|id| Ok(finder.find(id)?)).collect()
}
