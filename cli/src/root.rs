//! The recording root every subcommand reads: `--path`, else `$RETRACE_RECORDING_PATH`,
//! else `./recordings` (the same default the recorder writes to), and opening it.

use std::path::PathBuf;

use clap::Args;
use retrace::{Problem, Store};

/// The `--path` option, shared by every subcommand.
#[derive(Debug, Args)]
pub(crate) struct RootArgs {
    /// Recording directory [default: $RETRACE_RECORDING_PATH, then ./recordings]
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "RETRACE_RECORDING_PATH",
        hide_env = true,
        default_value = "./recordings",
        hide_default_value = true
    )]
    pub(crate) path: PathBuf,
}

impl RootArgs {
    /// Opens the store; a missing or unreadable directory is an error.
    pub(crate) fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.path)?)
    }
}

/// How many problems are printed before the rest are only counted.
const SHOWN_PROBLEMS: usize = 20;

/// Prints problems met while reading as warnings on stderr: damaged files never stop a
/// command from handling the rest, but they are never silent either.
pub(crate) fn warn_problems(problems: &[Problem]) {
    for problem in problems.iter().take(SHOWN_PROBLEMS) {
        eprintln!("warning: {problem}");
    }
    if problems.len() > SHOWN_PROBLEMS {
        eprintln!(
            "warning: {} more problems; run `retrace verify` for all of them",
            problems.len() - SHOWN_PROBLEMS
        );
    }
}
