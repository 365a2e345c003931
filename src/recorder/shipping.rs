//! The shipping thread (`RETRACE_SHIP_URL`): `retrace ship --watch` inside the process,
//! for deployments without a sidecar.
//!
//! It runs [`Shipper::ship_pending`] on a runtime of its own every
//! [`Config::ship_interval`](crate::Config::ship_interval), off the request path and
//! off the writer thread: a slow or unreachable store delays shipping, never a
//! request or a write. It ships the whole recording root, so segments a crashed
//! earlier process left behind go too. When the guard is dropped, after the writer
//! has closed its last segment, it makes one last pass bounded by the shutdown
//! timeout; what that pass does not ship stays on disk for the next process (or a
//! sidecar) to ship.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::hand_off::Accounting;
use crate::ship::{Destination, ShipError, ShipOptions, ShipReport, Shipper};
use crate::stats::ShippingCounters;

/// The shipping thread; [`ShipLoop::finish`] (or dropping it) makes its last pass.
#[derive(Debug)]
pub(crate) struct ShipLoop {
    stop: Option<Sender<Duration>>,
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
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("retrace-shipper".to_owned())
            .spawn(move || run(shipper, interval, &stopped, &accounting.counters.shipping))
            .map_err(|source| ShipError::Io {
                path: PathBuf::from("(the shipping thread)"),
                source,
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Makes the last pass, for at most `within`, and stops the thread.
    pub(crate) fn finish(&mut self, within: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(within);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ShipLoop {
    fn drop(&mut self) {
        self.finish(Duration::ZERO);
    }
}

fn run(
    mut shipper: Shipper,
    interval: Duration,
    stopped: &Receiver<Duration>,
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
    loop {
        let pass = runtime.block_on(shipper.ship_pending());
        publish(&shipper, pass, counters);
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => continue,
            Ok(within) => {
                if !within.is_zero() {
                    let last = runtime.block_on(async {
                        tokio::time::timeout(within, shipper.ship_pending()).await
                    });
                    if let Ok(pass) = last {
                        publish(&shipper, pass, counters);
                    }
                }
                return;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
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
    let status = shipper.status(&report);
    for (counter, value) in [
        (&counters.segments, status.segments),
        (&counters.bytes, status.bytes),
        (&counters.failed, status.failed),
        (&counters.retried, status.retried),
        (&counters.pending, status.pending),
        (&counters.lag_ms, status.lag_ms),
    ] {
        counter.store(value, Ordering::Relaxed);
    }
}
