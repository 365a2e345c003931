//! One recording (`/r/{id}`): what it is, the waterfall of everything that crossed the
//! process boundary on the request's timeline, the request, the response, and each
//! call's detail. Every view is appended to the directory's audit log when it has one.
//!
//! The waterfall has one row per crossing, in the order they started: outgoing calls
//! with their duration, then database queries, boundaries, clock and random values as
//! points (the recorder keeps when they were asked for, not how long they took). A lane
//! strip above the rows puts calls that overlapped in parallel lanes, so fan-out shows
//! as a stack and calls made one after another as a staircase.

use axum::Extension;
use axum::extract::{Path, State as AxumState};
use axum::response::Response;
use maud::{Markup, html};
use retrace::event::ValueKind;
use retrace::{CallOutcome, NamedValue, Recording, RecordingInfo};

use super::access::Viewer;
use super::body;
use super::page::{self, Section, status_badge};
use super::server::{State, page_response, recording_page, viewer_of};
use crate::cmd::show::waterfall::{call_label, scale, span_us};
use crate::format::duration_us;
use crate::format::summary::{duration, reason};
use crate::time::rfc3339_millis;

/// `/r/{id}`: one recording, by id or unique prefix.
pub(super) async fn page(
    AxumState(state): AxumState<State>,
    Path(id): Path<String>,
    viewer: Option<Extension<Viewer>>,
) -> Response {
    recording_page(&state, id, viewer_of(viewer), |state, info, rec| {
        page_response(render(state, info, rec))
    })
    .await
}

/// What a row of the waterfall stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowKind {
    Call,
    Value(ValueKind),
}

/// One crossing on the timeline.
struct Row {
    kind: RowKind,
    /// `call-3`, `value-7`: the id of its detail.
    anchor: String,
    label: String,
    status: Markup,
    start_us: u64,
    took_us: Option<u64>,
    error: bool,
}

fn value_kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Clock => "now()",
        ValueKind::Random => "random()",
        ValueKind::Boundary => "boundary",
        ValueKind::Query => "query",
    }
}

/// The SQL of a recorded query: its input is a postcard-encoded key whose first field
/// is the statement's text.
fn query_sql(value: &NamedValue) -> Option<String> {
    let input = value.input.as_ref()?;
    postcard::take_from_bytes::<String>(input)
        .ok()
        .map(|(sql, _)| sql.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn rows(rec: &Recording) -> Vec<Row> {
    let mut rows: Vec<Row> = rec
        .calls()
        .iter()
        .map(|c| {
            let (status, error) = match c.result.map(|r| &r.outcome) {
                Some(CallOutcome::Response { head, .. }) => {
                    (status_badge(Some(head.status)), head.status >= 500)
                }
                Some(CallOutcome::Error(_)) => {
                    (html! { span.badge.server-error { "error" } }, true)
                }
                None => (html! { span.badge.none { "no answer" } }, false),
            };
            Row {
                kind: RowKind::Call,
                anchor: format!("call-{}", c.call.call_id),
                label: call_label(&c.call.target, &c.call.head.method, &c.call.head.uri),
                status,
                start_us: c.call.at_us,
                took_us: c.result.map(|r| r.duration_us),
                error,
            }
        })
        .collect();
    rows.extend(rec.values().map(|v| {
        let label = match v.kind {
            ValueKind::Query => match query_sql(v) {
                Some(sql) => format!("{} {sql}", v.name),
                None => v.name.clone(),
            },
            ValueKind::Boundary => v.name.clone(),
            kind => value_kind_name(kind).to_owned(),
        };
        Row {
            kind: RowKind::Value(v.kind),
            anchor: format!("value-{}", v.seq),
            label,
            status: html! { span class={ "kind " (v.kind.as_str()) } { (value_kind_name(v.kind)) } },
            start_us: v.at_us,
            took_us: None,
            error: false,
        }
    }));
    rows.sort_by_key(|r| r.start_us);
    rows
}

/// Lanes for calls that overlap: each call takes the first lane free at its start.
fn lanes(rows: &[Row]) -> Vec<(usize, &Row)> {
    let mut lane_ends: Vec<u64> = Vec::new();
    let mut placed = Vec::new();
    for row in rows.iter().filter(|r| r.kind == RowKind::Call) {
        let end = row.start_us + row.took_us.unwrap_or(0).max(1);
        let lane = match lane_ends.iter().position(|&e| e <= row.start_us) {
            Some(free) => {
                lane_ends[free] = end;
                free
            }
            None => {
                lane_ends.push(end);
                lane_ends.len() - 1
            }
        };
        placed.push((lane, row));
    }
    placed
}

/// Thousandths of the timeline: where a bar starts and how wide it is (at least a
/// sliver, so a point in time still shows).
fn extent(start: u64, took: Option<u64>, span: u64) -> (u64, u64) {
    let x = scale(start, span, 1000, false).min(996);
    let width = took.map_or(4, |t| scale(t, span, 1000, true).max(4));
    (x, width.min(1000 - x))
}

fn row_class(row: &Row) -> String {
    let kind = match row.kind {
        RowKind::Call => "call",
        RowKind::Value(k) => k.as_str(),
    };
    if row.error {
        format!("{kind} error")
    } else {
        kind.to_owned()
    }
}

fn waterfall(rec: &Recording, rows: &[Row]) -> Markup {
    let span = rows
        .iter()
        .map(|r| r.start_us + r.took_us.unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(span_us(rec));
    let s = &rec.summary;
    let placed = lanes(rows);
    let lane_count = placed.iter().map(|(l, _)| l + 1).max().unwrap_or(0);
    let request_class = if s.status.is_some_and(|c| c >= 500) || s.failed {
        "request error"
    } else {
        "request"
    };
    html! {
        section.waterfall #waterfall aria-label="Waterfall" {
            h2 { "Waterfall " span.muted { (rows.len()) " crossings over " (duration_us(span)) } }
            ol.bars {
                @if lane_count > 0 {
                    li.bar-row.lanes-row {
                        span.bar-label { "Calls in flight together: " (lane_count) " lane" @if lane_count != 1 { "s" } }
                        svg.lanes viewBox={ "0 0 1000 " (lane_count * 14) } preserveAspectRatio="none"
                            role="img" aria-label={ (lane_count) " lanes of concurrent calls" } {
                            @for (lane, row) in &placed {
                                @let (x, w) = extent(row.start_us, row.took_us, span);
                                rect class=(row_class(row)) x=(x) y=(lane * 14 + 2) width=(w) height="10" {
                                    title { (row.label) }
                                }
                            }
                        }
                    }
                }
                li.bar-row.self {
                    span.bar-label { (s.method) " " (s.uri) " " span.muted { "(this request)" } }
                    span.bar-status { (status_badge(s.status)) }
                    span.bar-time { "+0µs · " (duration(s)) }
                    svg.track viewBox="0 0 1000 12" preserveAspectRatio="none" aria-hidden="true" {
                        @let (x, w) = extent(0, Some(s.duration_us.unwrap_or(span)), span);
                        rect class=(request_class) x=(x) y="1" width=(w) height="10" {}
                    }
                }
                @for row in rows {
                    li.bar-row {
                        a.bar href={ "#" (row.anchor) } data-detail=(row.anchor)
                            data-kind=(row_class(row)) title=(row.label) {
                            span.bar-label { (row.label) }
                            span.bar-status { (row.status) }
                            span.bar-time {
                                "+" (duration_us(row.start_us))
                                @if let Some(t) = row.took_us { " · " (duration_us(t)) }
                            }
                            svg.track viewBox="0 0 1000 12" preserveAspectRatio="none" aria-hidden="true" {
                                @let (x, w) = extent(row.start_us, row.took_us, span);
                                rect class=(row_class(row)) x=(x) y="1" width=(w) height="10" {}
                            }
                        }
                    }
                }
            }
        }
    }
}

fn details(rec: &Recording) -> Markup {
    html! {
        section #details {
            h2 { "Calls and values" }
            @for c in rec.calls() {
                details.detail id={ "call-" (c.call.call_id) } {
                    summary {
                        "#" (c.call.call_id) " " (call_label(&c.call.target, &c.call.head.method, &c.call.head.uri))
                    }
                    div.exchange {
                        div {
                            h3 { "Request" }
                            p { code { (c.call.head.method) " " (c.call.head.uri) } " at +" (duration_us(c.call.at_us)) }
                            (body::headers(&c.call.head.headers, &[]))
                            (body::recorded(c.call.body.data.clone(), &c.call.head.headers, Some(&c.call.body.end)))
                        }
                        div {
                            h3 { "Answer" }
                            @match c.result {
                                Some(r) => {
                                    @match &r.outcome {
                                        CallOutcome::Response { head, body: answer } => {
                                            p { (status_badge(Some(head.status))) " after " (duration_us(r.duration_us)) }
                                            (body::headers(&head.headers, &[]))
                                            (body::recorded(answer.data.clone(), &head.headers, Some(&answer.end)))
                                        }
                                        CallOutcome::Error(e) => {
                                            p.error { "Failed after " (duration_us(r.duration_us)) ": " (e) }
                                        }
                                    }
                                }
                                None => { p.muted { "No answer was recorded." } }
                            }
                        }
                    }
                }
            }
            @for v in rec.values() {
                details.detail id={ "value-" (v.seq) } {
                    summary { "#" (v.seq) " " (value_kind_name(v.kind)) " " (v.name) }
                    dl {
                        dt { "Asked at" } dd { "+" (duration_us(v.at_us)) }
                        @if v.kind == ValueKind::Query {
                            @if let Some(sql) = query_sql(v) { dt { "SQL" } dd { code { (sql) } } }
                        }
                        @if let Some(input) = &v.input {
                            dt { "Input" } dd { (crate::format::bytes(input.len() as u64)) ", postcard-encoded" }
                        }
                        dt { "Value" } dd { (crate::format::bytes(v.value.len() as u64)) ", postcard-encoded" }
                    }
                }
            }
        }
    }
}

fn render(state: &State, info: &RecordingInfo, rec: &Recording) -> Markup {
    let s = &rec.summary;
    let outcome = crate::format::summary::outcome(rec);
    let entry = state.report().and_then(|r| r.entry(s.id));
    let rows = rows(rec);
    let body = html! {
        h1 { (s.method) " " (s.uri) " " (status_badge(s.status)) }
        @if let Some(e) = entry {
            p class={ "replay-banner " (e.verdict.as_str()) } {
                "Replay: " strong { (e.verdict.as_str()) } " — "
                a href={ "/replay/" (s.id) } { "see the recording and the replay side by side" }
            }
        }
        dl.facts {
            dt { "Recording" } dd { code #recording-id { (s.id) } }
            dt { "Service" } dd { (info.session.service()) " (session " (info.session.name) ")" }
            dt { "Started" } dd { (rfc3339_millis(s.started_unix_us)) }
            dt { "Took" } dd { (duration(s)) }
            dt { "Reason" } dd { (reason(s)) }
            dt { "Outcome" } dd { (outcome) }
            @if let Some(trace) = s.trace_id { dt { "Trace" } dd { code { (trace) } } }
            @if !crate::format::summary::flags(s).is_empty() { dt { "Flags" } dd { (page::flags(s)) } }
        }
        (waterfall(rec, &rows))
        div.exchange {
            section #request {
                h2 { "Request" }
                @match rec.request() {
                    Some(head) => {
                        p { code { (head.method) " " (head.uri) " " (head.version) } }
                        (body::headers(&head.headers, &[]))
                        (body::recorded(rec.request_body(), &head.headers, rec.request_end()))
                    }
                    None => { p.muted { "Not recorded." } }
                }
            }
            section #response {
                h2 { "Response" }
                @match rec.response() {
                    Some(head) => {
                        p { (status_badge(Some(head.status))) " " code { (head.version) } }
                        (body::headers(&head.headers, &[]))
                        (body::recorded(rec.response_body(), &head.headers, rec.response_end()))
                    }
                    None => { p.muted { "No response was recorded." } }
                }
            }
        }
        @if !rows.is_empty() { (details(rec)) }
    };
    page::layout(
        state,
        Section::Recordings,
        &format!("{} {}", s.method, s.path()),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_sit_on_the_timeline_in_thousandths() {
        assert_eq!(extent(0, Some(1000), 1000), (0, 1000));
        assert_eq!(extent(250, Some(500), 1000), (250, 500));
        assert_eq!(extent(500, None, 1000), (500, 4), "a point still shows");
        assert_eq!(
            extent(2000, Some(10), 1000),
            (996, 4),
            "past the end: at the end"
        );
        assert_eq!(
            extent(u64::MAX / 2, Some(u64::MAX), u64::MAX),
            (499, 501),
            "times near u64::MAX do not overflow"
        );
    }

    #[test]
    fn overlapping_calls_take_parallel_lanes() {
        let row = |start, took| Row {
            kind: RowKind::Call,
            anchor: String::new(),
            label: String::new(),
            status: html! {},
            start_us: start,
            took_us: Some(took),
            error: false,
        };
        let rows = [row(0, 100), row(10, 100), row(20, 100), row(150, 10)];
        let lanes: Vec<usize> = lanes(&rows).into_iter().map(|(l, _)| l).collect();
        assert_eq!(lanes, [0, 1, 2, 0]);
    }
}
