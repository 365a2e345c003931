//! `retrace ship`: copies closed segments to object storage (S3 and S3-compatible
//! servers, Google Cloud Storage, Azure Blob Storage, a directory), once or, with
//! `--watch`, as a sidecar that keeps shipping until it is stopped.
//!
//! What is shipped, the keys, the verification and the journal are
//! [`retrace::ship`]'s; this module is the loop, the signals and the report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use retrace::ship::{Destination, ShipOptions, ShipReport, Shipper};

use super::help_with_examples;
use crate::exit::Status;
use crate::format::bytes;
use crate::root::RootArgs;

const EXAMPLES: &str = "  retrace ship --to s3://recordings/prod
  retrace ship --from /var/lib/retrace --to s3://recordings/prod --watch --delete-after-ship
  retrace ship --to gs://recordings/prod
  retrace ship --to /mnt/archive/recordings

Only closed segments are shipped (those with an index file beside them); the one a
recorder is writing is left alone. Objects go to
{prefix}/{service}/{yyyy-mm-dd}/{hh}/{session}/{file}, with the session's metadata.
S3 checks each upload against its SHA-256; then the object's size and the BLAKE3
digest it carries are confirmed, and the upload is recorded in a journal in the
recording directory, so an interrupted run picks up where it stopped and never
deletes a file that is not safely in the store.

Credentials and endpoints come from the store's own environment: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (an S3-compatible server),
AWS_ALLOW_HTTP=true (a server on plain HTTP), instance profiles; GOOGLE_* and AZURE_*
likewise.";

/// Options of `retrace ship`.
#[derive(Debug, Args)]
#[command(after_help = help_with_examples(EXAMPLES))]
pub(crate) struct ShipArgs {
    /// The recording directory to ship from [default: --path]
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Where to: s3://BUCKET/PREFIX, gs://…, az://…, file:///DIR or a directory
    #[arg(long, value_name = "URL")]
    to: String,
    /// Keep shipping new segments until interrupted (Ctrl-C or SIGTERM)
    #[arg(long)]
    watch: bool,
    /// How often --watch looks for new segments
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Delete each local segment once its upload is verified
    #[arg(long)]
    delete_after_ship: bool,
}

/// Runs `retrace ship`.
pub(crate) fn run(root: &RootArgs, args: &ShipArgs) -> anyhow::Result<Status> {
    let from = args.from.clone().unwrap_or_else(|| root.path.clone());
    let destination = Destination::parse(&args.to)?;
    let options = ShipOptions {
        delete_after_ship: args.delete_after_ship,
        ..ShipOptions::default()
    };
    let mut shipper = Shipper::new(&from, destination, options)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        if !args.watch {
            let report = shipper.ship_pending().await?;
            print_report(&shipper, &report);
            return Ok(if report.failures.is_empty() {
                Status::Success
            } else {
                Status::Problems
            });
        }
        let mut stop = std::pin::pin!(shutdown_signal());
        eprintln!(
            "shipping {} to {} every {}; Ctrl-C stops",
            from.display(),
            args.to,
            humantime::format_duration(args.interval)
        );
        loop {
            // An interrupted pass is safe: what it did not journal goes again.
            tokio::select! {
                report = shipper.ship_pending() => {
                    let report = report?;
                    if report.segments > 0 || !report.failures.is_empty() {
                        print_report(&shipper, &report);
                    }
                }
                () = &mut stop => break,
            }
            tokio::select! {
                () = tokio::time::sleep(args.interval) => {}
                () = &mut stop => break,
            }
        }
        let totals = shipper.totals();
        eprintln!(
            "stopped: {} segments ({}) shipped, {} failed attempts, {} retries",
            totals.segments,
            bytes(totals.bytes),
            totals.failed,
            totals.retried
        );
        Ok(Status::Success)
    })
}

fn print_report(shipper: &Shipper, report: &ShipReport) {
    for (segment, error) in &report.failures {
        eprintln!("error: {}: {error}", segment.display());
    }
    let mut line = format!(
        "shipped {} segments ({}) to {}",
        report.segments,
        bytes(report.bytes),
        shipper.destination().url()
    );
    if report.already_there > 0 {
        line.push_str(&format!(
            "; {} files were there already",
            report.already_there
        ));
    }
    if report.deleted > 0 {
        line.push_str(&format!("; deleted {} local files", report.deleted));
    }
    if report.pending > 0 {
        line.push_str(&format!("; {} pending", report.pending));
        if let Some(lag) = report.lag {
            line.push_str(&format!(
                ", the oldest for {}",
                humantime::format_duration(Duration::from_secs(lag.as_secs()))
            ));
        }
    }
    eprintln!("{line}");
}

/// Resolves on Ctrl-C or SIGTERM (how Kubernetes stops a sidecar).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
