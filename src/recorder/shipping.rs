//! The shipping thread (`RETRACE_SHIP_URL`): `retrace ship --watch` inside the process,
//! for deployments without a sidecar.
//!
//! It runs [`Shipper::ship_pending`] on a runtime of its own every
//! [`Config::ship_interval`](crate::Config::ship_interval), off the request path and
//! off the writer thread: a slow or unreachable store delays shipping, never a
//! request or a write. It ships the whole recording root, so the closed segments an
//! earlier process left behind go too (a crashed process's last segment has no index
//! and is not shipped: it is not known to be complete). When the guard is dropped, after the writer
//! has closed its last segment, it makes one last pass bounded by the shutdown
//! timeout; what that pass does not ship stays on disk for the next process (or a
//! sidecar) to ship.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::hand_off::Accounting;
use crate::ship::{Destination, ShipError, ShipOptions, ShipReport, Shipper};
use crate::stats::ShippingCounters;

/// The shipping thread; [`ShipLoop::finish`] (or dropping it) makes its last pass.
#[derive(Debug)]
pub(crate) struct ShipLoop {
    /// `Some(within)` asks for a last pass of at most `within`, then an exit.
    stop: tokio::sync::watch::Sender<Option<Duration>>,
    /// Disconnected when the thread has ended.
    ended: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl ShipLoop {
    /// Opens the shipper's journal and starts the thread.
    pub(crate) fn start(
        root: PathBuf,
        url: &str,
        interval: Duration,
        delete: bool,
        accounting: Arc<Accounting>,
    ) -> Result<Self, ShipError> {
        let destination = Destination::parse(url)?;
        let options = ShipOptions {
            delete_after_ship: delete,
            ..ShipOptions::default()
        };
        let shipper = Shipper::new(root, destination, options)?;
        let (stop, stopped) = tokio::sync::watch::channel(None);
        let (alive, ended) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("retrace-shipper".to_owned())
            .spawn(move || {
                let _alive = alive;
                run(shipper, interval, stopped, &accounting.counters.shipping);
            })
            .map_err(|source| ShipError::Io {
                path: PathBuf::from("(the shipping thread)"),
                source,
            })?;
        Ok(Self {
            stop,
            ended,
            thread: Some(thread),
        })
    }

    /// Makes the last pass, for at most `within`, and stops the thread. Returns within
    /// `within` (and a moment): a pass stuck on an unreachable store is abandoned, and
    /// the thread, if it has not ended by then, is left to end by itself.
    pub(crate) fn finish(&mut self, within: Duration) {
        let _ = self.stop.send(Some(within));
        let grace = within + Duration::from_millis(200);
        if let Err(RecvTimeoutError::Disconnected) = self.ended.recv_timeout(grace)
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

impl Drop for ShipLoop {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish(Duration::ZERO);
        }
    }
}

fn run(
    mut shipper: Shipper,
    interval: Duration,
    mut stopped: tokio::sync::watch::Receiver<Option<Duration>>,
    counters: &ShippingCounters,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "retrace: the shipping thread cannot start its runtime; nothing is shipped");
            return;
        }
    };
    runtime.block_on(async {
        // Every wait races the stop signal: a pass held up by a slow store never
        // holds up the guard's drop.
        let within = loop {
            tokio::select! {
                pass = shipper.ship_pending() => publish(&shipper, pass, counters),
                stop = stopped.wait_for(Option::is_some) => break stop.ok().and_then(|s| *s),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                stop = stopped.wait_for(Option::is_some) => break stop.ok().and_then(|s| *s),
            }
        };
        let within = within.unwrap_or_default();
        if !within.is_zero()
            && let Ok(pass) = tokio::time::timeout(within, shipper.ship_pending()).await
        {
            publish(&shipper, pass, counters);
        }
    });
}

fn publish(shipper: &Shipper, pass: Result<ShipReport, ShipError>, counters: &ShippingCounters) {
    let report = match pass {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(error = %error, "retrace: a shipping pass failed; it is tried again later");
            return;
        }
    };
    for (segment, error) in &report.failures {
        tracing::warn!(segment = %segment.display(), error = %error, "retrace: a segment was not shipped; it is tried again later");
    }
    counters.publish(&shipper.status(&report).counts);
}
