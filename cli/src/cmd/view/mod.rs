//! `retrace view`: the recordings in a browser. A read-only web UI, served by this
//! process from the recording directory (or an object-store URL, through the same
//! mirror every reader uses): the list with filters, one recording with a waterfall of
//! its calls, queries and values, a replay report side by side with the recordings,
//! and an overview with charts.
//!
//! Why a server and not a static export: a directory of 100,000 recordings is listed
//! from its segment indexes in well under a second, but bodies are read only when a
//! recording is opened, and only the recording opened reaches the audit log.
//!
//! Every asset is compiled into the binary ([`server`]); pages are rendered on the
//! server with every value escaped ([`page`]), with a little script for keyboard
//! navigation and folding. Loopback by default, and even there only for whoever holds
//! the random token printed in the URL; anything else needs `--allow-remote` and an
//! API key from a keys file ([`access`]).

mod access;
mod body;
mod charts;
mod list;
mod overview;
mod page;
mod recording;
mod replay;
mod server;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use retrace::replay::ReplayReportFile;
use retrace_tower::admin::KeySource;

use super::help_with_examples;
use crate::exit::{Status, fail};
use crate::root::RootArgs;

const EXAMPLES: &str =
    "  retrace view                                the recordings in ./recordings
  retrace view /var/lib/retrace --port 8088   a directory, on a chosen port
  retrace view s3://bucket/prod               what `retrace ship` put in a bucket
  retrace replay --target http://127.0.0.1:8080 --report replay.json
  retrace view --report replay.json           what the replay changed, side by side
  retrace view --bind 0.0.0.0 --allow-remote --keys admin-keys
                                              for others: each needs a `read` key

The printed URL carries a random token (?token=...): opening it signs the browser in;
a script sends `Authorization: Bearer TOKEN`. With --keys, a key replaces the token.

Pages: / (recordings; j/k to move, Enter to open, / to search), /r/ID (one recording;
a unique id prefix works too), /replay (the report), /overview (charts). Every view of
a recording is appended to the directory's audit log when it has one.";

/// Options of `retrace view`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct ViewArgs {
    /// The recording directory or object-store URL [default: --path, then
    /// $RETRACE_RECORDING_PATH, then ./recordings]
    #[arg(value_name = "DIR|URL")]
    dir: Option<PathBuf>,
    /// A replay report to show (`retrace replay --report FILE`, or an in-process
    /// replay's `ReplayReportFile`)
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// The port to listen on [default: a free one]
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// The address to listen on; anything but loopback needs --allow-remote and --keys
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Allow listening on an address other than loopback
    #[arg(long)]
    allow_remote: bool,
    /// An API keys file (`retrace admin-key`): every page then asks for a key with at
    /// least the `read` scope
    #[arg(long, value_name = "FILE", env = "RETRACE_VIEW_KEYS")]
    keys: Option<PathBuf>,
}

/// Runs `retrace view` until Ctrl-C or SIGTERM.
pub(crate) fn run(root: &RootArgs, args: &ViewArgs) -> anyhow::Result<Status> {
    let mut root = root.clone();
    if let Some(dir) = &args.dir {
        root.path.clone_from(dir);
    }
    if !args.bind.is_loopback() && !args.allow_remote {
        return Err(fail(
            Status::Usage,
            format!(
                "--bind {}: not a loopback address; recordings hold production traffic, so \
                 serving them beyond this machine needs --allow-remote and --keys FILE",
                args.bind
            ),
        ));
    }
    let keys = match &args.keys {
        Some(path) => Some(
            KeySource::file(path.clone())
                .map_err(|e| fail(Status::Usage, format!("--keys {}: {e}", path.display())))?,
        ),
        None if !args.bind.is_loopback() => {
            return Err(fail(
                Status::Usage,
                "--allow-remote needs --keys FILE: every page then asks for an API key \
                 (make one with `retrace admin-key new NAME --scope read`)",
            ));
        }
        None => None,
    };
    let report = args
        .report
        .as_deref()
        .map(ReplayReportFile::read)
        .transpose()
        .map_err(|e| fail(Status::Usage, format!("--report: {e}")))?;
    let store = root.open()?;
    let addr = SocketAddr::new(args.bind, args.port.unwrap_or(0));
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let state = server::State::new(root, store, report, keys, local);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let shown = if local.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
        } else {
            local
        };
        match state.access().token() {
            Some(token) => println!("retrace view: http://{shown}/?token={token}"),
            None => println!("retrace view: http://{shown}/ (sign in with a key from --keys)"),
        }
        eprintln!("serving {}; Ctrl-C stops", state.root_text());
        axum::serve(listener, server::router(state))
            .with_graceful_shutdown(stop_signal())
            .await
            .context("serving")
    })?;
    Ok(Status::Success)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
