//! `retrace`: the operator's and developer's tool for the recordings on disk.
//!
//! Each subcommand lives in its own module under [`cmd`] and returns the [`Status`] the
//! process exits with; everything they share (the recording root, filters, formatting,
//! JSON views, progress) has one module each, so two subcommands never print the same
//! thing two ways. Errors travel as `anyhow` errors to `main`, which prints them as one
//! line and maps them to the documented exit codes in [`exit`].

mod audit_trail;
mod cli;
mod cmd;
mod exit;
mod filter;
mod format;
mod output;
mod progress;
mod root;
mod time;

use std::process::ExitCode;

use clap::Parser;

use crate::exit::Status;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // Help and version go to stdout and succeed; usage errors go to stderr.
            let _ = err.print();
            return if err.use_stderr() {
                Status::Usage
            } else {
                Status::Success
            }
            .into();
        }
    };
    let status = match cmd::run(args) {
        Ok(status) => status,
        Err(err) => {
            let status = exit::classify(&err);
            if status != Status::Success {
                eprintln!("error: {err:#}");
            }
            status
        }
    };
    status.into()
}
