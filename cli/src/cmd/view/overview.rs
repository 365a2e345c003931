//! The overview (`/overview`): the sessions (one per recording process) and charts of
//! what they recorded — requests over time, the status mix, the latency distribution,
//! recording sizes — and of what their recorders dropped, by reason. Read from the
//! listing and the sessions' metadata only, like `retrace stats`.

use std::collections::BTreeMap;

use axum::extract::State as AxumState;
use axum::response::Response;
use maud::{Markup, html};
use retrace::{DropReason, Summary};

use super::charts::{self, Column};
use super::page::{self, Section};
use super::server::{Snapshot, State, page_response};
use crate::cmd::stats::SIZE_BUCKETS;
use crate::format::{bytes, duration_us};
use crate::time::rfc3339_seconds;

/// Columns of the requests-over-time chart.
const TIME_COLUMNS: u64 = 24;
/// The upper bounds of the latency buckets, in microseconds.
const LATENCY_BUCKETS: [u64; 8] = [
    1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000,
];

/// `/overview`.
pub(super) async fn page(AxumState(state): AxumState<State>) -> Response {
    state
        .blocking(|state| {
            let snapshot = state.snapshot();
            page_response(render(&state, &snapshot))
        })
        .await
        .unwrap_or_else(|e| e)
}

/// Counts per bucket of `bounds` (exclusive upper bounds; one more bucket past the last).
fn bucketed<'a>(
    summaries: impl Iterator<Item = &'a Summary>,
    value: impl Fn(&Summary) -> Option<u64>,
    bounds: &[u64],
) -> Vec<u64> {
    let mut counts = vec![0; bounds.len() + 1];
    for v in summaries.filter_map(value) {
        counts[bounds.iter().position(|&b| v < b).unwrap_or(bounds.len())] += 1;
    }
    counts
}

fn bucket_columns(counts: &[u64], bounds: &[u64], name: impl Fn(u64) -> String) -> Vec<Column> {
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let label = match bounds.get(i) {
                Some(&b) => format!("< {}", name(b)),
                None => format!("≥ {}", name(bounds[bounds.len() - 1])),
            };
            Column::new(label, n)
        })
        .collect()
}

fn over_time(summaries: &[&Summary]) -> Vec<Column> {
    let (Some(first), Some(last)) = (
        summaries.iter().map(|s| s.started_unix_us).min(),
        summaries.iter().map(|s| s.started_unix_us).max(),
    ) else {
        return Vec::new();
    };
    // Rounded up, so the last start falls in the last column rather than beyond it.
    let width = (last - first) / TIME_COLUMNS + 1;
    let mut counts = vec![0u64; TIME_COLUMNS as usize];
    for s in summaries {
        let i = ((s.started_unix_us - first) / width).min(TIME_COLUMNS - 1);
        counts[i as usize] += 1;
    }
    // The time of day tells columns apart; within a minute it would repeat, so the
    // columns are then labelled by their offset from the first request.
    let within_a_minute = last - first < 60_000_000;
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let offset = i as u64 * width;
            let label = if within_a_minute {
                format!("+{}", duration_us(offset))
            } else {
                let at = rfc3339_seconds(first.saturating_add(offset));
                at.get(11..19).unwrap_or(&at).to_owned()
            };
            Column::new(label, n)
        })
        .collect()
}

fn render(state: &State, snapshot: &Snapshot) -> Markup {
    let summaries: Vec<&Summary> = snapshot
        .listing
        .recordings
        .iter()
        .map(|r| &r.summary)
        .collect();
    // By class: none, then 1xx to 5xx (a status outside 100..=599 counts as none).
    let mut classes = [0u64; 6];
    for s in &summaries {
        let class = s.status.map_or(0, |c| usize::from(c / 100)).min(5);
        classes[class] += 1;
    }
    const CLASSES: [(&str, &str); 6] = [
        ("none", ""),
        ("1xx", ""),
        ("2xx", "s2xx"),
        ("3xx", "s3xx"),
        ("4xx", "s4xx"),
        ("5xx", "s5xx"),
    ];
    let status_columns: Vec<Column> = (CLASSES.iter().zip(classes))
        .filter(|(_, n)| *n > 0)
        .map(|(&(label, class), value)| Column {
            label: label.to_owned(),
            value,
            class,
        })
        .collect();
    let latency = bucketed(
        summaries.iter().copied(),
        |s| s.duration_us,
        &LATENCY_BUCKETS,
    );
    let sizes = bucketed(
        summaries.iter().copied(),
        |s| Some(s.raw_bytes),
        &SIZE_BUCKETS,
    );
    let mut drops: BTreeMap<&'static str, u64> = BTreeMap::new();
    for session in snapshot.store.sessions() {
        if let Some(m) = &session.metadata {
            for &(reason, n) in &m.stats.dropped {
                *drops.entry(DropReason::as_str(reason)).or_default() += n;
            }
        }
    }
    let mut per_session: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in &snapshot.listing.recordings {
        let e = per_session.entry(r.session.name.as_str()).or_default();
        e.0 += 1;
        e.1 += r.summary.raw_bytes;
    }
    let time_title = summaries
        .iter()
        .map(|s| s.started_unix_us)
        .min()
        .map_or_else(
            || "Requests over time".to_owned(),
            |first| format!("Requests over time from {}", rfc3339_seconds(first)),
        );
    let body = html! {
        h1 { "Overview" }
        div.charts {
            (charts::columns(&time_title, "chart-time", "recordings", &over_time(&summaries)))
            (charts::columns("Status mix", "chart-status", "recordings", &status_columns))
            (charts::columns("Latency", "chart-latency", "recordings",
                &bucket_columns(&latency, &LATENCY_BUCKETS, duration_us)))
            (charts::columns("Recording sizes", "chart-sizes", "recordings",
                &bucket_columns(&sizes, &SIZE_BUCKETS, bytes)))
            (charts::columns("Dropped by the recorders, by reason", "chart-drops", "requests",
                &drops.iter().map(|(r, &n)| Column::new(*r, n)).collect::<Vec<_>>()))
        }
        h2 { "Sessions" }
        table.recordings #sessions {
            thead { tr {
                th { "Session" } th { "Service" } th { "Pod" } th { "Started (UTC)" }
                th { "Recordings" } th { "Recorded" } th { "Dropped" } th { "Closed cleanly" }
            } }
            tbody {
                @for session in snapshot.store.sessions() {
                    @let m = session.metadata.as_ref();
                    @let (count, size) = per_session.get(session.name.as_str()).copied().unwrap_or_default();
                    tr {
                        td { code { (session.name) } }
                        td { (session.service()) }
                        td { (session.origin().and_then(|o| o.pod.as_deref()).unwrap_or("-")) }
                        td { (m.map_or_else(|| "-".to_owned(), |m| rfc3339_seconds(m.started_unix_ms * 1000))) }
                        td.num { (count) }
                        td.num { (bytes(size)) }
                        td.num { (m.map_or(0, |m| m.stats.dropped.iter().map(|(_, n)| n).sum::<u64>())) }
                        td { (if m.is_some_and(|m| m.closed_cleanly) { "yes" } else { "no" }) }
                    }
                }
            }
        }
    };
    page::layout(state, Section::Overview, "Overview", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrace::RecordingId;

    /// The requests-over-time columns of requests started at `base` plus each offset.
    fn over_time_of(base: u64, offsets: &[u64]) -> Vec<Column> {
        let summaries: Vec<Summary> = offsets
            .iter()
            .map(|&t| {
                let mut s = Summary::new(RecordingId::new());
                s.started_unix_us = base + t;
                s
            })
            .collect();
        let refs: Vec<&Summary> = summaries.iter().collect();
        over_time(&refs)
    }

    #[test]
    fn requests_over_time_are_spread_over_the_columns_and_none_piles_up_in_the_last() {
        let at = |starts: &[u64]| -> Vec<u64> {
            over_time_of(1_000_000_000, starts)
                .iter()
                .map(|c| c.value)
                .collect()
        };
        // 30 requests a microsecond apart: a column a microsecond wide would leave
        // seven in the last one.
        let columns = at(&(0..30).collect::<Vec<_>>());
        assert_eq!(columns.len(), TIME_COLUMNS as usize);
        assert!(columns.iter().all(|&n| n <= 2), "{columns:?}");
        assert_eq!(columns.iter().sum::<u64>(), 30);
        // 48 requests a second apart: two a column.
        let columns = at(&(0..48).map(|i| i * 1_000_000).collect::<Vec<_>>());
        assert!(columns.iter().all(|&n| n == 2), "{columns:?}");
        // Within a minute, columns are labelled by offset; beyond, by time of day.
        let labels = |starts: &[u64]| -> Vec<String> {
            over_time_of(1_800_000_000_000_000, starts)
                .into_iter()
                .map(|c| c.label)
                .collect()
        };
        let near = labels(&[0, 2_400_000]);
        assert_eq!(
            (near[0].as_str(), near[1].as_str()),
            ("+0µs", "+100.0ms"),
            "{near:?}"
        );
        let far = labels(&[0, 24 * 60_000_000]);
        assert_eq!(
            (far[0].as_str(), far[1].as_str()),
            ("08:00:00", "08:01:00"),
            "{far:?}"
        );
        // One request, and the widest span there is.
        assert_eq!(at(&[5]).iter().sum::<u64>(), 1);
        assert_eq!(at(&[0, u64::MAX - 1_000_000_000]).iter().sum::<u64>(), 2);
    }
}
