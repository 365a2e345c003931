//! Where output goes: stdout, buffered and locked once, or a file named on the command
//! line (`-` meaning stdout). A file that cannot be written is its own exit status; a
//! closed stdout pipe is not an error (see [`crate::exit::classify`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::{Status, fail};

/// Buffered, locked stdout.
pub(crate) fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// An output destination: stdout or a file.
pub(crate) enum Output {
    /// Standard output.
    Stdout(BufWriter<io::StdoutLock<'static>>),
    /// A file being written.
    File(BufWriter<File>, PathBuf),
}

impl Output {
    /// Opens `path` for writing, or stdout for `None` and `-`.
    pub(crate) fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::Stdout(stdout())),
            Some(p) if p == Path::new("-") => Ok(Self::Stdout(stdout())),
            Some(p) => File::create(p)
                .map(|f| Self::File(BufWriter::new(f), p.to_path_buf()))
                .map_err(|e| fail(Status::Output, format!("cannot write {}: {e}", p.display()))),
        }
    }

    /// Runs `write` against the destination and flushes it; a failure names the file.
    pub(crate) fn write_with(
        mut self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> anyhow::Result<()> {
        match &mut self {
            Self::Stdout(w) => {
                write(w)?;
                w.flush().context("cannot write to stdout")
            }
            Self::File(w, path) => write(w).and_then(|()| w.flush()).map_err(|e| {
                fail(
                    Status::Output,
                    format!("cannot write {}: {e}", path.display()),
                )
            }),
        }
    }
}
