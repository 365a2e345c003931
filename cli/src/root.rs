//! The recording root every subcommand reads: `--path`, else `$RETRACE_RECORDING_PATH`,
//! else `./recordings` (the same default the recorder writes to), and opening it.
//!
//! The root may also be an object-store URL (`s3://bucket/prefix`, `gs://…`, `az://…`)
//! where `retrace ship` put recordings: it is then read through a local mirror
//! ([`retrace::ship::Mirror`]) in `$RETRACE_CACHE_DIR` (default: the user's cache
//! directory), which holds the indexes and only the segments a command reads.

use std::path::PathBuf;

use clap::Args;
use retrace::ship::{Destination, Mirror};
use retrace::{Problem, Store};

/// The `--path` option, shared by every subcommand.
#[derive(Clone, Debug, Args)]
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
    /// An age identity file that opens encrypted recordings (repeatable)
    #[arg(
        long = "identity",
        global = true,
        value_name = "FILE",
        env = "RETRACE_IDENTITY",
        value_delimiter = ','
    )]
    pub(crate) identities: Vec<PathBuf>,
}

impl RootArgs {
    /// Puts the identities given into the process's keyring, which every reader of an
    /// encrypted segment or index uses.
    pub(crate) fn load_identities(&self) -> anyhow::Result<()> {
        for path in &self.identities {
            retrace::encryption::keyring().add_identity_file(path)?;
        }
        Ok(())
    }

    /// Opens the store; a missing or unreadable directory is an error.
    pub(crate) fn open(&self) -> anyhow::Result<Store> {
        match self.mirror()? {
            Some(mirror) => Ok(mirror.open_store()?.0),
            None => Ok(Store::open(&self.path)?),
        }
    }

    /// The root's object-store URL, when it is one.
    pub(crate) fn url(&self) -> Option<&str> {
        self.path.to_str().filter(|p| p.contains("://"))
    }

    /// The local mirror of an object-store root; `None` for a directory.
    pub(crate) fn mirror(&self) -> anyhow::Result<Option<Mirror>> {
        let Some(url) = self.url() else {
            return Ok(None);
        };
        let destination = Destination::parse(url)?;
        Ok(Some(Mirror::new(destination, &cache_dir())))
    }
}

/// Where mirrors of object-store roots live.
fn cache_dir() -> PathBuf {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from_env("RETRACE_CACHE_DIR")
        .or_else(|| from_env("XDG_CACHE_HOME").map(|d| d.join("retrace")))
        .or_else(|| from_env("HOME").map(|d| d.join(".cache").join("retrace")))
        .unwrap_or_else(|| std::env::temp_dir().join("retrace-cache"))
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
