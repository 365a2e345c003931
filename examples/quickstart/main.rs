//! The quickstart: record real traffic, then replay it offline.
//!
//! 1. Starts an upstream "inventory" service and a "shop" service on 127.0.0.1. The
//!    shop's handler asks the inventory through a recorded HTTP client and stamps its
//!    answer with `retrace::now()`.
//! 2. Sends a burst of real requests: some carry the trigger header, some are sampled.
//! 3. Stops the inventory service: from here on there is no upstream.
//! 4. Replays every recording in-process against the shop, configured with another
//!    inventory address as a laptop would be, with each outgoing call answered from the
//!    recording, and prints a table of the results.
//!
//! The recordings stay in `./recordings` (or `$RETRACE_RECORDING_PATH`) for the CLI:
//! `cargo run -p retrace-cli -- ls`. With `--report FILE` the replay's results are also
//! written as a replay report, which `retrace view --report FILE` shows beside the
//! recordings.
//!
//! Run: `cargo run --example quickstart [-- --report replay.json]`

mod shop;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use retrace::replay::{ReplayKind, ReplayReportFile};
use retrace::{Config, Recorder, Store};
use retrace_tower::{ClientLayer, RecordLayer};
use tower::Layer;

use shop::{Shop, inventory_app, send_burst, serve, shop_app};

/// The `--report FILE` argument, if given.
fn report_path() -> anyhow::Result<Option<std::path::PathBuf>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, ..) => Ok(None),
        (Some("--report"), Some(path), None) => Ok(Some(path.into())),
        _ => anyhow::bail!("usage: quickstart [--report FILE]"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let report_path = report_path()?;
    let config = Config::builder()
        .enabled(true)
        .service("shop")
        .sample_rate(0.5)
        .with_env()
        .build()?;
    let root = config.recording_path.clone();
    let (recorder, guard) = Recorder::new(config)?;
    let session = recorder.session_dir().map(|p| p.to_path_buf());

    // The upstream: an inventory service.
    let (inventory_url, stop_inventory) = serve(inventory_app(0.0)).await?;

    // The shop, recorded.
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let shop = Shop {
        upstream: ClientLayer::new().layer(http.clone()),
        inventory: inventory_url,
    };
    let recorded_app = shop_app(shop.clone()).layer(RecordLayer::new(recorder.clone()));
    let (shop_url, stop_shop) = serve(recorded_app).await?;

    // A burst of real traffic.
    send_burst(&http, &shop_url, 24).await?;
    let _ = stop_shop.send(());
    let _ = stop_inventory.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = guard.shutdown()?;
    println!(
        "recorded {} of 24 requests ({} written, {} dropped); the inventory service is now stopped\n",
        stats.started,
        stats.written,
        stats.dropped_total()
    );

    // Offline: replay each recording of this session against the shop, configured as
    // on another machine: its inventory would be at another address, where nothing
    // runs. Calls match on what they ask (method, path, query, body), not on where.
    let shop = Shop {
        inventory: "http://127.0.0.1:9".to_owned(),
        ..shop
    };
    let store = Store::open(&root)?;
    let mut recordings: Vec<_> = store
        .list()
        .recordings
        .into_iter()
        .filter(|r| Some(&r.session.dir) == session.as_ref())
        .collect();
    recordings.reverse();
    println!(
        "{:<12} {:<20} {:>6} {:>16}  diff",
        "recording", "route", "status", "calls replayed"
    );
    let mut identical = 0;
    let mut report_file = ReplayReportFile::new(ReplayKind::InProcess, None);
    for info in &recordings {
        let recording = store.load(info)?;
        // A strict replay that diverged is an error carrying its report: shown too.
        let report = retrace_tower::replay_recording(&recording, shop_app(shop.clone()))
            .await
            .or_else(retrace_tower::ReplayError::into_report)?;
        let recorded_calls = recording.calls().len();
        let verdict = if report.is_identical() {
            identical += 1;
            "identical".to_owned()
        } else {
            format!(
                "differs: {}",
                report.diff.to_string().lines().next().unwrap_or("")
            )
        };
        println!(
            "{:<12} {:<20} {:>6} {:>16}  {verdict}",
            &recording.id.to_string()[..12],
            report.route,
            report.response.status,
            format!("{}/{recorded_calls}", report.calls.answered),
        );
        report_file.recordings.push(report.entry());
    }
    println!(
        "\n{identical} of {} recordings replayed identically with no network; recordings are in {}",
        recordings.len(),
        root.display()
    );
    println!(
        "next: cargo run -p retrace-cli -- ls --path {}",
        root.display()
    );
    if let Some(path) = report_path {
        report_file.write(&path)?;
        println!(
            "replay report in {0}; browse both with: cargo run -p retrace-cli -- view {1} --report {0}",
            path.display(),
            root.display()
        );
    }
    Ok(())
}
