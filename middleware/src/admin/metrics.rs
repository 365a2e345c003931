//! `GET /metrics`: the recorder's counters in the Prometheus / OpenMetrics text format,
//! encoded by the `prometheus-client` crate from one snapshot per scrape (the counters
//! are the recorder's own atomics; nothing is counted twice).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `retrace_requests_seen_total` | counter | |
//! | `retrace_decisions_total` | counter | `reason`: sampled, header, flag, window, parent, manual, capture, tentative, kept_on_status, kept_on_error, kept_on_latency |
//! | `retrace_recordings_started_total` | counter | |
//! | `retrace_recordings_written_total` | counter | |
//! | `retrace_recordings_discarded_total` | counter | |
//! | `retrace_recordings_dropped_total` | counter | `reason`: channel_full, byte_budget, writer_gone, io_error, encode_error, disk_budget, in_flight_limit, after_shutdown |
//! | `retrace_recordings_declined_total` | counter | `reason` (as dropped) |
//! | `retrace_bytes_in_total` | counter | | event bytes handed to the writer |
//! | `retrace_bytes_written_total` | counter | | bytes appended to segment files |
//! | `retrace_write_errors_total` | counter | |
//! | `retrace_channel_depth` | gauge | |
//! | `retrace_channel_capacity` | gauge | |
//! | `retrace_write_duration_seconds` | histogram | |
//! | `retrace_captures_active` | gauge | |
//! | `retrace_policy_reloads_total` | counter | `outcome`: applied, rejected (with a policy file) |
//! | `retrace_ship_segments_total` | counter | | segments shipped (with `RETRACE_SHIP_URL`) |
//! | `retrace_ship_bytes_total` | counter | | bytes uploaded |
//! | `retrace_ship_failures_total` | counter | | failed attempts at a segment |
//! | `retrace_ship_retries_total` | counter | | attempts at a segment that had failed |
//! | `retrace_ship_pending_segments` | gauge | | closed segments not shipped yet |
//! | `retrace_ship_lag_seconds` | gauge | | how long the oldest of them has waited |

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use retrace::stats::{DECISIONS, WRITE_LATENCY_BOUNDS_US};
use retrace::{DropReason, Recorder, Stats};

/// The content type of the answer.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics text for `recorder` now.
pub(crate) fn render(recorder: &Recorder) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        stats: recorder.stats(),
        depth: recorder.queue_depth() as u64,
        capacity: recorder.config().map_or(0, |c| c.channel_capacity as u64),
        captures: recorder.policy().active_captures() as u64,
        policy_file: recorder.policy().file_status(),
        shipping: recorder.config().is_some_and(|c| c.ship_url.is_some()),
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[derive(Debug)]
struct Snapshot {
    stats: Stats,
    depth: u64,
    capacity: u64,
    captures: u64,
    policy_file: Option<retrace::policy::PolicyFileStatus>,
    /// Whether the recorder ships (`RETRACE_SHIP_URL`): the shipping metrics exist only then.
    shipping: bool,
}

fn label(name: &str) -> String {
    name.replace('-', "_")
}

fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(v as i64);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

fn by_reason(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (String, u64)>,
) -> std::fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (reason, n) in values {
        let labels = [("reason", label(&reason))];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = &self.stats;
        let e = &mut e;
        counter(
            e,
            "retrace_requests_seen",
            "Requests the record layers saw, recorded or not.",
            s.requests_seen,
        )?;
        by_reason(
            e,
            "retrace_decisions",
            "Recordings started, by reason; tentative ones kept, by cause.",
            DECISIONS.iter().map(|d| ((*d).to_owned(), s.decisions(d))),
        )?;
        counter(
            e,
            "retrace_recordings_started",
            "Recordings started.",
            s.started,
        )?;
        counter(
            e,
            "retrace_recordings_written",
            "Recordings whose last chunk reached disk.",
            s.written,
        )?;
        counter(
            e,
            "retrace_recordings_discarded",
            "Tentative recordings not kept.",
            s.discarded,
        )?;
        by_reason(
            e,
            "retrace_recordings_dropped",
            "Recordings lost, by reason.",
            DropReason::ALL
                .iter()
                .map(|r| (r.as_str().to_owned(), s.dropped(*r))),
        )?;
        by_reason(
            e,
            "retrace_recordings_declined",
            "Requests chosen for recording but not started, by reason.",
            DropReason::ALL.iter().map(|r| {
                let n = s
                    .declined
                    .iter()
                    .find(|(d, _)| d == r)
                    .map_or(0, |(_, n)| *n);
                (r.as_str().to_owned(), n)
            }),
        )?;
        counter(
            e,
            "retrace_bytes_in",
            "Event bytes handed to the writer, before encoding.",
            s.raw_bytes,
        )?;
        counter(
            e,
            "retrace_bytes_written",
            "Bytes appended to segment files.",
            s.written_bytes,
        )?;
        counter(e, "retrace_write_errors", "Failed writes.", s.write_errors)?;
        gauge(
            e,
            "retrace_channel_depth",
            "Messages waiting in the hand-off channel.",
            self.depth,
        )?;
        gauge(
            e,
            "retrace_channel_capacity",
            "Messages the hand-off channel holds.",
            self.capacity,
        )?;
        let lat = &s.write_latency;
        let buckets: Vec<(f64, u64)> = WRITE_LATENCY_BOUNDS_US
            .iter()
            .map(|us| *us as f64 / 1e6)
            // prometheus-client's mark of the last bucket, written `le="+Inf"`.
            .chain(std::iter::once(f64::MAX))
            .zip(lat.counts.iter().copied().chain(std::iter::repeat(0)))
            .collect();
        e.encode_descriptor(
            "retrace_write_duration_seconds",
            "How long the writer's writes to disk took.",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            lat.sum_us as f64 / 1e6,
            lat.count(),
            &buckets,
            None,
        )?;
        gauge(
            e,
            "retrace_captures_active",
            "Captures recording now.",
            self.captures,
        )?;
        if self.shipping {
            let sh = &s.shipping;
            counter(
                e,
                "retrace_ship_segments",
                "Segments shipped to object storage.",
                sh.segments,
            )?;
            counter(
                e,
                "retrace_ship_bytes",
                "Bytes uploaded to object storage.",
                sh.bytes,
            )?;
            counter(
                e,
                "retrace_ship_failures",
                "Failed attempts to ship a segment.",
                sh.failed,
            )?;
            counter(
                e,
                "retrace_ship_retries",
                "Attempts at a segment that had failed before.",
                sh.retried,
            )?;
            gauge(
                e,
                "retrace_ship_pending_segments",
                "Closed segments not shipped yet.",
                sh.pending,
            )?;
            let lag = ConstGauge::new(sh.lag_ms as f64 / 1e3);
            lag.encode(e.encode_descriptor(
                "retrace_ship_lag_seconds",
                "How long the oldest closed segment not shipped yet has waited.",
                None,
                lag.metric_type(),
            )?)?;
        }
        if let Some(file) = &self.policy_file {
            let mut family = e.encode_descriptor(
                "retrace_policy_reloads",
                "Versions of the policy file applied or rejected.",
                None,
                MetricType::Counter,
            )?;
            for (outcome, n) in [("applied", file.applied), ("rejected", file.rejected)] {
                ConstCounter::new(n).encode(family.encode_family(&[("outcome", outcome)])?)?;
            }
        }
        Ok(())
    }
}
